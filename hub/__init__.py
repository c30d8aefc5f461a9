"""The fabfleet hub (``fabfleet-hub``): one login for the fleet, the dashboard, the fleet
queue, history and notifications.

In parts: ``auth`` (who may do what, the gate), ``fleet`` (the print servers as the hub
sees them), ``queue``, ``records`` (history, audit), ``notify`` and ``web`` (pages,
refusals, OpenAPI); the core modules here run it (``app``, ``config``, ``context``,
``db``, ``errors``, ``bodies``, ``server``, ``cli``). Code outside the hub uses
:mod:`hub.door` and nothing else. It talks to print servers over their HTTP API only
and never imports ``instance`` code (docs/hub.md, docs/architecture.md).
"""
