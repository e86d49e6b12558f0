"""The kubernetes backend against a loopback API server with hand-written responses.

No cluster runs here: the server answers in the shapes of the Kubernetes API (apps/v1
Deployments and their scale subresource, networking.k8s.io/v1 NetworkPolicies, core/v1
pods and logs) and records every request, so the tests assert what the official client
actually sent. It is not a recording of a real cluster: see docs/kubernetes.md.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import pytest

kubernetes = pytest.importorskip("kubernetes")

from lab.backends.base import BackendError  # noqa: E402
from lab.backends.kubernetes_backend import KubernetesBackend  # noqa: E402
from services.ports import SERVICES  # noqa: E402

NS = "wirelab-ada"


class FakeCluster:
    def __init__(self) -> None:
        self.replicas = {s: 1 for s in SERVICES}
        self.ready = {s: 1 for s in SERVICES}
        self.policies: dict[str, dict] = {}
        self.requests: list[tuple[str, str, str, object]] = []  # method, path, type, body
        self.refuse: int | None = None

    def deployment(self, name: str) -> dict:
        return {
            "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": self.replicas[name],
                     "selector": {"matchLabels": {"app.kubernetes.io/component": name}},
                     "template": {"metadata": {"labels": {"app.kubernetes.io/component": name}}}},
            "status": {"replicas": self.replicas[name], "readyReplicas": self.ready[name]},
        }  # fmt: skip

    def answer(self, method: str, path: str, body: object) -> tuple[int, object]:
        if self.refuse:
            return self.refuse, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                 "reason": "Forbidden", "code": self.refuse}  # fmt: skip
        apps = f"/apis/apps/v1/namespaces/{NS}/deployments"
        nets = f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies"
        if method == "GET" and path == apps:
            items = [self.deployment(s) for s in SERVICES]
            for s in SERVICES:  # a scaled-up pod turns ready one list later
                self.ready[s] = self.replicas[s]
            return 200, {"kind": "DeploymentList", "apiVersion": "apps/v1", "metadata": {},
                         "items": items}  # fmt: skip
        if m := re.fullmatch(apps + r"/([a-z-]+)/scale", path):
            name = m.group(1)
            self.replicas[name] = body["spec"]["replicas"]  # type: ignore[index]
            if self.replicas[name] == 0:
                self.ready[name] = 0
            return 200, {"kind": "Scale", "apiVersion": "autoscaling/v1",
                         "metadata": {"name": name, "namespace": NS},
                         "spec": {"replicas": self.replicas[name]},
                         "status": {"replicas": self.replicas[name]}}  # fmt: skip
        if method == "GET" and path == nets:
            return 200, {"kind": "NetworkPolicyList", "apiVersion": "networking.k8s.io/v1",
                         "metadata": {}, "items": list(self.policies.values())}  # fmt: skip
        if method == "POST" and path == nets:
            name = body["metadata"]["name"]  # type: ignore[index]
            if name in self.policies:
                return 409, {"kind": "Status", "apiVersion": "v1", "reason": "AlreadyExists",
                             "code": 409}  # fmt: skip
            self.policies[name] = body  # type: ignore[assignment]
            return 201, body
        if method == "DELETE" and path.startswith(nets + "/"):
            name = path.rsplit("/", 1)[1]
            if self.policies.pop(name, None) is None:
                return 404, {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "reason": "NotFound",
                    "code": 404,
                }
            return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}
        if method == "GET" and path == f"/api/v1/namespaces/{NS}/pods":
            return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {},
                         "items": [{"metadata": {"name": "restapi-7c9-abcde", "namespace": NS}}]}  # fmt: skip
        if method == "GET" and path == f"/api/v1/namespaces/{NS}/pods/restapi-7c9-abcde/log":
            return 200, "GET /healthz 200\nPOST /api/users 201\n"
        return 404, {"kind": "Status", "apiVersion": "v1", "reason": "NotFound", "code": 404}


@pytest.fixture
def cluster():
    state = FakeCluster()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            path = urlparse(self.path).path
            state.requests.append(
                (self.command, self.path, self.headers.get("Content-Type", ""), body)
            )
            status, answer = state.answer(self.command, path, body)
            data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
            self.send_response(status)
            ctype = "text/plain" if isinstance(answer, str) else "application/json"
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    config = kubernetes.client.Configuration()
    config.host = f"http://127.0.0.1:{server.server_address[1]}"
    api = kubernetes.client.ApiClient(config)
    try:
        yield state, KubernetesBackend(NS, api_client=api)
    finally:
        server.shutdown()
        server.server_close()


def test_status_addresses_and_the_lab_actions(cluster):
    state, backend = cluster
    assert [r.state for r in backend.status()] == ["healthy"] * len(SERVICES)
    assert backend.address("restapi") == (f"restapi.{NS}.svc.cluster.local", 8000)
    assert backend.address("rawhttp.echo.via_proxy") == (
        f"faultproxy.{NS}.svc.cluster.local",
        19000,
    )

    backend.stop("restapi")
    method, path, ctype, body = state.requests[-1]
    assert (method, path) == ("PATCH", f"/apis/apps/v1/namespaces/{NS}/deployments/restapi/scale")
    assert body == {"spec": {"replicas": 0}}
    # A merge patch of a dict; a JSON patch (a list of operations) would be refused.
    assert ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json")
    assert {r.service: r.state for r in backend.status()}["restapi"] == "stopped"
    assert backend.paused_or_stopped() == ["restapi"]
    backend.start("restapi", timeout=10)
    assert {r.service: r.state for r in backend.status()}["restapi"] == "healthy"

    backend.partition("faultproxy")
    sent = state.policies["partition-faultproxy"]
    assert sent["spec"]["ingress"] == [] and sent["metadata"]["namespace"] == NS
    assert {r.service: r.state for r in backend.status()}["faultproxy"] == "partitioned"
    backend.heal("faultproxy")
    assert not state.policies
    assert list(backend.logs("restapi")) == ["GET /healthz 200", "POST /api/users 201"]


def test_refusals_and_what_it_cannot_do_are_one_line(cluster):
    state, backend = cluster
    with pytest.raises(BackendError, match="no Kubernetes verb|Kubernetes has no pause"):
        backend.pause("restapi")
    assert "pause" in (backend.capability_note("pause") or "")
    with pytest.raises(BackendError, match=f"Kubernetes refused to heal restapi in {NS}: 404"):
        backend.heal("restapi")  # nothing to heal
    with pytest.raises(BackendError, match="unknown service 'restpi'"):
        backend.stop("restpi")
    state.refuse = 403
    with pytest.raises(BackendError, match=f"Kubernetes refused to list deployments in {NS}: 403"):
        backend.status()
    with pytest.raises(BackendError, match="which lab"):
        KubernetesBackend("", api_client=object())
