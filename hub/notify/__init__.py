"""Notifications: webhooks and ntfy topics told when a print ends or a bed needs clearing.

Owns the ``notify_targets`` and ``notify_sent`` tables and sending. Reads the live state;
writes nothing else but the audit rows of its settings' changes.
"""
