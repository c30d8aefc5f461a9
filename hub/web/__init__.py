"""The hub's pages and documents: the app and login pages, error pages for browsers,
OpenAPI, health.

Owns the static files in ``page/`` and how a refusal is shown to a browser. Holds no
state of its own.
"""
