"""The fleet queue: submitted files and entries, what the hub reads from a file, matching
jobs to printers, why a job waits, the dispatcher, and its HTTP API.

Owns the ``queue`` table and the queued files on disk. Reaches printers only through
:mod:`hub.fleet` (their live state and the hub's calls to their API).
"""
