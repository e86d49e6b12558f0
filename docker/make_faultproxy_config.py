"""Write docker/faultproxy.json: the fault proxy's proxies inside the Compose network.

The file is committed, so a plain `docker compose up` works without the lab installed;
tests/test_compose_file.py fails when it drifts from lab/proxies.py. Regenerate with
``python docker/make_faultproxy_config.py``.

Inside the network every service listens on its default port and is reached by its
Compose service name, so host port overrides never change this file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_PATH = REPO_ROOT / "docker" / "faultproxy.json"


def compose_proxies() -> list[dict]:
    from lab.proxies import standard_proxies

    # env={}: the defaults, never this shell's WIRELAB_*_PORT overrides.
    return standard_proxies(listen_host="0.0.0.0", upstream_host=lambda ep: ep.service, env={})


def render() -> str:
    return json.dumps(compose_proxies(), indent=2) + "\n"


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    CONFIG_PATH.write_text(render())
    print(f"wrote {CONFIG_PATH.relative_to(REPO_ROOT)}")
