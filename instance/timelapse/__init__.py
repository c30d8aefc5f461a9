"""Timelapses: a camera frame at each layer change (or every N seconds) of a job, and an MP4
assembled by ffmpeg after it, kept with the job's record (docs/timelapse.md).

``due`` (when a frame is due) and ``notes`` (what the record says) do no I/O; ``camera``
fetches snapshots, ``capture`` runs beside a job's feed loop, ``assemble`` runs ffmpeg,
``retention`` deletes the oldest videos, ``service`` ties them to the printer.
"""
