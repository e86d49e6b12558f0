"""``python -m services.restapi --host H --port P --state-dir S [--rate-limit api=5/1] [--no-rate-limit]``."""

from __future__ import annotations

import sqlite3
import sys

from services.common.errors import ServiceStartError
from services.common.service_main import run_service, setup_logging
from services.restapi.settings import SERVICE, parse_settings


def main(argv: list[str] | None = None) -> None:
    def run() -> None:
        try:
            settings = parse_settings(argv)
        except OSError as exc:  # e.g. a --state-dir that cannot be created
            raise ServiceStartError(f"cannot use the state folder: {exc}") from None
        setup_logging(SERVICE, settings.log_level)
        from services.restapi.server import serve  # after argument errors, which need no FastAPI

        try:
            serve(settings)
        except (sqlite3.Error, OSError) as exc:  # unreadable, unwritable or corrupt database
            raise ServiceStartError(f"cannot open {settings.db_path}: {exc}") from None

    run_service(SERVICE, run)


if __name__ == "__main__":
    main(sys.argv[1:])
