"""Errors a service reports as one line (cause and fix) and a non-zero exit, never a traceback."""

from __future__ import annotations


class ServiceStartError(Exception):
    """A service could not start. The message is the one line a user sees."""

    exit_code = 2


class PortInUse(ServiceStartError):
    def __init__(self, service: str, host: str, port: int, proto: str, env_var: str | None):
        self.service, self.host, self.port, self.proto = service, host, port, proto
        fix = f"set {env_var}=<port> or pass a --port flag" if env_var else "pass a different port"
        super().__init__(
            f"port {port}/{proto} on {host} for {service} is already in use: "
            f"stop whatever holds it (`ss -lntup | grep :{port}`) or move it: {fix}"
        )
