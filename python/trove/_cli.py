"""The ``trove`` command installed with the Python package: the same Rust CLI as the
standalone binary, run in this process."""

import signal
import sys

from . import _trove


def main() -> None:
    # The CLI handles its own interruptions (a fetch stops, nothing half-written is left):
    # Ctrl-C must reach it as for any command, not wait for Python's handler.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    code = _trove.run_cli(["trove", *sys.argv[1:]])
    sys.stdout.flush()
    sys.exit(code)


if __name__ == "__main__":
    main()
