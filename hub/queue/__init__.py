"""The fleet queue: submitted files and entries, matching jobs to printers, why a job
waits, the dispatcher.

Owns the ``queue`` table and the queued files on disk. Reaches printers only through
:mod:`hub.fleet`.
"""
