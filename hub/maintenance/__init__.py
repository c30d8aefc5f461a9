"""Maintenance: service tasks per printer (from fleet.json), counted from each print
server's lifetime counters, due and overdue, marked done; its API, page and /metrics.

Owns the ``maintenance_done`` and ``maintenance_start`` tables. Reaches printers only
through :mod:`hub.fleet` (their live state and the hub's calls to their API); writes
nothing else but the audit rows of tasks marked done.
"""
