"""The lab's container image: base image resolution, host-built wheels, and the build.

The development and CI machines reach PyPI and Debian's archive but no container
registry, so ``python:3.11-slim`` may not be pullable. Resolution, in order:

1. the requested base (``$WIRELAB_BASE_IMAGE`` or ``python:3.11-slim``) if the engine has it;
2. a pull of it;
3. a Debian base built with ``debootstrap`` and loaded with ``docker import``, tagged
   by a hash of what went into it, so a second run finds it and skips the minute.

Python dependencies are downloaded as wheels on the host (PyPI is reachable from the
host; a build container may not be) into ``docker/wheels/``, and the Dockerfile
installs them with ``--no-index``. The image build then touches no network at all.

``python -m lab.images`` does all of this and prints the base image's name, so a plain
``docker compose build`` can use it: ``export WIRELAB_BASE_IMAGE=$(python -m lab.images)``.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

from lab.backends.base import BackendError

REPO_ROOT = Path(__file__).resolve().parents[1]
WHEELS_DIR = REPO_ROOT / "docker" / "wheels"

DEFAULT_BASE = "python:3.11-slim"
APP_IMAGE = "wirelab:local"  # compose.yaml's default for $WIRELAB_IMAGE
BASE_REPO = "wirelab-base"
APP_LABEL = "org.wirelab.image"  # set on the runtime stage in the Dockerfile

DEBIAN_SUITE = "bookworm"
DEBIAN_PACKAGES = ("python3", "python3-venv", "ca-certificates")
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# Wheels target the base image's interpreter (bookworm's python3 is 3.11, as is the slim image).
TARGET_PYTHON = "3.11"
# Bump when the rootfs recipe below changes, so the cache key (the tag) changes with it.
_RECIPE_VERSION = "1"
# What the minimal rootfs does not need at run time: docs, man pages, translations, apt lists.
_SLIM_PATHS = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/lib/apt/lists",
    "var/cache/apt",
    "var/cache/debconf",
    "var/log",
)

Log = Callable[[str], None]


class ImageError(BackendError):
    """The image could not be made; the message says why and what to do."""


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def docker_client():
    """A client for the local engine, or an ImageError naming the fix."""
    try:
        import docker
    except ImportError:
        raise ImageError(
            "the `docker` Python package is missing: pip install docker (or pip install -e .)"
        ) from None
    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except Exception as exc:
        raise ImageError(
            f"no Docker engine answers ({type(exc).__name__}): start it (systemctl start docker) "
            "or use --backend local"
        ) from None
    return client


def _have_image(client, name: str) -> bool:
    import docker.errors

    try:
        client.images.get(name)
        return True
    except docker.errors.ImageNotFound:
        return False


# -- base image ---------------------------------------------------------------------------
def debootstrap_tag(suite: str = DEBIAN_SUITE, packages: tuple[str, ...] = DEBIAN_PACKAGES) -> str:
    """The imported base's tag: a hash of the recipe, so any change builds a new one."""
    key = hashlib.sha256(f"{_RECIPE_VERSION}|{suite}|{','.join(packages)}".encode()).hexdigest()
    return f"{BASE_REPO}:{suite}-{key[:10]}"


def _split_reference(ref: str) -> tuple[str, str]:
    """``repo[:tag]`` -> (repo, tag); a registry's ``host:port/`` is not a tag."""
    repo, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, "latest"
    return repo, tag


def resolve_base_image(client, requested: str | None = None, log: Log = _stderr) -> str:
    """The base image to build on: the requested one if present or pullable, else debootstrap's."""
    import docker.errors

    explicit = requested or os.environ.get("WIRELAB_BASE_IMAGE")
    requested = explicit or DEFAULT_BASE
    if _have_image(client, requested):
        return requested
    # The default base was not pullable before and the fallback is cached: use it without
    # another pull attempt, so a warm `lab up` stays quiet and quick.
    if not explicit and _have_image(client, debootstrap_tag()):
        return debootstrap_tag()
    try:
        repo, tag = _split_reference(requested)
        client.images.pull(repo, tag=tag)
        return requested
    except docker.errors.APIError as exc:
        reason = str(exc.explanation or exc).splitlines()[0][:160]
        log(f"base image {requested} cannot be pulled ({reason}); using a debootstrap base")
    return ensure_debootstrap_base(client, log=log)


def find_debootstrap() -> str | None:
    """debootstrap's path; /usr/sbin is often missing from a user's PATH."""
    found = shutil.which("debootstrap")
    if found:
        return found
    return "/usr/sbin/debootstrap" if Path("/usr/sbin/debootstrap").exists() else None


def image_blocker(
    client,
    find: Callable[[], str | None] = find_debootstrap,
    euid: Callable[[], int] = os.geteuid,
) -> tuple[str, str] | None:
    """Why the lab's image cannot be made on this machine, and the command that fixes it;
    None when it can (`lab up --backend auto` then picks docker).

    The same order as ``ensure_app_image``: a preset image, the base in the engine, the
    cached debootstrap base, debootstrap itself (needs root), a pull of the base.
    """
    import docker.errors

    preset = os.environ.get("WIRELAB_IMAGE")
    if preset:
        if _have_image(client, preset):
            return None
        return (
            f"the image {preset} (WIRELAB_IMAGE) is not in the engine",
            f"docker load < {preset}.tar",
        )
    explicit = os.environ.get("WIRELAB_BASE_IMAGE")
    requested = explicit or DEFAULT_BASE
    if _have_image(client, requested) or (not explicit and _have_image(client, debootstrap_tag())):
        return None
    debootstrap = find()
    if debootstrap and euid() == 0:
        return None
    try:
        repo, tag = _split_reference(requested)
        client.images.pull(repo, tag=tag)
        return None
    except docker.errors.APIError:
        pass
    build = f"sudo -E {sys.executable} -m lab.images"
    if debootstrap is None:
        return (
            f"{requested} cannot be pulled and debootstrap is missing",
            f"sudo apt-get install -y debootstrap && {build}",
        )
    return (f"{requested} cannot be pulled and building a base with debootstrap needs root", build)


def ensure_debootstrap_base(client, log: Log = _stderr, mirror: str | None = None) -> str:
    """Build (once) a minimal Debian with python3 and import it; later calls reuse it."""
    tag = debootstrap_tag()
    if _have_image(client, tag):
        return tag
    debootstrap = find_debootstrap()
    if debootstrap is None:
        raise ImageError(
            "no base image: python:3.11-slim cannot be pulled and debootstrap is missing: "
            "install it (apt-get install debootstrap, or make system-deps) or `docker load` a "
            "python:3.11-slim image"
        )
    if os.geteuid() != 0:
        raise ImageError(
            "building the debootstrap base needs root once: run `sudo -E "
            f"{sys.executable} -m lab.images`; later runs reuse the image {tag}"
        )
    mirror = mirror or os.environ.get("WIRELAB_DEBIAN_MIRROR") or DEBIAN_MIRROR
    started = time.monotonic()
    log(f"building base image {tag} with debootstrap ({DEBIAN_SUITE}, about a minute)")
    with tempfile.TemporaryDirectory(prefix="wirelab-rootfs-") as work:
        rootfs = Path(work) / "rootfs"
        cmd = [
            debootstrap,
            "--variant=minbase",
            f"--include={','.join(DEBIAN_PACKAGES)}",
            DEBIAN_SUITE,
            str(rootfs),
            mirror,
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True)
        finally:
            # A failed debootstrap can leave /proc and /sys mounted inside the tree; the
            # temporary folder's cleanup must not walk into them.
            _unmount_under(rootfs)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ImageError(
                f"debootstrap failed ({tail[0][:200]}): check that {mirror} is reachable "
                "or set WIRELAB_DEBIAN_MIRROR to a reachable Debian mirror"
            )
        for rel in _SLIM_PATHS:
            target = rootfs / rel
            if target.is_dir():
                for child in target.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
        tarball = Path(work) / "rootfs.tar"
        subprocess.run(
            ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."], check=True
        )
        repo, _, suite_tag = tag.partition(":")
        client.api.import_image_from_file(
            str(tarball),
            repository=repo,
            tag=suite_tag,
            changes=["ENV LANG=C.UTF-8", 'CMD ["python3"]'],
        )
    log(f"base image {tag} ready in {time.monotonic() - started:.0f}s")
    return tag


def _unmount_under(root: Path) -> None:
    try:
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return
    prefix = str(root.resolve()) + "/"
    for point in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


# -- wheels -------------------------------------------------------------------------------
def runtime_requirements(repo_root: Path = REPO_ROOT) -> list[str]:
    with open(repo_root / "pyproject.toml", "rb") as fh:
        return list(tomllib.load(fh)["project"]["dependencies"])


def _wheel_platforms(engine_arch: str) -> list[str]:
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(engine_arch, engine_arch)
    # bookworm has glibc 2.36: accept every manylinux tag up to it (pip does not expand a
    # --platform tag to the older ones itself).
    legacy = [f"manylinux2014_{machine}"]
    if machine == "x86_64":
        legacy += [f"manylinux2010_{machine}", f"manylinux1_{machine}"]
    return [f"manylinux_2_{minor}_{machine}" for minor in range(36, 4, -1)] + legacy


def prepare_wheels(
    engine_arch: str | None = None, dest: Path = WHEELS_DIR, log: Log = _stderr
) -> Path:
    """Download the image's dependencies as wheels on the host, once per dependency set."""
    engine_arch = engine_arch or platform.machine()
    requirements = runtime_requirements()
    platforms = _wheel_platforms(engine_arch)
    key = hashlib.sha256("\n".join([TARGET_PYTHON, *platforms, *requirements]).encode()).hexdigest()
    stamp = dest / ".stamp"
    if stamp.exists() and stamp.read_text().strip() == key:
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.whl"):
        old.unlink()
    log(f"downloading {len(requirements)} dependencies as wheels into {dest}")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--only-binary=:all:",
        "-d",
        str(dest),
    ]
    for plat in platforms:
        cmd += ["--platform", plat]
    cmd += ["--python-version", TARGET_PYTHON, "--implementation", "cp", *requirements]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ImageError(
            f"pip download of the image's wheels failed ({tail[0][:200]}): check that PyPI "
            "(or your PIP_INDEX_URL) is reachable from this machine"
        )
    stamp.write_text(key + "\n")
    return dest


# -- the application image -----------------------------------------------------------------
def build_app_image(
    client,
    base: str,
    tag: str = APP_IMAGE,
    repo_root: Path = REPO_ROOT,
    log: Log = _stderr,
) -> float:
    """Build (or, when nothing changed, reuse from cache) the one image every service runs.

    Returns the build's duration in seconds.
    """
    started = time.monotonic()
    last: list[str] = []
    try:
        for chunk in client.api.build(
            path=str(repo_root),
            tag=tag,
            buildargs={"BASE_IMAGE": base},
            rm=True,
            forcerm=True,
            decode=True,
        ):
            if "error" in chunk:
                msg = str(chunk["error"]).strip().splitlines()[0]
                raise ImageError(f"image build failed: {msg[:300]} (see Dockerfile)")
            text = chunk.get("stream", "").strip()
            if text:
                last = (last + [text])[-20:]
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(f"image build failed: {type(exc).__name__}: {exc}"[:300]) from None
    prune_old_app_images(client)
    return time.monotonic() - started


def prune_old_app_images(client) -> None:
    """Remove the images earlier builds left behind; the label says which are ours.

    Superseded runtime images go. Of the first stage's images (one per change to
    pyproject.toml or docker/) the newest stays, as the cache of the next build. The deps
    stage's image carries no label and stays: it is the dependency layer's cache.
    """
    try:
        client.images.prune(filters={"dangling": True, "label": f"{APP_LABEL}=app"})
        stages = client.images.list(
            filters={"dangling": True, "label": f"{APP_LABEL}=requirements"}
        )
        stages.sort(key=lambda image: image.attrs.get("Created", ""), reverse=True)
        for image in stages[1:]:
            client.images.remove(image.id, noprune=False)
    except Exception:  # housekeeping only; a failure here must not fail `lab up`
        pass


def ensure_app_image(client, log: Log = _stderr, base: str | None = None) -> str:
    """Base → wheels → build; every step is cached, so a warm call takes seconds."""
    base = resolve_base_image(client, base, log=log)
    prepare_wheels(client.version().get("Arch") or platform.machine(), log=log)
    build_app_image(client, base, log=log)
    return base


def main(argv: list[str] | None = None) -> int:
    """Prepare the base image and the wheels; print the base image's name."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m lab.images", description=main.__doc__)
    parser.add_argument("--base", help=f"base image to try first (default {DEFAULT_BASE})")
    parser.add_argument("--build", action="store_true", help=f"also build {APP_IMAGE}")
    args = parser.parse_args(argv)
    try:
        client = docker_client()
        base = resolve_base_image(client, args.base)
        prepare_wheels(client.version().get("Arch") or platform.machine())
        if args.build:
            build_app_image(client, base)
    except ImageError as exc:
        print(f"lab.images: error: {exc}", file=sys.stderr)
        return 2
    print(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
