"""`fabfleet node-setup`: a host joining the k3s cluster gets the fleet's udev rules.

Every node gets the same rules: each makes the ``/dev/fabfleet/…`` links only for the
printers and cameras plugged into it, and the device plugin advertises exactly those
(docs/kubernetes.md). Touches nothing of Docker or the cluster.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.common import ConfigOption, fail, load
from orchestrator.devices.udev_install import (
    DEFAULT_RULES_PATH,
    UDEV_CONTROL,
    UdevError,
    install_rules,
    reload_udev,
)
from orchestrator.fleet.file import DEFAULT_PATH
from orchestrator.model import paths
from orchestrator.model.build import ModelError, stack_of
from orchestrator.rendering.udev import render_udev

RulesOption = Annotated[
    Path,
    typer.Option(
        "--udev-rules",
        envvar="FABFLEET_UDEV_RULES",
        help="Where the udev rules are installed.",
        dir_okay=False,
    ),
]
# Hidden: the tests point these at a folder of their own.
ControlOption = Annotated[Path, typer.Option("--udev-control", hidden=True)]
LinksOption = Annotated[Path, typer.Option("--link-dir", hidden=True)]


def node_setup(
    config: ConfigOption = DEFAULT_PATH,
    udev_rules: RulesOption = DEFAULT_RULES_PATH,
    udev_control: ControlOption = UDEV_CONTROL,
    link_dir: LinksOption = Path(paths.LINK_DIR),
) -> None:
    """Install the fleet's udev rules on this host (a k3s node) and say which printers and
    cameras are plugged in here."""
    fleet = load(config)
    try:
        stack = stack_of(fleet, version("fabfleet"))
    except ModelError as error:
        fail(f"cannot render the udev rules: {error}")
    try:
        changed = install_rules(udev_rules, render_udev(stack))
        note = reload_udev(udev_control)
    except UdevError as error:
        fail(str(error))
    typer.echo(f"{'changed' if changed else 'unchanged':<9}  {udev_rules}")
    if note:
        typer.echo(f"note: {note}")
    here = [link.link for link in stack.links if (link_dir / link.link.rsplit("/", 1)[1]).exists()]
    if here:
        typer.echo("plugged in here: " + ", ".join(sorted(p.rsplit("/", 1)[1] for p in here)))
    else:
        typer.echo("plugged in here: none of the fleet's printers or cameras")


def register(app: typer.Typer) -> None:
    """Add `node-setup` to ``app``."""
    app.command("node-setup")(node_setup)
