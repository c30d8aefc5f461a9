"""Spoolman integration: the spool loaded in each printer and the filament each job used
(docs/spools.md)."""
