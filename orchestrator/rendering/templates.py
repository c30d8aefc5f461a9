"""The jinja2 environment every template view renders with: strict, from the shipped templates."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import jinja2

from orchestrator.shipped import shipped

_WORD = re.compile(r"^[a-z]+$")


def _quoted(value: object) -> str:
    # A JSON string is a valid YAML double-quoted scalar, whatever it contains.
    return json.dumps(str(value))


def _word(value: object) -> str:
    # A plain lowercase word as it is; anything else quoted (YAML flow lists).
    text = str(value)
    return text if _WORD.match(text) else _quoted(text)


def _bracketed(address: object) -> str:
    # An IPv6 address in brackets, as in host:port pairs.
    text = str(address)
    return f"[{text}]" if ":" in text else text


def _under_dev(path: object) -> str:
    # A device link as udev names it: relative to /dev.
    return str(path).removeprefix("/dev/")


def environment() -> jinja2.Environment:
    """Templates from the package; an undefined variable is an error, never empty text."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([shipped("udev"), shipped("compose")]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["q"] = _quoted
    env.filters["word"] = _word
    env.filters["bracketed"] = _bracketed
    env.filters["under_dev"] = _under_dev
    return env


def render_template(name: str, context: Mapping[str, object]) -> str:
    """One template rendered with ``context``."""
    return environment().get_template(name).render(context)
