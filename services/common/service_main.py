"""The shared `main` wrapper: logging setup and one-line fatal errors."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from services.common.errors import ServiceStartError

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def setup_logging(service: str, level: str | None = None) -> logging.Logger:
    level = (level or os.environ.get("WIRELAB_LOG_LEVEL", "info")).upper()
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr, force=True)
    return logging.getLogger(service)


def run_service(service: str, main: Callable[[], None]) -> None:
    """Run a service's main loop; turn start errors and Ctrl-C into clean exits."""
    try:
        main()
    except ServiceStartError as exc:
        print(f"{service}: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(0)
