"""Notifications: webhooks and ntfy topics told when a print ends or a bed needs clearing.

Owns the notification settings and sending; reads the live state, changes nothing else.
"""
