"""Which videos go: the oldest, past a printer's limit of videos or of megabytes. No I/O."""

from __future__ import annotations

MB = 1024 * 1024


def to_delete(videos: list[tuple[int, int]], keep_videos: int, keep_mb: int) -> list[int]:
    """The job ids whose videos to delete; ``videos`` are (job id, bytes), oldest first.

    The newest are kept while both limits hold (0: no limit); the newest video is always
    kept, even when it alone is larger than ``keep_mb``.
    """
    kept = 0
    total = 0
    deleting: list[int] = []
    for job_id, size in reversed(videos):
        over_count = keep_videos > 0 and kept >= keep_videos
        over_size = keep_mb > 0 and kept > 0 and total + size > keep_mb * MB
        if deleting or over_count or over_size:
            # Past the limit: this one and every older one go.
            deleting.append(job_id)
        else:
            kept += 1
            total += size
    return sorted(deleting)


def limit_text(keep_videos: int, keep_mb: int) -> str:
    """The limit as a note says it: "10 videos", "500 MB", "10 videos or 500 MB"."""
    parts = []
    if keep_videos > 0:
        parts.append(f"{keep_videos} video{'s' if keep_videos != 1 else ''}")
    if keep_mb > 0:
        parts.append(f"{keep_mb} MB")
    return " or ".join(parts) or "no limit"
