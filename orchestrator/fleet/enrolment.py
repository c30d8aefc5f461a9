"""Enrolling and removing printers and cameras: each edit returns a new Fleet or is refused."""

from __future__ import annotations

from pydantic import ValidationError

from orchestrator.fleet.check import explain
from orchestrator.fleet.model import Camera, Fleet, Printer, find_conflicts
from orchestrator.fleet.problems import spell_path


class EnrolmentRefused(Exception):
    """An edit that would break the fleet; the message says why, in one line."""


def build_printer(fields: dict[str, object]) -> Printer:
    """A Printer from command-line values, refused with the first reason it is invalid."""
    try:
        return Printer.model_validate(fields)
    except ValidationError as error:
        raise EnrolmentRefused(_first(error)) from None


def build_camera(fields: dict[str, object]) -> Camera:
    """A Camera from command-line values, refused with the first reason it is invalid."""
    try:
        return Camera.model_validate(fields)
    except ValidationError as error:
        raise EnrolmentRefused(_first(error)) from None


def add_printer(fleet: Fleet, printer: Printer) -> Fleet:
    """``fleet`` with ``printer`` enrolled last."""
    printers = [*fleet.printers, printer]
    _refuse_conflicts(printers, list(fleet.cameras), ("printers", len(printers) - 1))
    return fleet.model_copy(update={"printers": printers})


def add_camera(fleet: Fleet, camera: Camera) -> Fleet:
    """``fleet`` with ``camera`` enrolled last."""
    cameras = [*fleet.cameras, camera]
    _refuse_conflicts(list(fleet.printers), cameras, ("cameras", len(cameras) - 1))
    return fleet.model_copy(update={"cameras": cameras})


def remove_printer(fleet: Fleet, name: str) -> Fleet:
    """``fleet`` without the printer ``name``."""
    if all(p.name != name for p in fleet.printers):
        raise EnrolmentRefused(f"no printer named '{name}'")
    return fleet.model_copy(update={"printers": [p for p in fleet.printers if p.name != name]})


def remove_camera(fleet: Fleet, name: str) -> Fleet:
    """``fleet`` without the camera ``name``; refused while a printer shows it."""
    if all(c.name != name for c in fleet.cameras):
        raise EnrolmentRefused(f"no camera named '{name}'")
    users = [p.name for p in fleet.printers if p.camera == name]
    if users:
        raise EnrolmentRefused(
            f"camera '{name}' is linked to printer '{users[0]}'; unlink it in the fleet file "
            f"or remove the printer first"
        )
    return fleet.model_copy(update={"cameras": [c for c in fleet.cameras if c.name != name]})


def _refuse_conflicts(printers: list[Printer], cameras: list[Camera], new: tuple[str, int]) -> None:
    # Checked last, the new entry is the one every clash it causes is reported on.
    found = find_conflicts(list(enumerate(printers)), list(enumerate(cameras)), last=new)
    for conflict in found:
        if conflict.path[:2] == new:
            raise EnrolmentRefused(conflict.message)


def _first(error: ValidationError) -> str:
    details = error.errors()[0]
    where = spell_path(tuple(details["loc"]))
    return f"{where}: {explain(details)}" if where else explain(details)
