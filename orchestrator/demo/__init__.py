"""The local runtime of ``fabfleet demo``: simulated printers, the hub and nginx as
processes on 127.0.0.1.

Owns starting, watching and stopping those processes. Renders nginx's config and the
hub's fleet with the rendering part and takes the keys from the stack part's secrets,
as the Docker stack does; uses the hub only through :mod:`hub.door`. Needs no Docker,
no root and no udev, and may not touch them.
"""
