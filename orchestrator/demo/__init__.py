"""The local runtime of ``fabfleet demo``: simulated printers, the hub and nginx as
processes on 127.0.0.1.

Owns starting and stopping those processes. Uses the hub only through :mod:`hub.door`;
needs no Docker, no root and no udev.
"""
