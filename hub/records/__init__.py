"""What happened: the fleet's job history and the audit log, and their HTTP API.

Owns the ``history`` and ``audit`` tables. Other parts write an audit row through
:func:`hub.records.audit.record`; nothing else writes these tables.
"""
