"""The cable between host and board: bytes at baud pace both ways, and the USB adapter's latency.

It knows nothing of lines or commands. The host's bytes wait here until the
board's loop takes them (``next_piece``); the board's bytes wait here until
the host may read them (``arrived``).
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass

from instance.sim.ticks import EPSILON

EOL = re.compile(rb"[\r\n]")
# An FTDI chip sends its buffer without waiting once a USB packet (64 bytes, 2 of status) fills.
_USB_PACKET = 62


@dataclass(slots=True)
class _Chunk:
    """Bytes the host wrote; byte i reaches the receive buffer at start + (i+1) * byte_time."""

    start: float
    data: bytes
    offset: int = 0


class SerialWire:
    """Both directions of one serial link, with explicit times.

    ``byte_time`` is the seconds one byte occupies the wire (0: no pacing);
    ``latency`` delays what the board sends, or, with ``latency_timer``, holds
    it until an FTDI-style timer ticks or a USB packet fills.
    """

    def __init__(self, byte_time: float, latency: float, latency_timer: bool, now: float) -> None:
        self.byte_time = byte_time
        self._latency = latency
        self._latency_timer = latency_timer
        self._inbound: deque[_Chunk] = deque()
        self._in_wire_free = now
        self._outbound: deque[tuple[float, bytes]] = deque()
        self.out_wire_free = now  # when the board's last byte has left its UART
        self._out_last = now
        self._usb_tick = -1.0
        self._usb_pending = 0

    # ----- host to board -----

    def write(self, data: bytes, now: float, stall_until: float) -> None:
        """Bytes the host wrote at ``now`` (held back while the board stalls the link)."""
        start = max(now, self._in_wire_free, stall_until)
        self._inbound.append(_Chunk(start, bytes(data)))
        self._in_wire_free = start + len(data) * self.byte_time

    @property
    def carrying(self) -> bool:
        """Whether host bytes are still on their way to the board."""
        return bool(self._inbound)

    def next_eol_arrival(self) -> float:
        """When the next end of line the host wrote reaches the board; inf: none is on the way."""
        for chunk in self._inbound:
            match = EOL.search(chunk.data, chunk.offset)
            if match is not None:
                return chunk.start + (match.start() + 1) * self.byte_time
        return math.inf

    def next_piece(self, limit: float) -> tuple[bytes, float] | None:
        """Arrived bytes up to the next end of line (included), and when the last one came.

        Only bytes that have arrived by ``limit`` count; None: none (more) have.
        """
        chunk = self._inbound[0]
        if chunk.start > limit + EPSILON:
            return None
        if self.byte_time > 0:
            arrived = min(len(chunk.data), int((limit - chunk.start) / self.byte_time + 1e-6))
        else:
            arrived = len(chunk.data)
        if arrived <= chunk.offset:
            return None
        match = EOL.search(chunk.data, chunk.offset, arrived)
        end = match.end() if match is not None else arrived
        segment = chunk.data[chunk.offset : end]
        chunk.offset = end
        if chunk.offset >= len(chunk.data):
            self._inbound.popleft()
        return segment, chunk.start + end * self.byte_time

    # ----- board to host -----

    def arrived(self, now: float) -> bytes:
        """What the board sent that has reached the host by ``now``."""
        out = bytearray()
        outbound = self._outbound
        while outbound and outbound[0][0] <= now + EPSILON:
            out += outbound.popleft()[1]
        return bytes(out)

    def next_arrival(self) -> float | None:
        """When the host next receives bytes; None: nothing is on the way."""
        return self._outbound[0][0] if self._outbound else None

    def send(self, data: bytes, clock: float, extra_delay: float) -> None:
        """The board writes ``data`` at ``clock``; it reaches the host ``extra_delay`` later."""
        start = max(clock, self.out_wire_free)
        done = start + len(data) * self.byte_time
        self.out_wire_free = done
        latency = self._latency
        if self._latency_timer and latency > 0:
            deliver = self._timer_release(done, len(data)) + extra_delay
        else:
            deliver = done + latency + extra_delay
        deliver = max(deliver, self._out_last)
        self._out_last = deliver
        if self._outbound and self._outbound[-1][0] == deliver:
            self._outbound[-1] = (deliver, self._outbound[-1][1] + data)
        else:
            self._outbound.append((deliver, data))

    def _timer_release(self, done: float, size: int) -> float:
        """When an FTDI-style adapter hands bytes complete at ``done`` to the host."""
        latency = self._latency
        tick = math.ceil(done / latency) * latency
        if tick != self._usb_tick:
            self._usb_tick = tick
            self._usb_pending = 0
        self._usb_pending += size
        if self._usb_pending >= _USB_PACKET:
            # A full packet leaves without waiting for the timer, with what waited before it.
            self._usb_pending = 0
            outbound = self._outbound
            for index in range(len(outbound) - 1, -1, -1):
                if outbound[index][0] != tick:
                    break
                outbound[index] = (done, outbound[index][1])
            if self._out_last == tick:
                self._out_last = done
            return done
        return tick
