"""`fabfleet backup` and `fabfleet restore`: one archive of a fleet's data and keys.

The archive (a gzipped tar, 0600) holds the fleet file, the state directory's secrets, the
hub's data (its database copied with SQLite's online backup) and every printer's data
volume (job records through the same online backup, files, their analyses, timelapses),
and a manifest with each member's SHA-256 (``manifest.py``). Writing it is atomic
(``archive.py``); ``backup.py`` gathers the pieces, ``restore.py`` checks everything before
it writes anything and puts each piece back with its owner and mode. Every call to Docker
is in :mod:`orchestrator.stack.volumes`. docs/backup.md says how to use them.
"""
