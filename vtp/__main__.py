"""`python -m vtp`: the `vtp` command."""

import sys

from vtp.cli.main import command

sys.exit(command())
