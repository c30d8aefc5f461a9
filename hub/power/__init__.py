"""Power devices of printers and cameras: smart plugs, relays, GPIO lines (docs/power.md).

One module per device type (each an async driver with ``state()`` and ``switch(on)``),
:mod:`hub.power.guard` (may a printer be switched off now? pure), :mod:`hub.power.service`
(the hub's ``POWER`` service: cached states, the auto-off loop, ``ensure_on``) and
:mod:`hub.power.api` (the web API).
"""
