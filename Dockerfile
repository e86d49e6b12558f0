# One image for every wirelab service; each Compose service runs it with its own command.
#
# The base is a build argument. Where no registry is reachable, `lab up --backend docker`
# (or `python -m lab.images`) builds a Debian base with debootstrap and passes it here.
# Dependencies come from wheels the host downloaded into docker/wheels/, so the build
# itself needs no network; with that folder empty, pip falls back to PyPI.
ARG BASE_IMAGE=python:3.11-slim

# -- stage 1: what the dependency layer needs, and nothing else ----------------------------
# The dependency list is read from pyproject.toml (written in one place); the wheels are
# whatever `python -m lab.images` put in docker/wheels/ (a fresh clone has none, hence
# copying the whole folder rather than naming one that may not exist). The next stage
# copies only these outputs, and the build cache compares content: editing pyproject.toml
# elsewhere, or another file in docker/, reinstalls nothing.
FROM ${BASE_IMAGE} AS requirements
LABEL org.wirelab.image="requirements"
COPY pyproject.toml /build/pyproject.toml
COPY docker/ /build/docker/
RUN set -eu; \
    python3 -c 'import tomllib; print("\n".join(tomllib.load(open("/build/pyproject.toml", "rb"))["project"]["dependencies"]))' > /build/requirements.txt; \
    mkdir -p /build/wheels; \
    if [ -d /build/docker/wheels ]; then find /build/docker/wheels -name '*.whl' -exec mv {} /build/wheels/ \; ; fi

# -- stage 2: the virtualenv with the runtime dependencies ------------------------------
FROM ${BASE_IMAGE} AS deps
COPY --from=requirements /build/requirements.txt /build/requirements.txt
COPY --from=requirements /build/wheels/ /build/wheels/
# With wheels, no network at all; without (a plain `docker compose build` on a machine
# that reaches PyPI), pip downloads them. pip and setuptools stay in this stage: only
# /opt/venv reaches the image.
RUN set -eu; \
    python3 -m venv /opt/venv; \
    if ls /build/wheels/*.whl >/dev/null 2>&1; then index="--no-index --find-links /build/wheels"; else index=""; fi; \
    /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --quiet $index -r /build/requirements.txt; \
    /opt/venv/bin/pip uninstall --yes --quiet pip setuptools 2>/dev/null || true

# -- stage 3: the runtime image ----------------------------------------------------------
FROM ${BASE_IMAGE}
# Marks the runtime image (not the build stages, whose images are the dependency cache),
# so `lab up` can prune the images that earlier code changes left untagged.
LABEL org.wirelab.image="app"
# A fixed uid, so files written into the state volume have a stable owner.
RUN set -eu; \
    groupadd --system --gid 10001 lab; \
    useradd --system --uid 10001 --gid lab --home-dir /var/lib/wirelab --no-create-home --shell /usr/sbin/nologin lab; \
    mkdir -p /var/lib/wirelab /srv/docroot; \
    chown lab:lab /var/lib/wirelab
# The venv's byte code was compiled at install time. The lab's own code is compiled in
# memory at start (a fraction of a second): it is read-only for the service user, and a
# build step to precompile it would cost a layer on every code change.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LANG=C.UTF-8 \
    WIRELAB_STATE_DIR=/var/lib/wirelab
COPY --from=deps /opt/venv /opt/venv
# `lab` as a command, as pip would install it (the project itself is not pip-installed: its
# code sits in /app, in the last layers, so a code change rebuilds only those).
RUN printf '#!/opt/venv/bin/python\nimport sys\nfrom lab.cli import main\nsys.exit(main())\n' > /opt/venv/bin/lab \
    && chmod 755 /opt/venv/bin/lab
COPY docker/healthcheck.py /opt/wirelab/healthcheck.py
WORKDIR /app
USER lab
CMD ["lab", "--help"]

# -- the code: the last layers, and the only ones a code change rebuilds -----------------
# Each step costs a layer commit (about 2 s on a loaded machine), so there is nothing after
# the code, and what changes most (a service) comes last. Files stay root-owned: read-only
# for the service user.
COPY exercises/ /app/exercises/
COPY scenarios/ /app/scenarios/
COPY lab/ /app/lab/
COPY services/ /app/services/
