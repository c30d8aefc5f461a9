"""Who may see and who may act on which printer: roles and grants, no I/O.

Roles: ``admin`` (everything, users included), ``operator`` (watch and act on
the printers granted), ``viewer`` (watch the printers granted). A grant names a
printer, a group of printers, or every printer (``*``). An operator or viewer
with no grant sees nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from hub.fleet.roster import FleetPrinter

Role = Literal["admin", "operator", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "operator", "viewer")
EVERY_PRINTER = "*"


@dataclass(frozen=True, slots=True)
class Grants:
    printers: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    @property
    def everything(self) -> bool:
        return EVERY_PRINTER in self.printers

    def cover(self, printer: FleetPrinter) -> bool:
        return (
            self.everything
            or printer.name in self.printers
            or any(group in self.groups for group in printer.groups)
        )


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    grants: Grants = field(default_factory=Grants)

    @property
    def admin(self) -> bool:
        return self.role == "admin"


def may_view(user: User, printer: FleetPrinter) -> bool:
    return user.admin or user.grants.cover(printer)


def may_act(user: User, printer: FleetPrinter) -> bool:
    return user.admin or (user.role == "operator" and user.grants.cover(printer))


def may_view_camera(user: User, camera: str, printers: tuple[FleetPrinter, ...]) -> bool:
    """A camera is watched by whoever may watch a printer it shows; a camera of no
    printer only by an admin or a user granted every printer."""
    if user.admin or user.grants.everything:
        return True
    return any(p.camera == camera and may_view(user, p) for p in printers)
