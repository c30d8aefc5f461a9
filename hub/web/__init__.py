"""The hub's pages and documents: the app and login pages, refusals as JSON or as pages for
browsers, OpenAPI, health.

Owns the static files in ``page/`` and how a refusal is shown. Holds no state of its own.
"""
