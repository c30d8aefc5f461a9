"""After a resend request: what the firmware did with the lines on the wire, by counting.

A firmware that rejects a line (bad checksum, wrong number) asks for it again
and, depending on the firmware, follows the request with an ``ok`` or not.
Marlin also drains its receive buffer, so the lines behind the bad one are
lost, and a line cut by the drain arrives as a *tail*: a line without its
``N``, which Marlin 2 runs as it is (``G1 X…*55``) or answers with
``Unknown command`` — each with an ``ok`` of its own.

Plain ``ok`` lines carry no line number, so which ``ok`` answers what can
only be told by counting once everything on the wire has been dealt with.
The host therefore stops sending at the first request, waits until the link
is quiet, and sends one unnumbered ``M105`` (the *probe*). The firmware runs
commands in order, so when the probe's ``ok T:…`` comes back every line
written before it has been answered, and the ``ok`` lines counted meanwhile
are exactly:

    lines before the rejected one still in flight   (known: ``kept``)
  + one per resend request, if this firmware sends an ok after a request
  + one per tail the firmware ran or refused          (unknown)

A request with nothing behind it on the wire and nothing before it in flight
("clean") has no tails, so it tells whether this firmware sends an ``ok``
after a resend request; that is learned from the link itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Recovery:
    """One resend request (and the repeats it draws) being sorted out."""

    target: int
    kept: int
    kept_m105: int
    clean: bool
    started: float
    last_reply: float
    wire_seconds: float
    candidates: tuple[str, ...]
    stale: int = 0
    requests: int = 1
    oks: int = 0
    temperature_oks: int = 0
    unknown: list[str] = field(default_factory=list)
    probes: int = 0
    probe_sent_at: float | None = None
    last_ok_at: float | None = None
    # An ``Error:`` line came with the request: the firmware refused a line (and, if it
    # drains, cut what was behind it). A request without one refused nothing.
    refused: bool = False

    def settle_deadline(self, settle: float) -> float:
        """When the link is quiet enough to send the probe."""
        return max(self.last_reply + settle, self.started + self.wire_seconds + settle)

    def plain_answer_deadline(self, settle: float) -> float | None:
        """When the last ok after the probe can be taken for its answer.

        Some firmware answers M105 with a plain ok (temperatures on a line of their
        own, or on every ok alike). The probe's answer is then the last ok once the
        link has been quiet after it; on firmware whose ok carries the temperatures
        the real answer has long come by then.
        """
        sent, last = self.probe_sent_at, self.last_ok_at
        if sent is None or last is None or last < sent:
            return None
        return self.last_reply + settle


@dataclass(frozen=True, slots=True)
class Accounting:
    """What the counted ``ok`` lines say once the probe has answered."""

    tails: int
    ok_after_resend: bool | None
    learned: bool
    # Lines behind the request that the firmware took after all (a request that
    # refused nothing): their oks are among those counted, they must not go again.
    taken: int = 0


def account(recovery: Recovery, ok_after_resend: bool | None) -> Accounting:
    """Split the ``ok`` lines counted during ``recovery`` into kept lines, requests and tails.

    ``ok_after_resend`` is what is known of the firmware so far (None: not yet
    known, assumed True as Marlin, Prusa and Repetier do).
    """
    extra = recovery.oks - recovery.kept
    requests = recovery.requests
    if not recovery.refused and not recovery.unknown:
        # Nothing was refused, so nothing was drained: lines behind the request were
        # taken as usual and their oks are among these. No tail, nothing to learn.
        assumed = True if ok_after_resend is None else ok_after_resend
        taken = extra - (requests if assumed else 0)
        return Accounting(0, ok_after_resend, False, max(0, min(taken, recovery.stale)))
    if recovery.clean:
        # Nothing could have been cut: every extra ok answers a request.
        if extra == 0:
            return Accounting(0, False, ok_after_resend is not False)
        if extra == requests:
            return Accounting(0, True, ok_after_resend is not True)
        return Accounting(0, ok_after_resend, False)
    assumed = True if ok_after_resend is None else ok_after_resend
    tails = extra - (requests if assumed else 0)
    learned_value = ok_after_resend
    if tails < 0 and assumed:
        # Fewer oks than requests: this firmware does not answer a request with ok.
        learned_value = False
        tails = extra
    tails = max(tails, len(recovery.unknown), 0)
    return Accounting(tails, learned_value, learned_value != ok_after_resend)
