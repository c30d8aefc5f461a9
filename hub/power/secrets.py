"""Reading a power device's named secret: the file ``<secrets dir>/<name>``, mode 0600.

The fleet file only names a secret (``secret: plug-mk3``); its value (a password or token)
lives in the hub's power secrets directory (docs/power.md). A file others may read is
refused, as ssh refuses an open private key.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

from hub.power.state import PowerError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def read_secret(directory: Path, name: str) -> str:
    if not _NAME.match(name):
        raise PowerError(f"'{name}' is not a secret name (letters, digits, '.', '_', '-')")
    path = directory / name
    try:
        info = path.stat()
        if info.st_mode & 0o077:
            raise PowerError(f"the secret file {path} may be read by others; chmod 600 it")
        if not stat.S_ISREG(info.st_mode):
            raise PowerError(f"the secret {path} is not a file")
        value = path.read_text("utf-8").strip()
    except OSError as error:
        raise PowerError(
            f"the secret {name} cannot be read from {path}: {error.strerror}"
        ) from None
    if not value:
        raise PowerError(f"the secret file {path} is empty")
    return value
