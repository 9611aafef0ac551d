"""Entry point of the frozen clinic-hub bundle (see shared/update/launcher.py)."""

import sys

from shared.update.launcher import launch

if __name__ == "__main__":
    sys.exit(launch("hub"))
