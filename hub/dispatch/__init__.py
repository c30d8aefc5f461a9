"""The one check before every dispatch: the fleet queue's, a slicer's upload-and-print's and
the Print button's (docs/dispatch-check.md)."""
