"""Analyse one G-code file in a process of its own: ``python -m instance.files.analyse_worker``.

A separate, niced process: the analysis never takes the print server's CPU
or its interpreter lock while a print streams, and its memory is given back
when it ends. Writes ``{"octoprint": ..., "analysis": ...}`` to OUT atomically.
Exit codes: 0 done, 1 the analysis failed, 3 no analyser is installed.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

EXIT_DONE = 0
EXIT_FAILED = 1
EXIT_UNAVAILABLE = 3


def _as_object(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _write_thumbnails(thumbnails: list[Any], directory: Path) -> None:
    """Each embedded preview as ``<index>.<format>``, for the page to show."""
    directory.mkdir(exist_ok=True)
    for index, thumbnail in enumerate(thumbnails):
        kind = "jpg" if thumbnail.format == "jpg" else "png"  # QOI arrives converted to PNG
        (directory / f"{index}.{kind}").write_bytes(thumbnail.data)


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 2:
        print("usage: analyse_worker FILE OUT", file=sys.stderr)
        return 2
    source, out = Path(arguments[0]), Path(arguments[1])
    os.nice(10)
    try:
        # Looked up by name: the analyser is a separate part that may be absent.
        analyse_file = importlib.import_module("instance.analysis").analyse_file
    except (ImportError, AttributeError) as error:
        print(f"no G-code analyser is installed: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    try:
        result = analyse_file(source)
        payload = {
            "octoprint": _as_object(result.to_octoprint()),
            "analysis": _as_object(result.to_json()),
        }
        text = json.dumps(payload, allow_nan=False)
    except Exception as error:  # the analyser's own failure, reported to the server
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILED
    _write_thumbnails(getattr(result, "thumbnails", []), out.with_name(out.name + ".thumbnails"))
    temporary = out.with_name(out.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, out)
    return EXIT_DONE


if __name__ == "__main__":
    raise SystemExit(main())
