"""The kubernetes backend: one lab = one namespace rendered by `lab class render`.

It has NOT met a real cluster: its tests run the official client against a loopback
server that answers with hand-written responses in the API's shapes
(tests/lab/classroom/test_kubernetes_backend.py). It drives a lab that is already
applied (`kubectl apply -f k8s/<name>/`), from inside the cluster (a grading Job in the
lab's namespace) or from a machine with a kubeconfig:
stop/start = scale the Deployment to 0/1; partition/heal = create/delete the
`partition-<service>` NetworkPolicy (the same manifest the renderer writes); pause has no
Kubernetes verb (docs/kubernetes.md). Services are addressed by their cluster DNS names on
their default ports, as on the Compose network.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from lab.backends.base import Backend, BackendError, ServiceStatus
from services.ports import BY_NAME, PROXY_OFFSET, SERVICES, VIA_PROXY, Endpoint

PAUSE_NOTE = (
    "Kubernetes has no pause (the cgroup freezer is not exposed): run pause scenarios on "
    "`lab up --backend local` or `--backend docker` (docs/kubernetes.md)"
)


def _client(api_client: Any | None) -> Any:
    try:
        from kubernetes import client, config
    except ImportError:
        raise BackendError(
            "the kubernetes backend needs the `kubernetes` package: pip install 'wirelab[kubernetes]'"
        ) from None
    if api_client is not None:
        return client, api_client
    try:
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config()
        else:
            config.load_kube_config()
    except Exception as exc:  # the client raises several kinds; each means "no cluster"
        raise BackendError(
            f"no Kubernetes cluster configured ({type(exc).__name__}: {exc})"
        ) from None
    return client, client.ApiClient()


class KubernetesBackend(Backend):
    name = "kubernetes"
    capabilities = frozenset({"stop", "start", "partition", "heal", "raw-transport"})

    def __init__(self, namespace: str | None = None, api_client: Any | None = None,
                 domain: str = "svc.cluster.local") -> None:  # fmt: skip
        self.namespace = namespace or os.environ.get("WIRELAB_K8S_NAMESPACE") or ""
        if not self.namespace:
            raise BackendError(
                "which lab? give the namespace (WIRELAB_K8S_NAMESPACE=wirelab-<student>)"
            )
        self.domain = domain
        client, api = _client(api_client)
        self._models = client
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)
        self.net = client.NetworkingV1Api(api)

    def capability_note(self, capability: str) -> str | None:
        if capability in ("pause", "resume"):
            return PAUSE_NOTE
        return super().capability_note(capability)

    # -- API calls, each turned into one BackendError line ----------------------------
    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return fn(*args, **kwargs)
        except ApiException as exc:
            raise BackendError(
                f"Kubernetes refused to {what} in {self.namespace}: {exc.status} {exc.reason}"
            ) from None
        except OSError as exc:
            raise BackendError(f"Kubernetes API unreachable ({what}): {exc}") from None

    def _scale(self, service: str, replicas: int) -> None:
        self._check(service)
        self._call(
            f"scale {service} to {replicas}", self.apps.patch_namespaced_deployment_scale,
            service, self.namespace, {"spec": {"replicas": replicas}},
        )  # fmt: skip

    def _check(self, service: str) -> None:
        if service not in SERVICES:
            raise BackendError(f"unknown service {service!r}: choose from {', '.join(SERVICES)}")

    # -- lifecycle ---------------------------------------------------------------------
    def status(self) -> list[ServiceStatus]:
        deployments = self._call(
            "list deployments", self.apps.list_namespaced_deployment, self.namespace
        )
        policies = self._call(
            "list network policies", self.net.list_namespaced_network_policy, self.namespace
        )
        cut = {p.metadata.name.removeprefix("partition-") for p in policies.items
               if p.metadata.name.startswith("partition-")}  # fmt: skip
        by_name = {d.metadata.name: d for d in deployments.items}
        out = []
        for service in SERVICES:
            addrs = [f"{h}:{p}" for h, p in (self.address(e.name) for e in _endpoints(service))]
            d = by_name.get(service)
            if d is None:
                out.append(ServiceStatus(service, "not started", addrs, detail="no Deployment"))
                continue
            wanted = d.spec.replicas or 0
            ready = (d.status.ready_replicas or 0) if d.status else 0
            if wanted == 0:
                state = "stopped"
            elif service in cut:
                state = "partitioned"
            elif ready >= wanted:
                state = "healthy"
            else:
                state = "starting"
            out.append(ServiceStatus(service, state, addrs, detail=f"{ready}/{wanted} ready"))
        return out

    def _wait_ready(self, services: list[str], timeout: float) -> list[ServiceStatus]:
        deadline = time.monotonic() + timeout
        while True:
            rows = [r for r in self.status() if r.service in services]
            if all(r.state == "healthy" for r in rows):
                return rows
            if time.monotonic() > deadline:
                late = ", ".join(f"{r.service} {r.detail}" for r in rows if r.state != "healthy")
                raise BackendError(
                    f"not ready in {timeout:.0f} s: {late} (kubectl -n {self.namespace} get pods)"
                )
            time.sleep(0.5)

    def up(self, services: list[str] | None = None, timeout: float = 120.0) -> list[ServiceStatus]:
        chosen = list(services or SERVICES)
        for service in chosen:
            self._scale(service, 1)
        return self._wait_ready(chosen, timeout)

    def down(self, volumes: bool = False) -> None:
        if volumes:
            raise BackendError(
                f"restapi's data is a PersistentVolumeClaim: `kubectl delete namespace {self.namespace}` removes the lab and its data"
            )
        for service in SERVICES:
            self._scale(service, 0)

    # -- addressing --------------------------------------------------------------------
    def address(self, endpoint: str) -> tuple[str, int]:
        base = BY_NAME.get(endpoint.removesuffix(VIA_PROXY))
        if base is None or (endpoint.endswith(VIA_PROXY) and not base.proxied):
            raise BackendError(f"unknown endpoint {endpoint!r}")
        if endpoint.endswith(VIA_PROXY):
            return f"faultproxy.{self.namespace}.{self.domain}", base.port + PROXY_OFFSET
        return f"{base.service}.{self.namespace}.{self.domain}", base.port

    def ca_path(self) -> str:
        path = os.environ.get("WIRELAB_K8S_CA")
        if not path:
            raise BackendError(
                "mount the lab's `lab-tls` Secret and set WIRELAB_K8S_CA to its ca.pem"
            )
        return path

    # -- actions -----------------------------------------------------------------------
    def stop(self, service: str) -> None:
        self._scale(service, 0)

    def start(self, service: str, timeout: float = 120.0) -> None:
        self._scale(service, 1)
        self._wait_ready([service], timeout)

    def partition(self, service: str) -> None:
        from lab.classroom.kubernetes import partition

        self._check(service)
        self._call(
            f"partition {service}", self.net.create_namespaced_network_policy,
            self.namespace, partition(service, self.namespace),
        )  # fmt: skip

    def heal(self, service: str) -> None:
        self._check(service)
        self._call(
            f"heal {service}", self.net.delete_namespaced_network_policy,
            f"partition-{service}", self.namespace,
        )  # fmt: skip

    def pause(self, service: str) -> None:
        raise BackendError(PAUSE_NOTE)

    def resume(self, service: str) -> None:
        raise BackendError(PAUSE_NOTE)

    def logs(self, service: str, follow: bool = False, tail: int = 200) -> Iterator[str]:
        self._check(service)
        pods = self._call(
            "list pods", self.core.list_namespaced_pod, self.namespace,
            label_selector=f"app.kubernetes.io/component={service}",
        )  # fmt: skip
        if not pods.items:
            raise BackendError(f"{service} has no pod in {self.namespace} (stopped?)")
        text = self._call(
            "read a log", self.core.read_namespaced_pod_log, pods.items[0].metadata.name,
            self.namespace, tail_lines=tail,
        )  # fmt: skip
        yield from str(text).splitlines()


def _endpoints(service: str) -> list[Endpoint]:
    return [e for e in BY_NAME.values() if e.service == service]
