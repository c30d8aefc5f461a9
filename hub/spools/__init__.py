"""Spools: the Spoolman spool loaded in each printer and the filament each ended job used
(docs/spools.md).

Owns the ``spool_assignments``, ``spool_loads``, ``spool_reports`` and ``spool_report_mark``
tables and every call to Spoolman. Reads ``job_archive`` (hub/records/history.py) without
writing it; writes nothing else but the audit rows of loads.
"""
