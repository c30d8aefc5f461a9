"""``python3 -m hub``: the same as ``fabfleet-hub``."""

from hub.cli import main

main()
