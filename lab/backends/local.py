"""The local backend: each service a child process on 127.0.0.1.

PID and log files live in the state folder, so `lab status` and `lab down` work from any
shell. Each PID file also holds the process's start time and command line: a PID the
kernel has since given to another program is never signalled (lab/proc_identity.py). With
the PID files gone, the lab's processes are still found by scanning /proc for our service
modules whose WIRELAB_STATE_DIR is this state folder. Processes get their own session (and process group), so a Ctrl-C in the shell
that ran `lab up` does not take the lab down, and `down` can kill a whole group.
pause = SIGSTOP, resume = SIGCONT, stop = SIGTERM (then SIGKILL), start = the same
command line again.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from lab import proc_identity
from lab.backends.base import Backend, BackendError, ServiceStatus
from lab.health import HealthProbeError, probe_endpoint, probe_proxies
from lab.proxies import standard_proxies
from services.common.paths import state_dir as resolve_state_dir
from services.ports import ENDPOINTS, SERVICES, VIA_PROXY, default_port, env_var_for

# Imports each service needs; checked before starting so a missing one is one clear line.
REQUIRED_MODULES = {
    "rawhttp": ("cryptography",),
    "rawhttp-blocking": (),
    "udpstream": (),
    "restapi": ("fastapi", "uvicorn", "pydantic"),
    "faultproxy": ("h11",),
}


def _task_state(stat_file: Path) -> str | None:
    """The state letter from a /proc .../stat file (R, S, T, Z...), None if it is gone."""
    try:
        # The command name in parentheses may hold spaces; the state follows the last ')'.
        return stat_file.read_text().split(")")[-1].split()[0]
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is not alive for our purposes.
    return _task_state(Path(f"/proc/{pid}/stat")) != "Z"


def _stopped(pid: int) -> bool:
    return _task_state(Path(f"/proc/{pid}/stat")) in ("T", "t")


def _all_threads_stopped(pid: int) -> bool:
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return _stopped(pid)
    # A thread that just exited (state None) is not running either.
    return all(_task_state(task / "stat") in ("T", "t", None) for task in tasks)


RUNNING_GRACE = 3.0  # seconds a service that was already running gets to pass its probe


class _NotHealthy(BackendError):
    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


def _service_of(args: list[str]) -> str | None:
    """Which lab service a command line runs (``python -m services.X ...``), if any."""
    try:
        module = args[args.index("-m") + 1]
    except (ValueError, IndexError):
        return None
    name = module.removeprefix("services.")
    if module == name or name not in SERVICES:
        return None
    if name == "rawhttp" and "blocking" in args[args.index("-m") :]:
        return "rawhttp-blocking"
    return name


def _resolved(path: str) -> str:
    # A deleted state folder cannot be resolved on disk: compare the absolute paths then.
    try:
        return str(Path(path).resolve())
    except OSError:
        return os.path.abspath(path)


def port_free(host: str, port: int, proto: str) -> bool:
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        if proto == "tcp":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _lab_ports(offset: int) -> list[tuple[int, str]]:
    env = {"WIRELAB_PORT_OFFSET": str(offset)}
    ports = [(default_port(e.name, env), e.proto) for e in ENDPOINTS]
    ports += [(default_port(e.name + VIA_PROXY, env), e.proto) for e in ENDPOINTS if e.proxied]
    return ports


def free_port_offset(host: str = "127.0.0.1") -> int:
    """A port offset at which every lab port is free, for a lab beside the user's own.

    Every port stays below the ephemeral range (32768+), where the machine's outgoing
    connections would collide with it, and off the default ports a user's lab may take.
    """
    defaults = {p for p, _ in _lab_ports(0)}
    candidates = list(range(1000, 12700, 50))
    random.shuffle(candidates)
    for offset in candidates:
        ports = _lab_ports(offset)
        if any(p in defaults for p, _ in ports):
            continue
        if all(port_free(host, p, proto) for p, proto in ports):
            return offset
    raise BackendError("no free port offset for an isolated lab")


_ISOLATION_VARS = ("WIRELAB_PORT_OFFSET", "WIRELAB_STATE_DIR", "WIRELAB_BACKEND")


@contextlib.contextmanager
def isolated_lab(state_dir: Path, timeout: float = 90) -> Iterator[LocalBackend]:
    """The whole lab as real processes on a free port offset with its own state folder.

    Sets WIRELAB_PORT_OFFSET, WIRELAB_STATE_DIR and WIRELAB_BACKEND in os.environ while it
    runs, so a `lab ...` subprocess talks to this lab and not to one a person left running
    on the default ports; restores them and takes the lab down afterwards.
    """
    offset = free_port_offset()
    saved = {k: os.environ.get(k) for k in _ISOLATION_VARS}
    os.environ.update(
        WIRELAB_PORT_OFFSET=str(offset), WIRELAB_STATE_DIR=str(state_dir), WIRELAB_BACKEND="local"
    )
    backend = LocalBackend(state_dir=state_dir, port_offset=offset)
    try:
        backend.up(timeout=timeout)
        yield backend
    finally:
        backend.down()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class LocalBackend(Backend):
    name = "local"
    capabilities = frozenset({"pause", "resume", "stop", "start", "raw-transport"})

    def __init__(
        self,
        state_dir: str | os.PathLike[str] | None = None,
        ports: Mapping[str, int] | None = None,
        port_offset: int | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.host = host
        self.state = resolve_state_dir(state_dir)
        self.env: dict[str, str] = dict(os.environ)
        if port_offset is not None:
            self.env["WIRELAB_PORT_OFFSET"] = str(port_offset)
        for name, port in (ports or {}).items():
            self.env[env_var_for(name)] = str(port)
        self.env["WIRELAB_STATE_DIR"] = str(self.state)
        self.env["PYTHONUNBUFFERED"] = "1"
        self._found: dict[str, list[int]] | None = None  # the last /proc scan
        (self.state / "pids").mkdir(exist_ok=True)
        (self.state / "logs").mkdir(exist_ok=True)

    # -- addressing -------------------------------------------------------------------
    def port(self, endpoint: str) -> int:
        return default_port(endpoint, self.env)

    def address(self, endpoint: str) -> tuple[str, int]:
        try:
            return self.host, self.port(endpoint)
        except KeyError:
            raise BackendError(f"unknown endpoint {endpoint!r}") from None

    def ca_path(self) -> str:
        from services.common.lab_ca import ensure_ca

        return str(ensure_ca(self.state).ca_cert)

    # -- commands -----------------------------------------------------------------------
    def command(self, service: str) -> list[str]:
        h, s, p = self.host, str(self.state), self.port
        py = [sys.executable, "-m"]
        if service == "rawhttp":
            return py + [
                "services.rawhttp", "--host", h, "--port", str(p("rawhttp")),
                "--echo-port", str(p("rawhttp.echo")), "--line-port", str(p("rawhttp.line")),
                "--https-port", str(p("rawhttp.https")), "--mode", "selectors", "--state-dir", s,
            ]  # fmt: skip
        if service == "rawhttp-blocking":
            return py + [
                "services.rawhttp", "--host", h, "--port", str(p("rawhttp.blocking")),
                "--mode", "blocking", "--http-only", "--state-dir", s,
            ]  # fmt: skip
        if service == "udpstream":
            return py + ["services.udpstream", "--host", h, "--port", str(p("udpstream"))]
        if service == "restapi":
            return py + [
                "services.restapi",
                "--host",
                h,
                "--port",
                str(p("restapi")),
                "--state-dir",
                s,
            ]
        if service == "faultproxy":
            config = self.state / "faultproxy.json"
            config.write_text(json.dumps(standard_proxies(listen_host=h, env=self.env), indent=2))
            return py + [
                "services.faultproxy",
                "--host",
                h,
                "--port",
                str(p("faultproxy")),
                "--config",
                str(config),
            ]
        raise BackendError(f"unknown service {service!r}: choose from {', '.join(SERVICES)}")

    def _ports_of(self, service: str) -> list[tuple[str, int, str]]:
        """(endpoint, port, proto) a service binds; faultproxy binds every .via_proxy too."""
        out = [(e.name, self.port(e.name), e.proto) for e in ENDPOINTS if e.service == service]
        if service == "faultproxy":
            out += [
                (e.name + VIA_PROXY, self.port(e.name + VIA_PROXY), e.proto)
                for e in ENDPOINTS
                if e.proxied
            ]
        return out

    # -- pid records -------------------------------------------------------------------------
    def _pidfile(self, service: str) -> Path:
        return self.state / "pids" / f"{service}.json"

    def _record(self, service: str) -> dict | None:
        try:
            return json.loads(self._pidfile(service).read_text())
        except (OSError, ValueError):
            return None

    def log_path(self, service: str) -> Path:
        return self.state / "logs" / f"{service}.log"

    def _running_pid(self, service: str) -> int | None:
        """The PID of the service's live process, checked against its recorded identity."""
        rec = self._record(service)
        if rec and rec.get("pid") and _alive(rec["pid"]) and not self._stale(rec):
            return rec["pid"]
        return None

    @staticmethod
    def _stale(rec: dict) -> str | None:
        """Why the live process at the recorded PID is not ours (None: it is ours)."""
        return proc_identity.mismatch(rec["pid"], rec)

    def _stale_note(self, service: str) -> str:
        rec = self._record(service)
        why = self._stale(rec) if rec and rec.get("pid") and _alive(rec["pid"]) else None
        return f"; its PID file is stale ({why}), which was left alone" if why else ""

    def _scan_key(self) -> str:
        return str(self.state.resolve())

    def scan(self) -> dict[str, list[int]] | None:
        """This lab's service processes found in /proc, by service (None: no /proc here).

        A process is ours when it runs ``-m services.<name>`` and its WIRELAB_STATE_DIR is
        this state folder: this works with the PID files deleted."""
        if not proc_identity.proc_available():
            return None
        found: dict[str, list[int]] = {}
        me = os.getpid()
        for pid in proc_identity.all_pids():
            if pid == me:
                continue
            service = _service_of(proc_identity.cmdline(pid) or [])
            if service is None:
                continue
            where = proc_identity.environ_value(pid, "WIRELAB_STATE_DIR")
            if where is None or _resolved(where) != self._scan_key():
                continue
            info = proc_identity.proc_info(pid)
            if info is None or info.state == "Z":
                continue
            found.setdefault(service, []).append(pid)
        return found

    # -- lifecycle ----------------------------------------------------------------------------
    def _preflight(self, services: list[str]) -> None:
        self._found = self.scan()
        for service in services:
            for module in REQUIRED_MODULES.get(service, ()):
                if importlib.util.find_spec(module) is None:
                    raise BackendError(
                        f"{service} needs the Python package {module!r}, which is not installed: "
                        f"run `make lab` (it installs the project into .venv) or `pip install -e .`"
                    )
            if self._running_pid(service):
                continue
            pids = (self._found or {}).get(service)
            if pids:
                raise BackendError(
                    f"{service} of this lab is already running (pid {pids[0]}) but its PID file "
                    "is gone or stale: `lab down` stops it (it finds the lab's processes), then `lab up`"
                )
            for endpoint, port, proto in self._ports_of(service):
                if not port_free(self.host, port, proto):
                    spare = self._spare_port(port, proto)
                    raise BackendError(
                        f"port {port}/{proto} for {endpoint} is already in use: stop whatever "
                        f"holds it (`ss -lntup | grep :{port}`), or move it with "
                        f"`lab up --port {endpoint}={spare}`, {env_var_for(endpoint)}=<port>, "
                        f"or `--port-offset N` for the whole lab"
                    )

    def _spare_port(self, near: int, proto: str) -> int:
        """A free port above ``near`` that no other lab endpoint uses, for the hint above."""
        taken = {port for s in SERVICES for _, port, _ in self._ports_of(s)}
        for candidate in range(near + 1, min(near + 1000, 65536)):
            if candidate not in taken and port_free(self.host, candidate, proto):
                return candidate
        return near + 1

    def _spawn(self, service: str) -> int:
        cmd = self.command(service)
        log = open(self.log_path(service), "ab")  # noqa: SIM115 - the child keeps it
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True, cwd=str(Path(__file__).resolve().parents[2]),
        )  # fmt: skip
        log.close()
        record = {"pid": proc.pid, "cmd": cmd, "started": time.time(), "state": "running"}
        # Read at once: the child is not yet exec'd a moment after fork, so the command
        # line is the recorded one; the start time is what tells a reused PID apart.
        info = proc_identity.proc_info(proc.pid)
        if info is not None:
            record["start_ticks"] = info.start_ticks
            record["cmdline"] = proc_identity.cmdline(proc.pid) or cmd
        self._pidfile(service).write_text(json.dumps(record))
        return proc.pid

    def _probe(self, service: str) -> str:
        cafile = None
        details = []
        # This lab's token (its env), not this process's: class mode probes many labs.
        token = self.env.get("WIRELAB_FAULTPROXY_TOKEN")
        for ep in ENDPOINTS:
            if ep.service != service:
                continue
            if ep.kind == "tls":
                cafile = self.ca_path()
            details.append(probe_endpoint(ep, self.host, self.port(ep.name), cafile, token))
        if service == "faultproxy":
            names = [p["name"] for p in standard_proxies(env=self.env)]
            details.append(probe_proxies(self.host, self.port("faultproxy"), names, token=token))
        return "; ".join(details)

    def _wait_healthy(
        self, service: str, pid: int, started: float, deadline: float
    ) -> ServiceStatus:
        last_error = "no probe yet"
        while True:
            if not _alive(pid):
                raise BackendError(
                    f"{service} exited during start: {self._last_log_line(service)} "
                    f"(full log: `lab logs {service}`)"
                )
            try:
                self._probe(service)
                return ServiceStatus(
                    service,
                    "healthy",
                    self._addresses(service),
                    round(time.monotonic() - started, 3),
                )
            except HealthProbeError as exc:
                last_error = str(exc)
            if time.monotonic() > deadline:
                raise _NotHealthy(
                    f"{service} did not become healthy in time: {last_error} (see `lab logs {service}`)",
                    last_error,
                )
            time.sleep(0.05)

    def _last_log_line(self, service: str) -> str:
        try:
            lines = [
                ln
                for ln in self.log_path(service).read_text(errors="replace").splitlines()
                if ln.strip()
            ]
        except OSError:
            return "no log"
        return lines[-1].strip() if lines else "no output"

    def _addresses(self, service: str) -> list[str]:
        return [f"{self.host}:{port}/{proto}" for _, port, proto in self._ports_of(service)]

    def up(self, services: list[str] | None = None, timeout: float = 30.0) -> list[ServiceStatus]:
        services = list(services or SERVICES)
        for s in services:
            if s not in SERVICES:
                raise BackendError(f"unknown service {s!r}: choose from {', '.join(SERVICES)}")
        self._preflight(services)
        results = []
        deadline = time.monotonic() + timeout
        # The proxy last: it is useless before its upstreams answer.
        for service in sorted(services, key=lambda s: s == "faultproxy"):
            pid = self._running_pid(service)
            started = time.monotonic()
            if pid is not None:
                # Already running: it may hold state made at run time (the proxies a user
                # created), so a failed probe is reported with its cause, never "repaired"
                # by killing it. A short wait covers a service another `lab up` just started.
                if _stopped(pid):
                    raise BackendError(
                        f"{service} is paused (pid {pid}): `lab action resume {service}`, "
                        "or `lab run`/`lab up` through the CLI, which repair a paused lab"
                    )
                try:
                    results.append(
                        self._wait_healthy(service, pid, started, started + RUNNING_GRACE)
                    )
                except BackendError as exc:
                    raise BackendError(
                        f"{service} is running (pid {pid}) but fails its health check: "
                        f"{getattr(exc, 'cause', exc)}; it was left running, with its state: fix the cause, "
                        f"or restart it with `lab action stop {service} && lab action start {service}`"
                    ) from None
                continue
            pid = self._spawn(service)
            try:
                results.append(self._wait_healthy(service, pid, started, deadline))
            except BackendError:
                self._terminate(service)  # our own fresh process: nothing of value in it
                raise
        return results

    def _terminate(self, service: str, grace: float = 5.0) -> None:
        self._kill_pid(self._running_pid(service), grace)

    @staticmethod
    def _kill_pid(pid: int | None, grace: float = 5.0) -> None:
        """SIGTERM the process group led by ``pid`` (a checked PID of ours), then SIGKILL."""
        if pid and _alive(pid):
            for sig in (signal.SIGCONT, signal.SIGTERM):
                try:
                    os.killpg(pid, sig)
                except ProcessLookupError:
                    break
            end = time.monotonic() + grace
            while _alive(pid) and time.monotonic() < end:
                time.sleep(0.02)
            if _alive(pid):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            # Reap it if it is our own child (tests start the lab in-process).
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass

    def down(self, volumes: bool = False) -> None:
        """Stop every service: those the PID files name (when the PID is still theirs) and
        any other process of this lab a /proc scan finds (the PID files may be gone)."""
        # Local state (the restapi database, the CA) lives in the state folder and is kept.
        for service in SERVICES:
            self._terminate(service)
            self._pidfile(service).unlink(missing_ok=True)
        found = self.scan()
        if found is None:
            return  # no /proc: the PID files were all there is
        for pids in found.values():
            for pid in pids:
                self._kill_pid(pid)
        left = self.scan() or {}
        if any(left.values()):
            names = ", ".join(f"{s} (pid {', '.join(map(str, p))})" for s, p in left.items() if p)
            raise BackendError(f"could not stop {names}: stop them by hand (kill PID)")

    def unknown_processes_note(self) -> str:
        """How a lab without PID files stands, said plainly: `lab status` shows it."""
        if not proc_identity.proc_available():
            return "no PID files, and this system has no /proc to look for the lab's processes"
        return ""

    def status(self) -> list[ServiceStatus]:
        found = None
        out = []
        for service in SERVICES:
            rec = self._record(service)
            pid = self._running_pid(service)
            addrs = self._addresses(service)
            note = ""
            if pid is None and (rec is None or rec.get("state") != "stopped"):
                # No PID file, or one naming a dead or foreign PID: look for the process.
                if found is None:
                    found = self.scan()
                    if found is None:
                        found = {}
                        note = " (" + self.unknown_processes_note() + ")"
                pids = found.get(service, [])
                if pids:
                    pid = pids[0]
                    note = (
                        f" (no valid PID file: found by scanning /proc{self._stale_note(service)})"
                    )
                    rec = rec or {"state": "running"}
            if rec is None:
                out.append(ServiceStatus(service, "not started", addrs, detail=note.strip(" ()")))
            elif rec.get("state") == "stopped":
                out.append(
                    ServiceStatus(
                        service, "stopped", addrs, detail="stopped by `lab` (start to bring back)"
                    )
                )
            elif pid is None:
                detail = self._last_log_line(service) + self._stale_note(service)
                out.append(ServiceStatus(service, "exited", addrs, detail=detail))
            elif _stopped(pid):
                detail = f"pid {pid} (SIGSTOP){note}"
                out.append(ServiceStatus(service, "paused", addrs, detail=detail))
            else:
                t0 = time.monotonic()
                try:
                    self._probe(service)
                    probe_ms = (time.monotonic() - t0) * 1000
                    detail = f"pid {pid}, probe {probe_ms:.0f} ms{note}"
                    out.append(ServiceStatus(service, "healthy", addrs, detail=detail))
                except HealthProbeError as exc:
                    out.append(ServiceStatus(service, "unhealthy", addrs, detail=f"{exc}{note}"))
        return out

    # -- service actions -------------------------------------------------------------------------
    def _require_pid(self, service: str) -> int:
        if service not in SERVICES:
            raise BackendError(f"unknown service {service!r}: choose from {', '.join(SERVICES)}")
        pid = self._running_pid(service)
        if pid is None:
            raise BackendError(
                f"{service} is not running (run `lab up`){self._stale_note(service)}"
            )
        return pid

    def pause(self, service: str, settle: float = 2.0) -> None:
        pid = self._require_pid(service)
        os.killpg(pid, signal.SIGSTOP)
        # SIGSTOP is asynchronous: a thread may still answer one request after kill()
        # returns. Paused means every thread has stopped, so wait for that.
        end = time.monotonic() + settle
        while not _all_threads_stopped(pid) and time.monotonic() < end:
            time.sleep(0.002)

    def resume(self, service: str) -> None:
        os.killpg(self._require_pid(service), signal.SIGCONT)

    def stop(self, service: str) -> None:
        self._require_pid(service)
        self._terminate(service)
        rec = self._record(service) or {}
        rec["state"] = "stopped"
        self._pidfile(service).write_text(json.dumps(rec))

    def start(self, service: str, timeout: float = 20.0) -> None:
        pid = self._running_pid(service)
        if pid is not None:
            if _stopped(pid):
                os.killpg(pid, signal.SIGCONT)
            return
        started = time.monotonic()
        pid = self._spawn(service)
        self._wait_healthy(service, pid, started, started + timeout)

    def logs(self, service: str, follow: bool = False, tail: int = 200) -> Iterator[str]:
        if service not in SERVICES:
            raise BackendError(f"unknown service {service!r}: choose from {', '.join(SERVICES)}")
        path = self.log_path(service)
        if not path.exists():
            raise BackendError(f"no log for {service} yet (has `lab up` run?)")
        with open(path, errors="replace") as fh:
            lines = fh.readlines()
            yield from (ln.rstrip("\n") for ln in lines[-tail:])
            while follow:
                line = fh.readline()
                if line:
                    yield line.rstrip("\n")
                else:
                    time.sleep(0.2)
