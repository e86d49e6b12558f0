"""Stack backends: where logical names point and how services start, stop, pause and resume."""

from __future__ import annotations

from lab.backends.base import Backend, BackendError, ServiceStatus


def get_backend(name: str = "auto", **kwargs) -> Backend:
    """``local``, ``docker`` or ``auto`` (docker when an engine answers, else local)."""
    if name == "auto":
        from lab.backends import docker_backend

        name = "docker" if docker_backend.engine_available() else "local"
    if name == "local":
        from lab.backends.local import LocalBackend

        return LocalBackend(**kwargs)
    if name == "docker":
        from lab.backends.docker_backend import DockerBackend

        return DockerBackend(**kwargs)
    if name == "kubernetes":  # a lab rendered by `lab class render` (docs/kubernetes.md)
        from lab.backends.kubernetes_backend import KubernetesBackend

        return KubernetesBackend(**kwargs)
    raise BackendError(f"unknown backend {name!r}: choose local, docker, kubernetes or auto")


__all__ = ["Backend", "BackendError", "ServiceStatus", "get_backend"]
