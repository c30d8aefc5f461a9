"""When a frame is due: at the first acknowledged line of each layer, or every N seconds.

No I/O: the capture feeds acknowledged byte offsets and clock readings in.
"""

from __future__ import annotations

from bisect import bisect_left

from instance.analysis.toolpath import LayerIndex


class LayerFrames:
    """Frames at layer changes, from the file's layer index and the bytes acknowledged.

    A layer is under way once the printer acknowledged its first line (the same rule as
    :meth:`LayerIndex.at`); one frame is due per layer begun, never two for one layer, and
    a layer reached before the index was known gets no frame of its own.
    """

    __slots__ = ("_index", "_next", "layer")

    def __init__(self, index: LayerIndex) -> None:
        self._index = index
        self.layer = 0
        self._next = index.offsets[0] if index.offsets else None

    @property
    def empty(self) -> bool:
        """The file has no layers (nothing extruded): no frame will ever be due."""
        return not self._index.offsets

    def acknowledged(self, bytes_done: int) -> int | None:
        """The layer whose frame is due now that ``bytes_done`` bytes are acknowledged."""
        following = self._next
        if following is None or bytes_done <= following:
            return None  # the common case: one comparison per line
        offsets = self._index.offsets
        layer = bisect_left(offsets, bytes_done)
        self.layer = layer
        self._next = offsets[layer] if layer < len(offsets) else None
        return layer


class IntervalFrames:
    """A frame every ``interval`` seconds of the job, the first at its start."""

    __slots__ = ("_due", "interval")

    def __init__(self, interval: float, start: float) -> None:
        if not interval > 0:
            raise ValueError("the interval must be a positive number of seconds")
        self.interval = interval
        self._due = start

    def due(self, now: float) -> bool:
        """Whether a frame is due at ``now``; a late check takes one frame, not a burst."""
        if now < self._due:
            return False
        missed = int((now - self._due) // self.interval)
        self._due += (missed + 1) * self.interval
        return True

    def wait(self, now: float) -> float:
        """Seconds until the next frame is due."""
        return max(0.0, self._due - now)
