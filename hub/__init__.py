"""The fabfleet hub: one login for the fleet, the dashboard, the fleet queue.

It talks to print servers over their HTTP API only and never imports
``instance`` code (docs/hub.md).
"""
