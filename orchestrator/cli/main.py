"""The `fabfleet` command: the fleet file, enrolment, listing, and rendering the stack."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Literal

import typer

from orchestrator.cli.backup import register as register_backup_commands
from orchestrator.cli.common import ConfigOption, fail, load
from orchestrator.cli.demo import register as register_demo_command
from orchestrator.cli.images import register as register_images_command
from orchestrator.cli.node import register as register_node_command
from orchestrator.cli.stack import register as register_stack_commands
from orchestrator.cli.users import register as register_user_command
from orchestrator.cli.watch import register as register_watch_command
from orchestrator.devices.camera_bandwidth import bandwidth_warnings
from orchestrator.devices.discovery import DeviceKind, DeviceNotFound, UsbDevice, find_device, scan
from orchestrator.devices.scan_report import Finding, NoIdentity, assess, choose_identity
from orchestrator.fleet.enrolment import (
    EnrolmentRefused,
    add_camera,
    add_printer,
    build_camera,
    build_printer,
    remove_camera,
    remove_printer,
)
from orchestrator.fleet.file import DEFAULT_PATH, write_fleet, write_starter
from orchestrator.fleet.model import Camera, Fleet, Printer
from orchestrator.fleet.problems import FleetFileError
from orchestrator.model.build import ModelError, stack_of
from orchestrator.rendering.files import diff_changed, write_changed
from orchestrator.rendering.k3s import power_secret_names, render_k3s
from orchestrator.rendering.render import render_files
from orchestrator.stack.secrets import (
    FormatRefused,
    Owner,
    ensure_hub_data,
    ensure_power_secrets,
    ensure_secrets,
)

app = typer.Typer(help="Run a fleet of USB 3D printers and webcams from one Linux host.")
printer_app = typer.Typer(help="Enrol and remove printers.")
camera_app = typer.Typer(help="Enrol and remove cameras.")
app.add_typer(printer_app, name="printer")
app.add_typer(camera_app, name="camera")

OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out", help="Where the rendered files go (default: site.state_dir).", file_okay=False
    ),
]
NameArgument = Annotated[str, typer.Argument(help="Lowercase letters, digits and '-'.")]
# Where each render target goes: compose (udev rules, compose file, nginx) or k3s.
Target = Literal["compose", "k3s"]
TargetOption = Annotated[
    Target,
    typer.Option(
        "--target",
        help="compose: udev rules, compose file, nginx config; k3s: a kustomization "
        "(default out: <state_dir>/k3s).",
    ),
]
# The k3s kustomization's folder in the state directory.
K3S_DIR = "k3s"
SerialOption = Annotated[str | None, typer.Option("--serial", help="USB serial number.")]
PortPathOption = Annotated[
    str | None, typer.Option("--port-path", help="udev ID_PATH of the USB port.")
]
DeviceOption = Annotated[
    str | None,
    typer.Option(
        "--device",
        help="A plugged-in device node, e.g. /dev/ttyUSB0: its serial when unique, "
        "else its port path.",
    ),
]


def main() -> None:
    """Entry point of the `fabfleet` console script."""
    app()


def _edit(config: Path, action: str, change: Callable[[Fleet], Fleet], done: str) -> Fleet:
    """Load, change and write the fleet file; a refusal leaves it untouched."""
    try:
        fleet = change(load(config))
    except EnrolmentRefused as refusal:
        fail(f"cannot {action}: {refusal}")
    _save(config, fleet)
    typer.echo(done)
    return fleet


def _save(config: Path, fleet: Fleet) -> None:
    try:
        write_fleet(config, fleet)
    except FleetFileError as error:
        fail(f"not written, the result would be invalid:\n{error}")
    except OSError as error:
        fail(f"cannot write {config}: {error}")


def _identity(flags: Mapping[str, object], kind: DeviceKind) -> dict[str, object]:
    given = {flag: value for flag, value in flags.items() if value is not None}
    if len(given) != 1:
        flag_names = [f"--{f.replace('_', '-')}" for f in flags]
        names = ", ".join(flag_names[:-1]) + f" or {flag_names[-1]}"
        fail(f"give exactly one of {names}" + (f" (got {len(given)})" if given else ""))
    device = given.get("device")
    if isinstance(device, str):
        return dict([_identity_of_device(device, kind)])
    return dict(given)


def _identity_of_device(path: str, kind: DeviceKind) -> tuple[str, str]:
    try:
        device = find_device(path, kind)
        field, value = choose_identity(device, scan())
    except (DeviceNotFound, NoIdentity) as error:
        fail(str(error))
    typer.echo(f"{path}: {device.usb_id()} {device.name()}, by {field.replace('_', ' ')} {value}")
    return field, value


@app.command()
def init(config: ConfigOption = DEFAULT_PATH) -> None:
    """Write a commented starter fleet file; never overwrites one."""
    try:
        write_starter(config)
    except FileExistsError:
        fail(f"{config} already exists; edit it, or remove it first to start over")
    except OSError as error:
        fail(f"cannot create {config}: {error}")
    typer.echo(f"wrote {config}")


@printer_app.command("add")
def printer_add(
    name: NameArgument,
    serial: SerialOption = None,
    port_path: PortPathOption = None,
    device: DeviceOption = None,
    url: Annotated[
        str | None, typer.Option("--url", help="socket://host:port or rfc2217://host:port.")
    ] = None,
    simulated: Annotated[
        bool,
        typer.Option(
            "--simulated", help="No hardware: the stack runs a simulated printer (fabfleet-sim)."
        ),
    ] = False,
    time_factor: Annotated[
        float | None,
        typer.Option(
            "--time-factor", help="With --simulated: how much faster than real it prints (20)."
        ),
    ] = None,
    baudrate: Annotated[int | None, typer.Option("--baudrate")] = None,
    receive_buffer: Annotated[int | None, typer.Option("--receive-buffer")] = None,
    camera: Annotated[str | None, typer.Option("--camera", help="An enrolled camera.")] = None,
    config: ConfigOption = DEFAULT_PATH,
) -> None:
    """Enrol a printer, found by exactly one of serial, port path, device or URL, or simulated."""
    if time_factor is not None and not simulated:
        fail("--time-factor is for a simulated printer; add --simulated")
    simulation: object = None
    if simulated:
        # Only what was given is stored: `simulated: true` keeps the simulator's defaults.
        simulation = True if time_factor is None else {"time_factor": time_factor}
    flags = {
        "serial": serial,
        "port_path": port_path,
        "device": device,
        "url": url,
        "simulated": simulation,
    }
    fields = {"name": name, **_identity(flags, "serial")}
    # Only what was given is stored, so defaults stay defaults in the file.
    extras = {"baudrate": baudrate, "receive_buffer": receive_buffer, "camera": camera}
    fields.update({k: v for k, v in extras.items() if v is not None})
    _edit(
        config,
        f"add printer '{name}'",
        lambda fleet: add_printer(fleet, build_printer(fields)),
        f"enrolled printer '{name}'",
    )


@printer_app.command("remove")
def printer_remove(name: NameArgument, config: ConfigOption = DEFAULT_PATH) -> None:
    """Remove a printer from the fleet."""
    _edit(
        config,
        f"remove printer '{name}'",
        lambda fleet: remove_printer(fleet, name),
        f"removed printer '{name}'",
    )


@camera_app.command("add")
def camera_add(
    name: NameArgument,
    serial: SerialOption = None,
    port_path: PortPathOption = None,
    device: DeviceOption = None,
    resolution: Annotated[str | None, typer.Option("--resolution", help="WxH.")] = None,
    fps: Annotated[int | None, typer.Option("--fps")] = None,
    format: Annotated[str | None, typer.Option("--format", help="mjpeg or yuyv.")] = None,
    config: ConfigOption = DEFAULT_PATH,
) -> None:
    """Enrol a camera, found by exactly one of serial, port path or device."""
    flags = {"serial": serial, "port_path": port_path, "device": device}
    fields = {"name": name, **_identity(flags, "camera")}
    extras = {"resolution": resolution, "fps": fps, "format": format}
    fields.update({k: v for k, v in extras.items() if v is not None})
    fleet = _edit(
        config,
        f"add camera '{name}'",
        lambda fleet: add_camera(fleet, build_camera(fields)),
        f"enrolled camera '{name}'",
    )
    # Enrolled all the same: the user may lower the mode, move a camera, or load the module.
    for _nodes, warning in bandwidth_warnings(scan(), fleet):
        typer.echo(f"! {warning}")


@camera_app.command("remove")
def camera_remove(name: NameArgument, config: ConfigOption = DEFAULT_PATH) -> None:
    """Remove a camera; refused while a printer is linked to it."""
    _edit(
        config,
        f"remove camera '{name}'",
        lambda fleet: remove_camera(fleet, name),
        f"removed camera '{name}'",
    )


@app.command("list")
def list_fleet(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    config: ConfigOption = DEFAULT_PATH,
) -> None:
    """Show every enrolled printer and camera."""
    fleet = load(config)
    devices: list[Printer | Camera] = [*fleet.printers, *fleet.cameras]
    if as_json:
        rows = [{"kind": _kind(d), **d.model_dump(mode="json", exclude_none=True)} for d in devices]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = [("NAME", "KIND", "IDENTITY", "DETAILS")]
    table += [(d.name, _kind(d), _show_identity(d), _details(d)) for d in devices]
    _table(table)


@app.command("scan")
def scan_devices(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    config: ConfigOption = DEFAULT_PATH,
) -> None:
    """List plugged-in USB serial ports and cameras, and what to watch out for."""
    fleet = load(config) if config.exists() else Fleet()
    devices = scan()
    report = assess(devices, fleet)
    report.findings.extend(
        Finding(nodes, text) for nodes, text in bandwidth_warnings(devices, fleet)
    )
    if as_json:
        rows = [{**d.to_json(), "enrolled": report.enrolled.get(d.node)} for d in report.devices]
        findings = [{"devices": list(f.nodes), "message": f.message} for f in report.findings]
        typer.echo(json.dumps({"devices": rows, "findings": findings}, indent=2))
        return
    if not report.devices:
        typer.echo("no USB serial ports or cameras found")
    else:
        header = ("NODE", "KIND", "USB ID", "NAME", "SERIAL", "PORT PATH", "DRIVER", "ENROLLED")
        _table([header, *(_scan_row(d, report.enrolled.get(d.node)) for d in report.devices)])
    for finding in report.findings:
        typer.echo(f"! {finding.message}")


def _scan_row(device: UsbDevice, enrolled: str | None) -> tuple[str, ...]:
    return (
        device.node,
        device.kind,
        device.usb_id(),
        device.name(),
        device.serial or "-",
        device.port_path or "-",
        device.driver or "-",
        enrolled or "-",
    )


def _table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        typer.echo("  ".join([*cells, row[-1]]).rstrip())


def _kind(device: Printer | Camera) -> str:
    return "printer" if isinstance(device, Printer) else "camera"


def _show_identity(device: Printer | Camera) -> str:
    identity = device.identity()
    if identity is None:
        return "-"
    return "simulated" if identity[0] == "simulated" else f"{identity[0]}={identity[1]}"


def _details(device: Printer | Camera) -> str:
    if isinstance(device, Printer):
        # A simulator is reached over a socket: no baud rate to speak of.
        line = device.simulated.describe() if device.simulated else f"{device.baudrate} baud"
        parts = [line, f"rx {device.receive_buffer} B"]
        if device.camera:
            parts.append(f"camera {device.camera}")
        return ", ".join(parts)
    return f"{device.resolution} {device.fps} fps {device.format}"


def _render(fleet: Fleet, out: Path | None, target: Target) -> tuple[Path, dict[str, bytes]]:
    try:
        stack = stack_of(fleet, version("fabfleet"))
    except ModelError as error:
        fail(f"cannot render: {error}")
    state_dir = Path(fleet.site.state_dir)
    if target == "k3s":
        return (state_dir / K3S_DIR if out is None else out), render_k3s(stack)
    return (state_dir if out is None else out), render_files(stack)


def _k3s_keys(out_dir: Path, fleet: Fleet) -> None:
    """The key files the kustomization's secretGenerator reads, kept beside it (0600), the
    user's who renders (kubectl reads them; the cluster gives them to the pods)."""
    owner = Owner(os.getuid(), os.getgid())
    try:
        report = ensure_secrets(out_dir, [p.name for p in fleet.printers], owner)
    except FormatRefused as error:
        fail(str(error))
    except OSError as error:
        fail(f"cannot write the gate's keys in {out_dir}: {error}")
    for name in report.written:
        typer.echo(f"{'changed':<9}  {out_dir / name}")
    for name in report.removed:
        typer.echo(f"{'removed':<9}  {out_dir / name}")
    named = power_secret_names(stack_of(fleet, version("fabfleet")))
    if named:
        folder = ensure_power_secrets(out_dir, owner)
        for name in named:
            if not (folder / name).is_file():
                typer.echo(
                    f"missing    {folder / name}: the fleet file names power secret '{name}';"
                    f" write it there (install -m 600) before kubectl apply -k",
                    err=True,
                )


@app.command()
def render(
    out: OutOption = None, target: TargetOption = "compose", config: ConfigOption = DEFAULT_PATH
) -> None:
    """Render the udev rules, compose file and nginx config (or, with --target k3s, the
    kustomization for a cluster); write only what changed."""
    fleet = load(config)
    out_dir, files = _render(fleet, out, target)
    try:
        changed = write_changed(out_dir, files)
    except OSError as error:
        fail(f"cannot write to {out_dir}: {error}")
    for name, was_changed in changed.items():
        typer.echo(f"{'changed' if was_changed else 'unchanged':<9}  {out_dir / name}")
    if target == "k3s":
        _k3s_keys(out_dir, fleet)
    elif out is None:
        # The stack's own state directory: the compose file mounts the gate's keys from it.
        fleet = load(config)
        owner = Owner(fleet.site.container_uid, fleet.site.container_gid)
        try:
            report = ensure_secrets(out_dir, [p.name for p in fleet.printers], owner)
            ensure_hub_data(out_dir, owner)
            ensure_power_secrets(out_dir, owner)
        except FormatRefused as error:
            fail(str(error))
        except OSError as error:
            fail(f"cannot write the gate's keys in {out_dir}: {error}")
        for name in report.written:
            typer.echo(f"{'changed':<9}  {out_dir / name}")
        for name in report.removed:
            typer.echo(f"{'removed':<9}  {out_dir / name}")


@app.command()
def plan(
    out: OutOption = None,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit with 1 when something would change.")
    ] = False,
    target: TargetOption = "compose",
    config: ConfigOption = DEFAULT_PATH,
) -> None:
    """Show, as a diff, what `render` would change; writes nothing."""
    out_dir, files = _render(load(config), out, target)
    try:
        diffs = diff_changed(out_dir, files)
    except OSError as error:
        fail(f"cannot read {out_dir}: {error}")
    for diff in diffs:
        typer.echo(diff, nl=False)
    if not diffs:
        typer.echo(f"no changes in {out_dir}")
    elif exit_code:
        raise typer.Exit(1)


# Running the stack comes after setting it up, in `fabfleet --help` too.
register_stack_commands(app)
register_images_command(app)
register_watch_command(app)
register_user_command(app)
register_demo_command(app)
register_node_command(app)
register_backup_commands(app)
