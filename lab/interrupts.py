"""Ctrl-C where Python would print a traceback: while `lab` imports, and after a `lab run`
has already rolled back. There one line is said and the process exits 130 at once.

Importing this module as `lab`'s command line (``lab ...`` or ``python -m lab.cli``)
installs the start-up guard, before the heavy imports that follow it in lab/cli.py.
Only signal, os and sys are imported here, so the guard is in place within milliseconds.
"""

from __future__ import annotations

import os
import signal
import sys

EXIT_INTERRUPTED = 130


def exit_on_interrupt(message: str) -> None:
    """From now on, SIGINT prints ``message`` (one line) and exits 130, nothing else."""

    def handler(signum: int, frame: object) -> None:
        try:
            sys.stdout.flush()
        except Exception:  # a half-written line is fine; the exit is what matters
            pass
        os.write(2, (message + "\n").encode())
        os._exit(EXIT_INTERRUPTED)

    signal.signal(signal.SIGINT, handler)


def raise_on_interrupt() -> None:
    """SIGINT raises KeyboardInterrupt again (Python's default), for code that rolls back."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def ignore_interrupts() -> None:
    """A Ctrl-C while the process exits changes nothing (and prints no traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _running_as_cli() -> bool:
    argv0 = sys.argv[0] if sys.argv else ""
    return os.path.basename(argv0) == "lab" or argv0.endswith(os.path.join("lab", "cli.py"))


if _running_as_cli():
    exit_on_interrupt("interrupted while starting: nothing was changed")
