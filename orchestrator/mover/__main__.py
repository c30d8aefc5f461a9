"""``python3 -m orchestrator.mover``: the same as ``fabfleet-mover``."""

import sys

from orchestrator.mover.cli import main

sys.exit(main())
