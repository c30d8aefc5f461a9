"""An audit row as the sentence a person reads: "alice cancelled the print on mk3".

Built from the row's fields alone (user, action, printer, detail, the act's outcome)
and, for a print the gate let through, the file its print server started when the
hub knows it. The raw fields stay in the API; this is only the ``summary``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

# The print server's job steps (POST api/v1/job/<step>) as past-tense verbs.
JOB_STEPS = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}
FLEET_VERBS = {
    "pause": "paused the print on {p}",
    "resume": "resumed the print on {p}",
    "cancel": "cancelled the print on {p}",
    "preheat": "preheated {p}",
    "cooldown": "cooled down {p}",
    "bed_clear": "confirmed the bed of {p} is clear",
}
CONTROLS = {
    "temperature": "set temperatures on {p}",
    "cool-down": "cooled down {p}",
    "home": "homed {p}",
    "jog": "moved the head of {p}",
    "fan": "set the fan of {p}",
    "motors-off": "turned off the motors of {p}",
    "extrude": "extruded filament on {p}",
}
OUTCOMES = {"refused": "the printer refused", "failed": "it failed"}


def _printer(entry: Mapping[str, Any]) -> str:
    return str(entry.get("printer") or "the fleet")


def _file_of(detail: str) -> str:
    """The file name a detail like ``part.gcode (DELETE /api/v1/files/part.gcode)`` starts with."""
    return detail.split(" (", 1)[0].strip()


def printer_act(action: str, detail: str, printer: str, file: str | None) -> str:
    """What an act on a printer did, after the user's name (no outcome)."""
    p = printer
    if action == "print":
        return f"started {file} on {p}" if file else f"started a print on {p}"
    if file and action in ("octoprint job command", "octoprint file command"):
        return f"started {file} on {p} (OctoPrint API)"
    if action in JOB_STEPS:
        return f"{JOB_STEPS[action]} the print on {p}"
    if action.startswith("printer."):
        step = action.removeprefix("printer.")
        said = FLEET_VERBS.get(step, step + " on {p}").format(p=p)
        if step == "preheat" and ":" in detail:
            said += f" ({detail.split(':', 1)[1].rsplit(' (', 1)[0].strip()})"
        # The fleet API, or a command from the MQTT broker (hub/mqtt/commands.py).
        return said + (" (via MQTT)" if detail.endswith("(via MQTT)") else " (fleet action)")
    if action.startswith("control:"):
        what = action.removeprefix("control:")
        return CONTROLS.get(what, "used the control “" + what + "” on {p}").format(p=p)
    simple = {
        "upload": f"uploaded a file to {p}",
        "bed clear": f"confirmed the bed of {p} is clear",
        "spool assign": f"set the spool loaded in {p} ({detail})",
        "prompt answer": f"answered a prompt of {p}",
        "terminal": f"sent a command from the terminal to {p}",
        "tune": f"changed the speed, flow or Z babystep of {p}",
        "octoprint job command": f"sent a job command to {p} (OctoPrint API)",
        "camera request": f"changed a camera setting ({detail})",
        # hub/maintenance/api.py: "<task>; print … h, …[; note: …]".
        "maintenance done": f"marked “{detail.split('; print ', 1)[0]}” done on {p}",
        "power on": f"switched on the power of {p}",
        "power off": f"switched off the power of {p}",
        "power off gave up": f"gave up waiting to switch off {p} ({detail})",
    }
    if action in simple:
        return simple[action]
    if action == "delete file":
        return f"deleted {_file_of(detail)} from {p}"
    if action == "octoprint file command":
        return f"sent {_file_of(detail)} to {p} (OctoPrint API)"
    if action == "watch":
        return f"watch printer {p}"
    if action == "request":
        return f"sent {detail} to {p}"
    if action in JOB_STEPS.values():
        return f"{action} the print on {p}"
    return f"asked {p} to {action}"


def _refused(user: str, action: str, detail: str, printer: str) -> str:
    asked = action.removeprefix("refused").strip()
    if asked == "watch":
        what = f"watch printer {printer}"
    elif asked == "camera request":
        what = f"camera request {detail.split(' (', 1)[0]}"
    elif asked in JOB_STEPS:
        what = f"{asked} the print on {printer}"
    else:
        what = printer_act(asked, detail, printer, None)
    return f"{user} was refused: {what}"


def _user_add(detail: str) -> str:
    found = re.match(r"(?P<name>.+?) as (?P<role>\w+)(?:; (?P<grants>.*))?$", detail)
    if not found:
        return f"added user {detail}"
    grants = found["grants"]
    shown = f"{found['role']}" + (f"; {grants}" if grants and grants != "none" else "")
    return f"added user {found['name']} ({shown})"


def _role(detail: str) -> str:
    found = re.match(r"(?P<name>.+?): (?P<old>\w+) -> (?P<new>\w+)$", detail)
    if not found:
        return f"changed a role ({detail})"
    return f"changed the role of {found['name']} from {found['old']} to {found['new']}"


def _grants(detail: str) -> str:
    name, _, grants = detail.partition(": ")
    return f"set what {name} may use: {grants or 'nothing'}"


def _password(user: str, detail: str) -> str:
    return "changed their own password" if detail == user else f"set a new password for {detail}"


def _queue(action: str, detail: str, printer: str | None) -> str:
    if action == "queue submit":
        found = re.match(r"(?P<file>.+) x(?P<n>\d+) to (?P<target>[^,]+)", detail)
        if found:
            copies = "1 copy" if found["n"] == "1" else f"{found['n']} copies"
            kind, _, name = found["target"].partition(":")
            target = f"{kind} {name}" if name else f"any printer of the {kind}"
            return f"queued {copies} of {found['file']} for {target}"
        return f"added to the queue: {detail}"
    entry = detail.split(" (", 1)[0].split(":", 1)[0]
    file = re.search(r"\(([^)]*)\)", detail)
    named = f"{entry} ({file[1]})" if file else entry
    if action == "queue cancel":
        return f"cancelled queue {named}"
    if action == "queue requeue":
        return f"put queue {named} back in the queue"
    if action == "queue reorder":
        return f"moved queue {named}: {detail.rsplit(': ', 1)[-1]}"
    return f"{action.removeprefix('queue ')} in the queue: {detail}"


def _dispatch(detail: str, printer: str | None) -> str:
    found = re.match(r"(?P<entry>entry \d+): (?P<file>.+) for (?P<who>.+)$", detail)
    to = printer or "a printer"
    if not found:
        return f"The queue sent a job to {to}"
    return f"The queue started {found['file']} on {to} ({found['entry']}, for {found['who']})"


ACCOUNT: dict[str, Callable[[str, str], str]] = {
    "user add": lambda _u, d: _user_add(d),
    "user remove": lambda _u, d: f"removed user {d}",
    "user password": _password,
    "user role": lambda _u, d: _role(d),
    "user grants": lambda _u, d: _grants(d),
    "user disable": lambda _u, d: f"disabled user {d}",
    "user enable": lambda _u, d: f"enabled user {d}",
    "login": lambda _u, d: "logged in" + (f" ({d})" if d else ""),
    "logout": lambda _u, _d: "logged out",
    "api key create": lambda _u, d: f"created the API key {d}",
    "api key revoke": lambda _u, d: f"revoked the API key {d}",
    "notification target added": lambda _u, d: f"added the notification target {d}",
    "notification target removed": lambda _u, d: f"removed the notification target {d}",
}


def _outcome(entry: Mapping[str, Any]) -> str:
    said = OUTCOMES.get(str(entry.get("outcome") or ""))
    if said is None:
        return ""
    status = entry.get("status")
    return f" — {said}" + (f" ({status})" if status else "")


def summary(entry: Mapping[str, Any], file: str | None = None) -> str:
    """One audit entry (as ``GET /api/audit`` lists it) as a sentence."""
    user = str(entry.get("user") or "someone")
    action = str(entry.get("action") or "")
    detail = str(entry.get("detail") or "")
    printer = entry.get("printer")
    if action == "login failed":
        return f"A login as {user} failed" + (f" ({detail})" if detail else "")
    if action == "queue dispatch":
        return _dispatch(detail, printer)
    if action.startswith("queue "):
        return f"{user} {_queue(action, detail, printer)}"
    if action in ACCOUNT:
        return f"{user} {ACCOUNT[action](user, detail)}"
    if action.startswith("refused"):
        return (
            _refused(user, action, detail, _printer(entry))
            if printer or detail
            else (f"{user} was refused: {action.removeprefix('refused').strip()}")
        )
    if (
        printer
        or action.startswith(("printer.", "control:"))
        or action
        in (
            "print",
            "upload",
            "bed clear",
            "camera request",
        )
    ):
        return f"{user} {printer_act(action, detail, _printer(entry), file)}{_outcome(entry)}"
    sentence = f"{user}: {action}" + (f" ({detail})" if detail else "")
    return sentence
