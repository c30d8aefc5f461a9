"""The stack commands as a typer app of their own, until cli.py registers them.

Run as a script (``python tests/orchestrator/stack_cli.py up ...``) when a test
needs a separate process, e.g. as another user.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from orchestrator.cli.stack import register

app = typer.Typer()
register(app)

if __name__ == "__main__":
    app()
