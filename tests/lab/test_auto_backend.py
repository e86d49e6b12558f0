"""`lab up --backend auto` (what `make lab` runs): docker only when the image can be made.

A fresh machine with an engine but no registry and no debootstrap must fall back to the
local backend with one line saying why and what to run; these tests fake the engine.
"""

from __future__ import annotations

import docker.errors
import pytest

from lab.backends import docker_backend
from lab.images import DEFAULT_BASE, debootstrap_tag, image_blocker


class FakeImages:
    def __init__(self, present: set[str], pullable: bool) -> None:
        self.present, self.pullable, self.pulled = present, pullable, []

    def get(self, name: str) -> object:
        if name not in self.present:
            raise docker.errors.ImageNotFound(name)
        return object()

    def pull(self, repo: str, tag: str = "latest") -> object:
        self.pulled.append(f"{repo}:{tag}")
        if not self.pullable:
            raise docker.errors.APIError("no registry answers")
        self.present.add(f"{repo}:{tag}")
        return object()


class FakeClient:
    def __init__(self, present: set[str] | None = None, pullable: bool = False) -> None:
        self.images = FakeImages(set(present or ()), pullable)


def no_debootstrap() -> None:
    return None


def user() -> int:
    return 1000


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("WIRELAB_IMAGE", raising=False)
    monkeypatch.delenv("WIRELAB_BASE_IMAGE", raising=False)


def test_no_registry_no_debootstrap_not_root_is_blocked_with_the_fix():
    client = FakeClient()
    why, fix = image_blocker(client, find=no_debootstrap, euid=user)
    assert why == f"{DEFAULT_BASE} cannot be pulled and debootstrap is missing"
    assert fix.startswith("sudo apt-get install -y debootstrap && sudo -E ")
    assert fix.endswith(" -m lab.images")
    assert client.images.pulled == ["python:3.11-slim"]  # it did try the registry first


def test_debootstrap_without_root_is_blocked_and_says_root():
    blocked = image_blocker(FakeClient(), find=lambda: "/usr/sbin/debootstrap", euid=user)
    assert blocked is not None
    assert "needs root" in blocked[0] and "apt-get" not in blocked[1]


@pytest.mark.parametrize(
    ("present", "pullable", "find", "euid"),
    [
        ({DEFAULT_BASE}, False, no_debootstrap, user),  # the base is in the engine
        ({debootstrap_tag()}, False, no_debootstrap, user),  # built once before: reused
        (set(), True, no_debootstrap, user),  # a registry answers
        (set(), False, lambda: "/usr/sbin/debootstrap", lambda: 0),  # root can build it
    ],
)
def test_the_image_can_be_made(present, pullable, find, euid):
    assert image_blocker(FakeClient(present, pullable), find=find, euid=euid) is None


def test_a_preset_image_must_be_loaded(monkeypatch):
    monkeypatch.setenv("WIRELAB_IMAGE", "wirelab:carried")
    assert image_blocker(FakeClient({"wirelab:carried"}), find=no_debootstrap, euid=user) is None
    blocked = image_blocker(FakeClient({DEFAULT_BASE}), find=no_debootstrap, euid=user)
    assert blocked and "WIRELAB_IMAGE" in blocked[0] and "docker load" in blocked[1]


def test_auto_falls_back_to_local_in_one_line(monkeypatch):
    import lab.images

    monkeypatch.setattr(docker_backend, "engine_available", lambda: True)
    monkeypatch.setattr(lab.images, "docker_client", lambda: FakeClient())
    # A fresh machine: no debootstrap, not root (this one may have both).
    monkeypatch.setattr(
        lab.images,
        "image_blocker",
        lambda client: image_blocker(client, find=no_debootstrap, euid=user),
    )
    name, note = docker_backend.auto_backend()
    assert name == "local"
    assert "\n" not in note
    assert note.startswith("using the local backend: python:3.11-slim cannot be pulled")
    assert "(to use Docker: sudo apt-get install -y debootstrap && sudo -E " in note


def test_auto_picks_docker_when_the_image_can_be_made(monkeypatch):
    import lab.images

    monkeypatch.setattr(docker_backend, "engine_available", lambda: True)
    monkeypatch.setattr(lab.images, "docker_client", lambda: FakeClient({DEFAULT_BASE}))
    assert docker_backend.auto_backend() == ("docker", "")


def test_auto_without_an_engine_says_so(monkeypatch):
    monkeypatch.setattr(docker_backend, "engine_available", lambda: False)
    name, note = docker_backend.auto_backend()
    assert name == "local" and "no Docker engine answers" in note and "\n" not in note
