"""The boundaries between the parts hold, and the check of them fails when one is crossed.

import-linter (its contracts are in pyproject.toml, ``[tool.importlinter]``) runs on the
real tree, then on copies of it with one forbidden import written into one module, each
inside a function, as the imports import-linter sees like any other. What import-linter
cannot say (no import circle among any of the hub's modules, across its parts) is
checked here with the same import graph (grimp).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PACKAGES = ("hub", "instance", "orchestrator")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the packages in ``tree``, with the contracts of ``tree``'s
    pyproject.toml."""
    return subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache", "--no-logo"],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tree's code and its pyproject.toml, to be copied again and broken."""
    tree = tmp_path_factory.mktemp("tree")
    for package in PACKAGES:
        shutil.copytree(
            TOP / package,
            tree / package,
            ignore=shutil.ignore_patterns("__pycache__", "*.so", "page", "share"),
        )
    shutil.copy(TOP / "pyproject.toml", tree / "pyproject.toml")
    return tree


def broken_copy(pristine: Path, tmp_path: Path, module: str, statement: str) -> Path:
    """A copy of ``pristine`` in which ``module`` (a path) runs ``statement`` in a function."""
    tree = tmp_path / "tree"
    shutil.copytree(pristine, tree)
    path = tree / module
    assert path.exists(), f"{module} is gone: choose another module for this case"
    with path.open("a") as out:
        out.write(f"\n\ndef _crossing() -> None:\n    {statement}  # the forbidden import\n")
    return tree


def test_the_real_tree_keeps_every_contract() -> None:
    result = lint_imports(TOP)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    # Every boundary of the design is checked (a contract dropped from pyproject.toml
    # would leave a boundary unguarded while the check stayed green).
    for contract in (
        "The hub never imports print server or orchestrator code KEPT",
        "The print server never imports the hub or the orchestrator KEPT",
        "The orchestrator uses the hub only through hub.door KEPT",
        "Print server web code never imports transports or the simulator KEPT",
        "The protocol core does no I/O KEPT",
        "The mover imports no other part of fabfleet KEPT",
        "The mover's decision does no I/O KEPT",
        "No import circle among the modules of each part of the hub KEPT",
    ):
        assert contract in result.stdout, result.stdout


CROSSINGS = [
    pytest.param(
        "hub/auth/rights.py",
        "import instance.printer",
        "The hub never imports print server or orchestrator code",
        "hub.auth.rights -> instance.printer",
        id="hub-imports-the-print-server",
    ),
    pytest.param(
        "hub/queue/match.py",
        "import orchestrator.fleet.file",
        "The hub never imports print server or orchestrator code",
        "hub.queue.match -> orchestrator.fleet.file",
        id="hub-imports-the-orchestrator",
    ),
    pytest.param(
        "instance/printer.py",
        "import hub.door",
        "The print server never imports the hub or the orchestrator",
        "instance.printer -> hub.door",
        id="print-server-imports-the-hub",
    ),
    pytest.param(
        "instance/job.py",
        "import orchestrator.fleet.file",
        "The print server never imports the hub or the orchestrator",
        "instance.job -> orchestrator.fleet.file",
        id="print-server-imports-the-orchestrator",
    ),
    pytest.param(
        "orchestrator/cli/users.py",
        "from hub.auth import accounts",
        "The orchestrator uses the hub only through hub.door",
        "orchestrator.cli.users -> hub.auth.accounts",
        id="orchestrator-past-the-door",
    ),
    pytest.param(
        "instance/web/server.py",
        "import instance.transport.base",
        "Print server web code never imports transports or the simulator",
        "instance.web.server -> instance.transport.base",
        id="web-imports-a-transport",
    ),
    pytest.param(
        "instance/web/printer_api.py",
        "import instance.sim.options",
        "Print server web code never imports transports or the simulator",
        "instance.web.printer_api -> instance.sim.options",
        id="web-imports-the-simulator",
    ),
    pytest.param(
        "instance/protocol/flow.py",
        "import asyncio",
        "The protocol core does no I/O",
        "instance.protocol.flow -> asyncio",
        id="protocol-does-io",
    ),
    pytest.param(
        "instance/protocol/parsing.py",
        "import instance.transport.base",
        "The protocol core does no I/O",
        "instance.protocol.parsing -> instance.transport.base",
        id="protocol-imports-a-transport",
    ),
    pytest.param(
        "orchestrator/mover/loop.py",
        "import orchestrator.rendering.k3s",
        "The mover imports no other part of fabfleet",
        "orchestrator.mover.loop -> orchestrator.rendering.k3s",
        id="mover-imports-the-rendering",
    ),
    pytest.param(
        "orchestrator/mover/decide.py",
        "import aiohttp",
        "The mover's decision does no I/O",
        "orchestrator.mover.decide -> aiohttp",
        id="mover-decision-does-io",
    ),
    pytest.param(
        "hub/auth/credentials.py",
        "import hub.auth.sessions",
        "No import circle among the modules of each part of the hub",
        ".credentials",
        id="circle-in-a-hub-part",
    ),
]


@pytest.mark.parametrize(("module", "statement", "contract", "named"), CROSSINGS)
def test_a_crossed_boundary_fails_the_check_naming_the_import(
    pristine: Path, tmp_path: Path, module: str, statement: str, contract: str, named: str
) -> None:
    result = lint_imports(broken_copy(pristine, tmp_path, module, statement))
    assert result.returncode != 0, result.stdout
    assert f"{contract} BROKEN" in result.stdout, result.stdout
    assert "1 broken" in result.stdout, result.stdout
    assert named in result.stdout.split("Broken contracts", 1)[1], result.stdout


# --- no import circle anywhere in the hub (across its parts too) ---------------------

EDGES = """
import json, grimp
graph = grimp.build_graph("hub", cache_dir=None)
print(json.dumps({m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}))
"""


def circles(tree: Path) -> list[list[str]]:
    """Each set of hub modules that import each other round (Tarjan), in ``tree``."""
    found = subprocess.run(
        [sys.executable, "-c", EDGES],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    edges: dict[str, list[str]] = json.loads(found.stdout)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    result: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in edges.get(module, []):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                result.append(sorted(group))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return result


def test_no_hub_module_imports_itself_round_a_circle() -> None:
    assert circles(TOP) == []


def test_a_circle_across_hub_parts_is_found(pristine: Path, tmp_path: Path) -> None:
    # The circle this check was written after: an error's page wants the user, and
    # the code that knows the user raises the hub's errors.
    tree = broken_copy(pristine, tmp_path, "hub/errors.py", "from hub.auth import current")
    assert circles(tree) == [["hub.auth.current", "hub.errors"]]
