"""Checking a parsed fleet file against the model, turning every failure into a Problem."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from orchestrator.fleet.maintenance import task_problems
from orchestrator.fleet.marked_yaml import MarkedYaml
from orchestrator.fleet.model import (
    IDENTITY_FIELDS,
    Camera,
    Conflict,
    Fleet,
    Printer,
    find_conflicts,
    unknown_materials,
)
from orchestrator.fleet.problems import FieldPath, FleetFileError, Problem, spell_path

M = TypeVar("M", bound=BaseModel)


def check_fleet(marked: MarkedYaml, source: str) -> Fleet:
    """The fleet in ``marked``, or FleetFileError listing every problem found in it."""
    problems = [
        Problem(source, line, spell_path(path), message) for path, line, message in marked.problems
    ]
    data = {} if marked.data is None else marked.data
    if not isinstance(data, dict):
        problems.append(
            Problem(
                source,
                marked.line_of(()),
                "",
                "a fleet file is a mapping with site, printers, cameras",
            )
        )
        raise FleetFileError(problems)
    fleet: Fleet | None = None
    try:
        fleet = Fleet.model_validate(data)
    except ValidationError as error:
        for details in error.errors():
            path = tuple(details["loc"])
            problems.append(
                Problem(source, marked.line_of(path), spell_path(path), explain(details))
            )
    printers, cameras = _valid_entries(fleet, data)
    raw_cameras = data.get("cameras")
    camera_names = [
        c["name"]
        for c in (raw_cameras if isinstance(raw_cameras, list) else [])
        if isinstance(c, dict) and isinstance(c.get("name"), str)
    ]
    conflicts = find_conflicts(printers, cameras, camera_names)
    conflicts += [] if fleet is None else unknown_materials(fleet)
    if fleet is not None:
        entries = [(p.name, list(p.groups), list(p.maintenance)) for p in fleet.printers]
        problems_found = task_problems(fleet.site.maintenance, entries)
        conflicts += [Conflict(path, message) for path, message in problems_found]
    for conflict in conflicts:
        message = conflict.message
        if conflict.other is not None:
            message += f" (line {marked.line_of(conflict.other)})"
        problems.append(
            Problem(source, marked.line_of(conflict.path), spell_path(conflict.path), message)
        )
    if problems or fleet is None:
        raise FleetFileError(sorted(problems, key=lambda p: p.line or 0))
    return fleet


def _valid_entries(
    fleet: Fleet | None, data: dict[Any, Any]
) -> tuple[list[tuple[int, Printer]], list[tuple[int, Camera]]]:
    """Entries valid on their own, so cross-checks still run when another entry is broken."""
    if fleet is not None:
        return list(enumerate(fleet.printers)), list(enumerate(fleet.cameras))
    return _valid_items(data.get("printers"), Printer), _valid_items(data.get("cameras"), Camera)


def _valid_items(raw: object, model: type[M]) -> list[tuple[int, M]]:
    if not isinstance(raw, list):
        return []
    valid: list[tuple[int, M]] = []
    for index, item in enumerate(raw):
        try:
            valid.append((index, model.model_validate(item)))
        except ValidationError as error:
            # Without its broken optional keys the entry may still take part in the
            # cross-checks, so one run reports its clashes too.
            if not isinstance(item, dict):
                continue
            broken = {e["loc"][0] for e in error.errors() if e["loc"]}
            if broken & set(IDENTITY_FIELDS):
                continue  # dropping it would add a false "no identity" to the real problem
            try:
                salvaged = model.model_validate({k: v for k, v in item.items() if k not in broken})
            except ValidationError:
                continue
            valid.append((index, salvaged))
    return valid


def explain(details: ErrorDetails) -> str:
    """Say what is wrong in the fleet file's terms, and how to fix it."""
    kind = details["type"]
    value = details["input"]
    ctx = details.get("ctx", {})
    loc = tuple(details["loc"])
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(loc[:-1])
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        if close:
            return f"unknown key '{key}'; did you mean '{close[0]}'?"
        return f"unknown key '{key}'; known keys here: {', '.join(allowed)}"
    if kind == "missing":
        return f"'{loc[-1]}' is required here"
    if kind == "literal_error":
        return f"{value!r} is not allowed; use one of {ctx.get('expected', '')}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = {"greater_than_equal": "at least", "greater_than": "more than"}.get(
            kind, "at most" if kind == "less_than_equal" else "less than"
        )
        limit = next(iter(ctx.values()), "")
        return f"{value!r} is out of range; use {bound} {limit}"
    if kind in ("int_type", "int_from_float", "int_parsing"):
        return f"{_show(value)} is not a whole number; write it without quotes"
    if kind in ("float_type", "float_parsing"):
        return f"{_show(value)} is not a number; write it without quotes"
    if kind == "bool_type":
        return f"{_show(value)} is not true or false"
    if kind == "string_type":
        return f"{_show(value)} is not text; put it in quotes"
    if kind == "list_type":
        return f"{_show(value)} is not a list; write one '- ' item per line"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{_show(value)} is not a mapping; write 'key: value' lines under it"
    if kind.startswith("fleet_"):
        return details["msg"]
    return f"{details['msg']} (got {_show(value)})"


def _show(value: object) -> str:
    if isinstance(value, str):
        return f"'{value}' (text)"
    if value is None:
        return "nothing"
    return repr(value)


def _allowed_keys(loc: FieldPath) -> list[str]:
    """The keys the model accepts at ``loc``, found by walking the model's annotations."""
    current: Any = Fleet
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = current.model_fields.get(part)
        if field is None:
            return []
        current = _model_in(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    """The model class inside ``list[X]`` or ``X | None``, or the annotation itself."""
    origin = typing.get_origin(annotation)
    if origin is list or origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                return _model_in(arg)
    return annotation
