"""A wheel made again from an installed distribution: the files its ``RECORD`` lists.

An installed wheel's files are the wheel's own, byte for byte (pip writes scripts and
bookkeeping apart, and ``RECORD`` says which is which), so an install without its
source or its wheel can still hand the images the fabfleet it runs. Left out: what lies
outside the install's folder (the scripts, made again from ``entry_points.txt``), compiled
bytecode, and pip's own notes (``INSTALLER``, ``REQUESTED``, ``direct_url.json``).
"""

from __future__ import annotations

import base64
import csv
import email.parser
import hashlib
import io
import zipfile
from pathlib import Path

# pip's notes about an install, not part of the wheel.
_INSTALL_NOTES = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})


class RepackError(Exception):
    """The installed distribution cannot be made into a wheel; the message says why."""


def wheel_files(dist_info: Path) -> list[str]:
    """The wheel's files of the distribution ``dist_info`` describes, relative to its folder."""
    try:
        rows = list(csv.reader(io.StringIO((dist_info / "RECORD").read_text(encoding="utf-8"))))
    except OSError as error:
        raise RepackError(f"{dist_info} has no RECORD of its files: {error}") from None
    names = []
    for row in rows:
        if not row:
            continue
        name = row[0]
        parts = name.split("/")
        if ".." in parts or name.startswith("/") or "__pycache__" in parts:
            continue
        if parts[0] == dist_info.name and parts[-1] in _INSTALL_NOTES:
            continue
        names.append(name)
    return sorted(names)


def wheel_name(dist_info: Path) -> str:
    """``<name>-<version>-<tag>.whl`` from the distribution's METADATA and WHEEL files."""
    try:
        meta = email.parser.HeaderParser().parsestr((dist_info / "METADATA").read_text("utf-8"))
        wheel = email.parser.HeaderParser().parsestr((dist_info / "WHEEL").read_text("utf-8"))
    except OSError as error:
        raise RepackError(f"{dist_info} is not an installed wheel: {error}") from None
    tags = wheel.get_all("Tag") or []
    if not tags or not meta["Name"] or not meta["Version"]:
        raise RepackError(f"{dist_info} does not name its distribution, version and tag")
    name = str(meta["Name"]).replace("-", "_").lower()
    return f"{name}-{meta['Version']}-{tags[0]}.whl"


def _hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def repack(dist_info: Path, out: Path) -> Path:
    """Write the wheel of the installed distribution ``dist_info`` into the folder ``out``."""
    root = dist_info.parent
    names = wheel_files(dist_info)
    target = out / wheel_name(dist_info)
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            try:
                data = (root / name).read_bytes()
            except OSError as error:
                raise RepackError(
                    f"an installed file of {dist_info.name} is gone: {error.filename}"
                ) from None
            archive.writestr(name, data)
            writer.writerow([name, _hash(data), str(len(data))])
        writer.writerow([f"{dist_info.name}/RECORD", "", ""])
        archive.writestr(f"{dist_info.name}/RECORD", record.getvalue())
    return target


# What a wheel holds that was compiled for one CPU.
_COMPILED = (".so", ".pyd", ".dylib")


def _pure_wheel_file(text: str) -> str:
    """A WHEEL file's text for a pure wheel: purelib, tagged ``py3-none-any``."""
    lines = []
    for line in text.splitlines():
        key = line.partition(":")[0].strip().lower()
        if key == "root-is-purelib":
            lines.append("Root-Is-Purelib: true")
        elif key == "tag":
            if "Tag: py3-none-any" not in lines:
                lines.append("Tag: py3-none-any")
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def pure(wheel: Path, out: Path) -> Path:
    """``wheel`` without its compiled files (an optional extension's), as the pure
    ``py3-none-any`` wheel it is then, written into the folder ``out``.

    For a distribution whose extensions are optional (fabfleet's analysis kernel): its
    wheel built on one CPU then installs on any. Entries keep their order and times, so
    the same wheel gives the same bytes.
    """
    name, version, *_ = wheel.name.removesuffix(".whl").split("-")
    target = out / f"{name}-{version}-py3-none-any.whl"
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    with zipfile.ZipFile(wheel) as source:
        infos = source.infolist()
        info_dirs = {i.filename.split("/")[0] for i in infos if i.filename.endswith("/WHEEL")}
        if len(info_dirs) != 1:
            raise RepackError(f"{wheel.name} is not a wheel: no single .dist-info/WHEEL in it")
        dist_info = info_dirs.pop()
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            record_info: zipfile.ZipInfo | None = None
            for info in infos:
                if info.filename.endswith(_COMPILED) or info.is_dir():
                    continue
                if info.filename == f"{dist_info}/RECORD":
                    record_info = info
                    continue
                data = source.read(info)
                if info.filename == f"{dist_info}/WHEEL":
                    data = _pure_wheel_file(data.decode("utf-8")).encode("utf-8")
                entry = zipfile.ZipInfo(info.filename, info.date_time)
                entry.external_attr = info.external_attr
                entry.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(entry, data)
                writer.writerow([info.filename, _hash(data), str(len(data))])
            if record_info is None:
                raise RepackError(f"{wheel.name} is not a wheel: it has no RECORD")
            writer.writerow([f"{dist_info}/RECORD", "", ""])
            entry = zipfile.ZipInfo(record_info.filename, record_info.date_time)
            entry.external_attr = record_info.external_attr
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, record.getvalue())
    return target
