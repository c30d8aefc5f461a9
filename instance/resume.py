"""Continuing a print after a crash or an unplug: where to start and how to get there.

Safe only if the printer still holds what the file expects; see
``docs/crash-resume.md``.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass

from instance.gcode_file import GcodeFile
from instance.job_records import JobRecord
from instance.machine_state import MachineState


class ResumeError(ValueError):
    """The job cannot be resumed from that point; the message says why."""


@dataclass(frozen=True, slots=True)
class ResumePlan:
    """Where in the file to continue, and the commands to run first."""

    job_id: int
    offset: int
    line: int
    z: float | None
    preamble: list[str]


def plan_resume(
    record: JobRecord, path: str | os.PathLike[str], *, from_layer: bool = False, lift: float = 5.0
) -> ResumePlan:
    """A plan to continue ``record``'s job in ``path`` after its last acknowledged line.

    ``from_layer`` restarts at the beginning of the layer that line was in,
    which re-prints part of a layer but never leaves a gap.
    """
    if record.last_offset is None:
        raise ResumeError(f"job {record.id} has no acknowledged line to resume from")
    file = GcodeFile(path)
    if file.size != record.file_size:
        raise ResumeError(
            f"{file.path.name} is {file.size} bytes, the job printed a {record.file_size}-byte "
            "file: it is not the same file"
        )
    machine = MachineState()
    layer_machine = copy.deepcopy(machine)
    layer_offset = 0
    layer_line = 1
    last_z: float | None = None
    target = record.last_offset
    line_number = 1
    for line in file.iter_commands(0):
        if line.offset >= target:
            line_number = line.number
            break
        before_z = machine.layer_z
        machine.apply(line.command)
        if machine.layer_z is not None and machine.layer_z != before_z:
            if last_z is None or machine.layer_z > last_z:
                layer_machine = copy.deepcopy(machine)
                layer_offset = line.end_offset
                layer_line = line.number + 1
            last_z = machine.layer_z
    else:
        raise ResumeError(f"job {record.id} had already sent the whole file")
    if from_layer:
        machine, target, line_number = layer_machine, layer_offset, layer_line
    preamble = _preamble(machine, lift)
    return ResumePlan(record.id, target, line_number, machine.position.get("Z"), preamble)


def _preamble(machine: MachineState, lift: float) -> list[str]:
    z = machine.position.get("Z")
    if z is None:
        raise ResumeError("the file had not set a Z height yet: print it from the start")
    commands: list[str] = []
    if machine.bed_target:
        commands.append(f"M190 S{machine.bed_target:g}")
    for tool, target in sorted(machine.hotend_targets.items()):
        if target:
            commands.append(f"M109 T{tool} S{target:g}")
    # Z must not be homed into the part: the printer is told where Z is.
    commands += ["G90", f"G92 Z{z:g}", f"G1 Z{z + lift:g} F600", "G28 X Y"]
    x, y, e = (machine.position.get(axis) for axis in "XYE")
    if x is not None and y is not None:
        commands.append(f"G1 X{x:g} Y{y:g} F6000")
    commands.append(f"G1 Z{z:g} F600")
    commands.append(f"G92 E{e:g}" if e is not None else "G92 E0")
    if machine.fan_speed is not None:
        commands.append(f"M106 S{machine.fan_speed:g}" if machine.fan_speed else "M107")
    commands += machine.restore_modes()
    return commands
