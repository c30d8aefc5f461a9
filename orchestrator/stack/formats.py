"""Every stored format's version this release writes, in one place (docs/upgrades.md).

For `fabfleet backup` and anything else that must say what a set of files is: the key
is where the file lives (the state dir's files relative to it, a print server's relative
to its data dir), the value the version this release writes and reads.
"""

from __future__ import annotations

from hub import door
from instance.data_format import data_dir_version
from instance.job_records import DB_NAME, SCHEMA_VERSION
from instance.odometer import FORMAT as COUNTERS_FORMAT
from instance.odometer_file import FILE_NAME as COUNTERS_FILE
from instance.stored_format import MARKER
from orchestrator.devices.hotplug import PRESENCE_FILE, PRESENCE_FORMAT
from orchestrator.stack.secrets import HUB_DATA, SECRETS_DIR, secrets_version


def state_dir_versions() -> dict[str, int]:
    """The host's state dir: the hub's database, the keys' marker, the presence file."""
    return {
        f"{HUB_DATA}/{door.DATABASE}": door.schema_version(),
        f"{SECRETS_DIR}/{MARKER}": secrets_version(),
        PRESENCE_FILE: PRESENCE_FORMAT,
    }


def printer_data_versions() -> dict[str, int]:
    """A print server's data dir (each printer's volume): job records, counters, marker."""
    return {DB_NAME: SCHEMA_VERSION, COUNTERS_FILE: COUNTERS_FORMAT, MARKER: data_dir_version()}
