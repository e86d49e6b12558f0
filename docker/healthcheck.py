"""Container healthcheck: probe every endpoint a service owns, speaking its protocol.

Run inside the image as ``python /opt/wirelab/healthcheck.py SERVICE``. It reads the
endpoints and their in-network ports from ``services.ports`` and uses the lab's own probes
(``lab.health``): an HTTP GET, a TCP echo, a line-protocol ``LIST``, a TLS handshake, a UDP
exchange. Exit 0 when all answer, 1 with one line naming the failure otherwise.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from lab.health import HealthProbeError, probe_endpoint
    from services.ports import ENDPOINTS, SERVICES

    if len(argv) != 1 or argv[0] not in SERVICES:
        print(f"usage: healthcheck.py {{{','.join(SERVICES)}}}", file=sys.stderr)
        return 2
    service = argv[0]
    seen = []
    for ep in ENDPOINTS:
        if ep.service != service:
            continue
        try:
            # Inside the container a service listens on its default port, whatever the
            # host publishes it as.
            seen.append(f"{ep.name}: {probe_endpoint(ep, '127.0.0.1', ep.port)}")
        except (HealthProbeError, OSError) as exc:
            print(f"{ep.name} unhealthy: {exc}")
            return 1
    print("; ".join(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
