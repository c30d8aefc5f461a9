"""Spoolman's answers as the hub reads them, and the arithmetic of filament: no I/O.

Built to Spoolman 0.26.1's own OpenAPI document (tests/fixtures/spoolman/openapi.json,
``Spool``, ``Filament``, ``Vendor``, ``Message``, ``HTTPValidationError``). A spool's
``remaining_weight`` is only known when its filament type has a net weight set: it may be
null, and then the hub says "unknown", never "enough".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Longest text kept from Spoolman (names, messages): it is trusted, not blindly.
MAX_TEXT = 200


class SpoolmanError(Exception):
    """Spoolman could not be asked, or refused: ``str()`` is a sentence for the user.

    ``kind``: ``down`` (no answer, timeout), ``missing`` (404: no such spool),
    ``refused`` (400/422: Spoolman would not take what was sent), ``nonsense`` (an answer
    that does not follow Spoolman's API).
    """

    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class Filament:
    id: int
    name: str | None
    vendor: str | None
    material: str | None
    # g/cm³ and mm, both > 0 (Spoolman requires them).
    density: float
    diameter: float


@dataclass(frozen=True, slots=True)
class Spool:
    id: int
    filament: Filament
    # Grams left on the spool; None when Spoolman does not know (no filament weight set).
    remaining_weight: float | None
    used_weight: float
    archived: bool
    location: str | None = None

    @property
    def name(self) -> str:
        return spool_name(self.id, self.filament.vendor, self.filament.name)

    @property
    def material(self) -> str | None:
        return self.filament.material.upper() if self.filament.material else None


def spool_name(spool_id: int, vendor: str | None, filament: str | None) -> str:
    """How a spool is called on the page: "Prusament PLA Galaxy Black #12"."""
    words = [w for w in (vendor, filament) if w]
    return " ".join([*words, f"#{spool_id}"])


def filament_grams(filament_mm: float, density: float, diameter: float) -> float:
    """The weight of ``filament_mm`` of filament of ``diameter`` mm and ``density`` g/cm³:
    π·(d/2)²·L·density with d and L in cm."""
    radius_cm = diameter / 20.0
    return math.pi * radius_cm * radius_cm * (filament_mm / 10.0) * density


def _nonsense(what: str) -> SpoolmanError:
    return SpoolmanError("nonsense", f"Spoolman answered nonsense ({what})")


def _text(value: Any) -> str | None:
    return value[:MAX_TEXT] if isinstance(value, str) else None


def _id(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**62:
        raise _nonsense(f"{what} is not an id: {str(value)[:40]!r}")
    return value


def _number(value: Any, what: str, *, positive: bool = False, nullable: bool = False) -> Any:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _nonsense(f"{what} is not a number: {str(value)[:40]!r}")
    if positive and value <= 0:
        raise _nonsense(f"{what} must be above 0, not {value}")
    return float(value)


def parse_filament(raw: Any) -> Filament:
    if not isinstance(raw, dict):
        raise _nonsense("a spool without its filament")
    vendor = raw.get("vendor")
    return Filament(
        id=_id(raw.get("id"), "filament.id"),
        name=_text(raw.get("name")),
        vendor=_text(vendor.get("name")) if isinstance(vendor, dict) else None,
        material=_text(raw.get("material")),
        density=_number(raw.get("density"), "filament.density", positive=True),
        diameter=_number(raw.get("diameter"), "filament.diameter", positive=True),
    )


def parse_spool(raw: Any) -> Spool:
    """One ``Spool`` object; SpoolmanError (nonsense) says what is missing or wrong."""
    if not isinstance(raw, dict):
        raise _nonsense(f"a spool that is not an object: {str(raw)[:60]!r}")
    archived = raw.get("archived")
    if not isinstance(archived, bool):
        raise _nonsense("spool.archived is not true or false")
    spool_id = _id(raw.get("id"), "spool.id")
    remaining = _number(raw.get("remaining_weight"), "spool.remaining_weight", nullable=True)
    return Spool(
        id=spool_id,
        filament=parse_filament(raw.get("filament")),
        remaining_weight=remaining,
        used_weight=_number(raw.get("used_weight"), "spool.used_weight"),
        archived=archived,
        location=_text(raw.get("location")),
    )


def parse_spools(raw: Any) -> list[Spool]:
    if not isinstance(raw, list):
        raise _nonsense("a list of spools was expected")
    return [parse_spool(item) for item in raw]


def message_of(body: Any) -> str | None:
    """Spoolman's ``Message`` (``{"message": …}``), if the body is one."""
    said = body.get("message") if isinstance(body, dict) else None
    return said[:MAX_TEXT] if isinstance(said, str) else None


def validation_summary(body: Any) -> str:
    """A FastAPI ``HTTPValidationError`` (``{"detail": [{"loc", "msg", "type"}…]}``) in
    one line: ``body.use_weight: Input should be a valid number``."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if not isinstance(detail, list) or not detail:
        return message_of(body) or "no reason given"
    said: list[str] = []
    for item in detail[:3]:
        if not isinstance(item, dict):
            continue
        loc = item.get("loc")
        where = ".".join(str(p) for p in loc) if isinstance(loc, list) else ""
        msg = item.get("msg") if isinstance(item.get("msg"), str) else "invalid"
        said.append(f"{where}: {msg}" if where else str(msg))
    if len(detail) > 3:
        said.append(f"and {len(detail) - 3} more")
    return "; ".join(said)[:MAX_TEXT] or "no reason given"


# Waiting before the next try of an unsent report: doubling from FIRST_RETRY, at most
# LONGEST_RETRY (seconds); never given up while Spoolman only does not answer.
FIRST_RETRY = 2.0
LONGEST_RETRY = 60.0


def retry_delay(tries: int) -> float:
    """Seconds before try ``tries + 1`` of a report whose ``tries`` tries all failed."""
    return min(LONGEST_RETRY, FIRST_RETRY * 2.0 ** max(0, min(tries, 30) - 1))


def report_outcome(kind: str) -> str:
    """A report's next state after a failed try: ``gone`` (no such spool: never again),
    ``failed`` (Spoolman refused it: never again, the message says why), ``pending``
    (no answer or a nonsense one: tried again later)."""
    return {"missing": "gone", "refused": "failed"}.get(kind, "pending")
