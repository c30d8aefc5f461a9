"""The fleet soak: N simulated printers in the real Docker stack, the fleet queue feeding them,
faults drawn from a seeded RNG, and every job checked at the end (docs/soak.md).

Used by ``bench/fleet_soak.py`` (the long runs) and ``tests/images/test_fleet_soak.py`` (the
short one in CI). Modules: ``jobs`` (the files printed), ``plan`` (the seeded fault plan, no
I/O), ``stack`` (the fleet file, `fabfleet up`, Docker), ``faults`` (doing each fault),
``operator`` (the scripted person at the dashboard), ``watch`` (the dashboard's WebSocket),
``checks`` (the end checks, no I/O), ``report`` (JSON and markdown), ``run`` (all of it).
"""
