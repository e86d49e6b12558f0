"""`lab class render --target kubernetes`: one namespace per lab, as manifest files.

Inside a namespace every service keeps its default port and is reached by its name, as
on the Compose network, so faultproxy's config is the Compose one (lab/proxies.py with
the service names as upstreams). The port plan's offset of each lab is recorded on its
namespace (an annotation), so a lab keeps its slot if it moves between a host and a
cluster. What students reach from outside: one Ingress per lab for the HTTP endpoints and
one NodePort Service for the raw TCP/UDP ones (docs/kubernetes.md says why, and the
limits). Nothing here has met a real cluster: the suite validates every file against the
Kubernetes schemas (kubernetes-validate), offline.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from pathlib import Path

import yaml

from lab.classroom.port_plan import offsets_for
from lab.proxies import standard_proxies
from services.common.lab_ca import ensure_ca
from services.ports import ENDPOINTS, PROXY_OFFSET, SERVICES, Endpoint

NAMESPACE_PREFIX = "wirelab-"
STATE = "/var/lib/wirelab"
APP_LABEL = "app.kubernetes.io/name"
PART_LABEL = "app.kubernetes.io/component"

# Requests from bench/bench_class.py's idle figures (RSS of each service on the local
# backend, rounded up), limits with room for a class's bursts: see docs/kubernetes.md.
RESOURCES = {
    "rawhttp": ("48Mi", "128Mi"),
    "rawhttp-blocking": ("32Mi", "64Mi"),
    "udpstream": ("32Mi", "64Mi"),
    "restapi": ("80Mi", "192Mi"),
    "faultproxy": ("48Mi", "256Mi"),
}
CPU_REQUEST, CPU_LIMIT = "5m", "500m"


def namespace_for(name: str) -> str:
    return NAMESPACE_PREFIX + name


def _meta(name: str, namespace: str, component: str | None = None) -> dict:
    labels = {APP_LABEL: "wirelab", "app.kubernetes.io/instance": namespace}
    if component:
        labels[PART_LABEL] = component
    return {"name": name, "namespace": namespace, "labels": labels}


def _selector(service: str) -> dict:
    return {APP_LABEL: "wirelab", PART_LABEL: service}


def _endpoints(service: str) -> list[Endpoint]:
    return [e for e in ENDPOINTS if e.service == service]


def _container_ports(service: str) -> list[dict]:
    ports = [(e, e.port) for e in _endpoints(service)]
    if service == "faultproxy":
        ports += [(e, e.port + PROXY_OFFSET) for e in ENDPOINTS if e.proxied]
    return [
        {"name": _port_name(e, port), "containerPort": port, "protocol": e.proto.upper()}
        for e, port in ports
    ]


def _port_name(e: Endpoint, port: int) -> str:
    """A port name (IANA_SVC_NAME: <= 15 chars, a-z0-9-): ``p8080``, ``p18080``."""
    return f"p{port}"


def _command(service: str) -> list[str]:
    py = ["python", "-m"]
    if service == "rawhttp":
        return py + ["services.rawhttp", "--host=0.0.0.0", "--port=8080", "--echo-port=9000",
                     "--line-port=9001", "--https-port=8443", "--mode=selectors",
                     f"--state-dir={STATE}"]  # fmt: skip
    if service == "rawhttp-blocking":
        return py + ["services.rawhttp", "--host=0.0.0.0", "--port=8081", "--mode=blocking",
                     "--http-only", f"--state-dir={STATE}"]  # fmt: skip
    if service == "udpstream":
        return py + ["services.udpstream", "--host=0.0.0.0", "--port=9999"]
    if service == "restapi":
        return py + ["services.restapi", "--host=0.0.0.0", "--port=8000", f"--state-dir={STATE}"]
    allow = [f"--allow={s}" for s in SERVICES if s != "faultproxy"]
    return py + ["services.faultproxy", "--host=0.0.0.0", "--port=8474",
                 "--config=/etc/wirelab/faultproxy.json", "--public-listen", *allow]  # fmt: skip


def _probe(service: str, period: int) -> dict:
    """Kubelet-native probes (no process started per probe, unlike an exec healthcheck)."""
    if service == "udpstream":  # UDP: no native probe; its TCP-less health needs a process
        return {
            "exec": {"command": ["python", "/opt/wirelab/healthcheck.py", "udpstream"]},
            "periodSeconds": max(period, 60),
            "timeoutSeconds": 5,
        }
    port = _endpoints(service)[0].port
    path = "/version" if service == "faultproxy" else "/healthz"
    if service == "faultproxy":  # /version wants the token; a TCP connect is enough here
        return {"tcpSocket": {"port": port}, "periodSeconds": period}
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period}


def deployment(service: str, namespace: str, image: str) -> dict:
    request, limit = RESOURCES[service]
    container: dict = {
        "name": service,
        "image": image,
        "command": _command(service),
        "ports": _container_ports(service),
        "readinessProbe": _probe(service, 10),
        "livenessProbe": _probe(service, 30) | {"failureThreshold": 3},
        "resources": {
            "requests": {"cpu": CPU_REQUEST, "memory": request},
            "limits": {"cpu": CPU_LIMIT, "memory": limit},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "runAsUser": 10001,
        },  # fmt: skip
    }
    volumes: list[dict] = []
    mounts: list[dict] = []
    if service == "restapi":
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": "restapi-data"}})
        mounts.append({"name": "data", "mountPath": STATE})
    if service == "rawhttp":
        volumes.append({"name": "tls", "secret": {"secretName": "lab-tls"}})
        mounts.append({"name": "tls", "mountPath": f"{STATE}/tls", "readOnly": True})
    if service == "faultproxy":
        volumes.append({"name": "config", "configMap": {"name": "faultproxy-config"}})
        mounts.append({"name": "config", "mountPath": "/etc/wirelab", "readOnly": True})
        container["env"] = [{
            "name": "WIRELAB_FAULTPROXY_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "faultproxy-token", "key": "token"}},
        }]  # fmt: skip
    if mounts:
        container["volumeMounts"] = mounts
    pod: dict = {"containers": [container], "automountServiceAccountToken": False}
    if volumes:
        pod["volumes"] = volumes
    if service == "restapi":
        pod["securityContext"] = {"fsGroup": 10001}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(service, namespace, service),
        "spec": {
            "replicas": 1,
            # One writer of the SQLite file at a time: the old pod goes before the new one.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": _selector(service)},
            "template": {"metadata": {"labels": _meta(service, namespace, service)["labels"]},
                         "spec": pod},
        },
    }  # fmt: skip


def cluster_service(service: str, namespace: str) -> dict:
    ports = [
        {"name": p["name"], "port": p["containerPort"], "targetPort": p["containerPort"],
         "protocol": p["protocol"]}
        for p in _container_ports(service)
    ]  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(service, namespace, service),
        "spec": {"selector": _selector(service), "ports": ports},
    }


# The raw endpoints a student reaches from outside through the lab's NodePort Service:
# everything that is not plain HTTP (HTTP goes through the Ingress).
RAW_ENDPOINTS = ("rawhttp.echo", "rawhttp.line", "rawhttp.https", "udpstream")


def student_access(namespace: str) -> list[dict]:
    """One NodePort Service per target service (a Service selects one Deployment's pods)."""
    out = []
    by_service: dict[str, list[dict]] = {}
    for e in ENDPOINTS:
        if e.name in RAW_ENDPOINTS:
            by_service.setdefault(e.service, []).append(
                {"name": f"p{e.port}", "port": e.port, "targetPort": e.port,
                 "protocol": e.proto.upper()}
            )  # fmt: skip
    via = [
        {"name": f"p{e.port + PROXY_OFFSET}", "port": e.port + PROXY_OFFSET,
         "targetPort": e.port + PROXY_OFFSET, "protocol": e.proto.upper()}
        for e in ENDPOINTS if e.proxied and e.kind != "http"
    ]  # fmt: skip
    by_service.setdefault("faultproxy", []).extend(via)
    for service, ports in by_service.items():
        out.append({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(f"{service}-nodeport", namespace, service),
            "spec": {"type": "NodePort", "selector": _selector(service), "ports": ports},
        })  # fmt: skip
    return out


def ingress(namespace: str, name: str, domain: str) -> dict:
    """HTTP endpoints by host name: <endpoint>.<student>.<domain>."""
    # The console runs on the host beside a lab (lab console), in no Deployment.
    http_endpoints = [e for e in ENDPOINTS if e.kind == "http" and e.service in SERVICES]
    rules = []
    for e in http_endpoints:
        rules.append(
            _ingress_rule(f"{e.name.replace('.', '-')}.{name}.{domain}", e.service, e.port)
        )
        if e.proxied:
            rules.append(_ingress_rule(
                f"{e.name.replace('.', '-')}-via-proxy.{name}.{domain}", "faultproxy",
                e.port + PROXY_OFFSET,
            ))  # fmt: skip
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _meta("lab", namespace),
        "spec": {"rules": rules},
    }


def _ingress_rule(host: str, service: str, port: int) -> dict:
    backend = {"service": {"name": service, "port": {"number": port}}}
    return {"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix",
                                              "backend": backend}]}}  # fmt: skip


def network_policies(namespace: str) -> list[dict]:
    """Deny ingress from other namespaces; allow this namespace, the ingress controller and
    node traffic (NodePort and kubelet probes arrive from outside any namespace)."""
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _meta("default-deny-other-namespaces", namespace),
            "spec": {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {"from": [{"podSelector": {}}]},
                    {"from": [{"namespaceSelector": {"matchLabels": {
                        "kubernetes.io/metadata.name": "ingress-nginx"}}}]},
                    {"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                     "ports": [{"port": p["port"], "protocol": p["protocol"]}
                               for s in student_access(namespace) for p in s["spec"]["ports"]]},
                ],
            },
        }
    ]  # fmt: skip


def partition(service: str, namespace: str) -> dict:
    """`lab action partition SERVICE`: its pods take no ingress at all. `heal` deletes it."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(f"partition-{service}", namespace, service),
        "spec": {"podSelector": {"matchLabels": _selector(service)}, "policyTypes": ["Ingress"],
                 "ingress": []},
    }  # fmt: skip


def _lab_ca_pem(tmp: Path, name: str) -> dict[str, str]:
    files = ensure_ca(tmp / name)
    return {
        "ca.pem": files.ca_cert.read_text(),
        "server.pem": files.server_cert.read_text(),
        "server-key.pem": files.server_key.read_text(),
    }


def lab_manifests(name: str, offset: int, image: str, domain: str, tmp: Path) -> dict[str, dict]:
    """File name -> manifest, for one lab."""
    ns = namespace_for(name)
    out: dict[str, dict] = {
        "00-namespace.yaml": {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": ns,
                "labels": {APP_LABEL: "wirelab", "wirelab/student": name},
                "annotations": {"wirelab/port-offset": str(offset)},
            },
        },  # fmt: skip
        "01-faultproxy-token.yaml": {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": _meta("faultproxy-token", ns, "faultproxy"),
            "type": "Opaque",
            "stringData": {"token": secrets.token_urlsafe(18)},
        },
        "01-lab-tls.yaml": {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": _meta("lab-tls", ns, "rawhttp"),
            "type": "Opaque",
            "stringData": _lab_ca_pem(tmp, name),
        },
        "02-faultproxy-config.yaml": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("faultproxy-config", ns, "faultproxy"),
            "data": {
                "faultproxy.json": json.dumps(
                    standard_proxies(
                        listen_host="0.0.0.0", upstream_host=lambda ep: ep.service, env={}
                    ),
                    indent=2,
                )
            },
        },  # fmt: skip
        "03-restapi-data.yaml": {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": _meta("restapi-data", ns, "restapi"),
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "256Mi"}},
            },
        },  # fmt: skip
        "04-network-policy.yaml": network_policies(ns)[0],
        "06-ingress.yaml": ingress(ns, name, domain),
    }
    for service in SERVICES:
        out[f"05-deployment-{service}.yaml"] = deployment(service, ns, image)
        out[f"05-service-{service}.yaml"] = cluster_service(service, ns)
    for svc in student_access(ns):
        out[f"06-{svc['metadata']['name']}.yaml"] = svc
    for service in SERVICES:
        out[f"actions/partition-{service}.yaml"] = partition(service, ns)
    return out


def render_class(
    names: list[str], out: Path, image: str = "wirelab:latest", domain: str = "lab.example.org",
    first_slot: int = 0,
) -> list[Path]:  # fmt: skip
    """Write ``out/<name>/*.yaml`` (apply the folder) and ``out/<name>/actions/`` (the
    partition policies, applied and deleted by `partition` and `heal`)."""
    written: list[Path] = []
    offsets = offsets_for(len(names), first_slot)
    with tempfile.TemporaryDirectory(prefix="wirelab-render-") as tmp:
        for name, offset in zip(names, offsets, strict=True):
            for rel, manifest in lab_manifests(name, offset, image, domain, Path(tmp)).items():
                path = out / name / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(yaml.safe_dump(manifest, sort_keys=False))
                written.append(path)
    return written
