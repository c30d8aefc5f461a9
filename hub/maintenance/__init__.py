"""Service tasks per printer, counted from each print server's counters (docs/maintenance.md)."""
