"""The fleet as the hub sees it: the roster from ``fleet.json``, live state, calling print
servers' API, the dashboard's API and stream, fleet actions.

Owns following every print server (one watcher each) and calling their HTTP API with a
signed identity. Never imports instance code: it speaks to print servers over HTTP only.
"""
