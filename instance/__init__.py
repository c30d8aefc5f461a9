"""fabfleet-instance: the print server for one printer."""
