"""Where the files fabfleet ships beside its code are: the udev rule template (``udev/``),
the stack templates and the images' build contexts (``compose/``).

In a checkout they are the project's top-level folders ``udev/`` and ``compose/``; an
installed wheel carries the same folders as ``orchestrator/share/udev`` and
``orchestrator/share/compose`` (``pyproject.toml`` maps them), so ``fabfleet render``
and ``fabfleet images`` work without a checkout. Owns only this lookup; reads nothing.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
CHECKOUT = PACKAGE.parent


def _in_checkout() -> bool:
    pyproject = CHECKOUT / "pyproject.toml"
    return pyproject.is_file() and 'name = "fabfleet"' in pyproject.read_text(encoding="utf-8")


def shipped(folder: str) -> Path:
    """The shipped folder ``udev`` or ``compose``, from the checkout or the installed package."""
    if folder not in ("udev", "compose"):
        raise ValueError(f"fabfleet ships no folder {folder!r}")
    if _in_checkout() and (CHECKOUT / folder).is_dir():
        return CHECKOUT / folder
    return PACKAGE / "share" / folder
