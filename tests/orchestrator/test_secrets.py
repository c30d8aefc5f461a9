"""The gate's keys in the state directory: made once, one per printer, private, never rendered."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hub.auth.signing import printer_key, proxy_key
from instance.web.gate import verify
from orchestrator.fleet.model import Fleet, Printer, Site
from orchestrator.rendering.render import render_stack
from orchestrator.stack.secrets import Owner, ensure_hub_data, ensure_secrets, identity_headers

OWNER = Owner(20000, 20001)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def owner_of(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_uid, info.st_gid


# Run as root, the files are the containers' user's; otherwise they stay the caller's.
EXPECTED_OWNER = (OWNER.uid, OWNER.gid) if os.geteuid() == 0 else (os.getuid(), os.getgid())


def test_a_master_key_and_one_derived_key_per_printer(tmp_path: Path) -> None:
    report = ensure_secrets(tmp_path, ["mk3", "ender-1"], OWNER)
    assert report.written == [
        "secrets/gate.key", "secrets/printer-mk3.key", "secrets/printer-ender-1.key",
        "secrets/proxy-gate.conf",
    ]  # fmt: skip
    secrets = tmp_path / "secrets"
    assert mode(secrets) == 0o700
    master = bytes.fromhex((secrets / "gate.key").read_text())
    assert len(master) == 32
    assert mode(secrets / "gate.key") == 0o600
    for name in ("mk3", "ender-1"):
        path = secrets / f"printer-{name}.key"
        # The key the hub's signatures for this printer verify with, and nothing more.
        assert bytes.fromhex(path.read_text()) == printer_key(master, name)
        assert mode(path) == 0o400
        assert owner_of(path) == EXPECTED_OWNER
    assert owner_of(secrets / "gate.key") == EXPECTED_OWNER
    assert sorted(p.name for p in secrets.iterdir()) == [
        # The directory's version (docs/upgrades.md) beside the keys.
        "format.json", "gate.key", "printer-ender-1.key", "printer-mk3.key", "proxy-gate.conf",
    ]  # fmt: skip
    # nginx's include: the key it asks the gate with, as the hub derives it; only it reads it.
    include = secrets / "proxy-gate.conf"
    assert (
        include.read_text()
        .strip()
        .endswith(f'proxy_set_header X-Fabfleet-Proxy-Key "{proxy_key(master).hex()}";')
    )
    assert mode(include) == 0o400
    assert owner_of(include) == EXPECTED_OWNER


def test_a_second_run_keeps_the_keys_and_a_removed_printer_loses_its_own(tmp_path: Path) -> None:
    ensure_secrets(tmp_path, ["mk3", "ender-1"], OWNER)
    secrets = tmp_path / "secrets"
    before = {p.name: p.read_bytes() for p in secrets.iterdir()}
    again = ensure_secrets(tmp_path, ["mk3", "ender-1"], OWNER)
    assert (again.written, again.removed) == ([], [])
    assert {p.name: p.read_bytes() for p in secrets.iterdir()} == before
    fewer = ensure_secrets(tmp_path, ["mk3"], OWNER)
    assert (fewer.written, fewer.removed) == ([], ["secrets/printer-ender-1.key"])
    assert sorted(p.name for p in secrets.iterdir()) == [
        "format.json", "gate.key", "printer-mk3.key", "proxy-gate.conf",
    ]  # fmt: skip
    assert (secrets / "gate.key").read_bytes() == before["gate.key"]


def test_a_new_master_key_rewrites_every_printer_key(tmp_path: Path) -> None:
    ensure_secrets(tmp_path, ["mk3"], OWNER)
    (tmp_path / "secrets" / "gate.key").unlink()
    report = ensure_secrets(tmp_path, ["mk3"], OWNER)
    assert report.written == [
        "secrets/gate.key", "secrets/printer-mk3.key", "secrets/proxy-gate.conf",
    ]  # fmt: skip
    master = bytes.fromhex((tmp_path / "secrets" / "gate.key").read_text())
    key = bytes.fromhex((tmp_path / "secrets" / "printer-mk3.key").read_text())
    assert key == printer_key(master, "mk3")


def test_no_key_is_in_any_rendered_file(tmp_path: Path) -> None:
    fleet = Fleet(
        site=Site(state_dir=str(tmp_path)), printers=[Printer(name="mk3", url="socket://h:1")]
    )
    ensure_secrets(tmp_path, ["mk3"], OWNER)
    keys = [p.read_text().strip() for p in (tmp_path / "secrets").glob("*.key")]
    master = bytes.fromhex((tmp_path / "secrets" / "gate.key").read_text())
    keys.append(proxy_key(master).hex())
    for name, data in render_stack(fleet, "1.2.3").items():
        for key in keys:
            assert key.encode() not in data, name
            assert bytes.fromhex(key) not in data, name


def test_the_hubs_data_directory_is_private(tmp_path: Path) -> None:
    path = ensure_hub_data(tmp_path, OWNER)
    assert path == tmp_path / "hub-data"
    assert mode(path) == 0o700
    assert owner_of(path) == EXPECTED_OWNER
    path.chmod(0o755)
    ensure_hub_data(tmp_path, OWNER)
    assert mode(path) == 0o700


def test_the_hosts_own_tools_sign_as_the_hub_does(tmp_path: Path) -> None:
    assert identity_headers(tmp_path, "mk3") == {}
    ensure_secrets(tmp_path, ["mk3"], OWNER)
    header = identity_headers(tmp_path, "mk3")["X-Fabfleet-Identity"]
    key = bytes.fromhex((tmp_path / "secrets" / "printer-mk3.key").read_text())
    identity = verify(key, "mk3", header)
    assert (identity.user, identity.may_act) == ("fabfleet", False)
