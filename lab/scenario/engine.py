"""Run scenarios: isolate, set up, probe, judge, tear down, and always roll back.

Each probe runs in a worker thread so that the step's ``bound`` can cut a client that
would hang forever (the lesson of a client without a timeout), and so that Ctrl-C
reaches the main thread at once; the rollback then runs before anything else.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from lab.backends.base import CAPABILITY_NOTES, Backend
from lab.faultproxy_client import FaultProxyClient
from lab.scenario.errors import NO_ERROR, ProbeError
from lab.scenario.expectations import ExpectationOutcome, check
from lab.scenario.model import Scenario, Step
from lab.scenario.probes import ACTIONS, PROBES
from lab.scenario.probes.base import ProbeContext
from lab.scenario.restapi_isolation import RestapiIsolation
from lab.scenario.rollback import Rollback, RollbackAction, signals_deferred
from lab.scenario.variables import resolve_runtime


@dataclass
class StepRecord:
    step: Step
    started: float  # epoch seconds
    duration: float  # wall time of the step, engine included
    probe_time: float  # time inside the probe itself
    output: dict
    outcomes: list[ExpectationOutcome] = field(default_factory=list)
    status: str = "passed"  # passed | failed | error
    error: str = ""
    nested: list[StepRecord] = field(default_factory=list)

    def failures(self) -> list[tuple[StepRecord, ExpectationOutcome]]:
        found = [(self, o) for o in self.outcomes if not o.ok]
        for child in self.nested:
            found += child.failures()
        return found


@dataclass
class ScenarioResult:
    scenario: Scenario
    status: str  # passed | failed | error | skipped | interrupted
    reason: str = ""
    started: float = 0.0
    duration: float = 0.0
    records: list[StepRecord] = field(default_factory=list)
    rollback: list[RollbackAction] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    iteration: int = 1

    @property
    def probe_time(self) -> float:
        return sum(r.probe_time for r in self.records)

    def failure_line(self) -> str:
        """The first failing expectation as 'step: what expected X, got Y', or the error."""
        for record in self.records:
            for rec, outcome in record.failures():
                hint = rec.step.hint or record.step.hint
                return f"{rec.step.name}: {outcome.line()}" + (f" (hint: {hint})" if hint else "")
            if record.status == "error":
                return f"{record.step.name}: {record.error}"
        return self.reason


class Listener(Protocol):
    def scenario_started(self, scenario: Scenario, index: int, total: int) -> None: ...
    def step_started(self, scenario: Scenario, step: Step) -> None: ...
    def step_finished(self, scenario: Scenario, record: StepRecord) -> None: ...
    def rolling_back(self, scenario: Scenario) -> None: ...
    def scenario_finished(self, result: ScenarioResult) -> None: ...


class QuietListener:
    def scenario_started(self, scenario: Scenario, index: int, total: int) -> None:
        pass

    def step_started(self, scenario: Scenario, step: Step) -> None:
        pass

    def step_finished(self, scenario: Scenario, record: StepRecord) -> None:
        pass

    def rolling_back(self, scenario: Scenario) -> None:
        pass

    def scenario_finished(self, result: ScenarioResult) -> None:
        pass


class Interrupted(Exception):
    """Raised out of Runner.run after Ctrl-C, once the rollback has finished."""

    def __init__(self, results: list[ScenarioResult]):
        super().__init__("interrupted")
        self.results = results


def _steps(steps: list[Step]) -> list[Step]:
    out: list[Step] = []
    for step in steps:
        out.append(step)
        out += _steps(step.children)
    return out


def _all_steps(scenario: Scenario) -> list[Step]:
    return _steps(scenario.setup + scenario.steps + scenario.teardown)


def skip_reason(scenario: Scenario, backend: Backend | None) -> str | None:
    """Why a scenario cannot run on this backend (None: it can). No backend (engine-only
    unit tests) has no capability."""
    if not scenario.needs:
        return None
    have = backend.capabilities if backend is not None else frozenset()
    missing = [need for need in scenario.needs if need not in have]
    if not missing:
        return None
    name = backend.name if backend is not None else "this"
    explain = backend.capability_note if backend is not None else CAPABILITY_NOTES.get
    notes: list[str] = []
    for need in missing:
        note = explain(need)
        if note and note not in notes:
            notes.append(note)
    plural = "capabilities" if len(missing) > 1 else "capability"
    return f"needs the {', '.join(missing)} {plural}, which the {name} backend lacks: " + (
        "; ".join(notes) or "run it on a backend that has it"
    )


class Runner:
    def __init__(
        self,
        backend: Backend | None,
        proxy_api: FaultProxyClient | None,
        listener: Listener | None = None,
        resolve: Callable[[str], tuple[str, int]] | None = None,
    ):
        self.backend = backend
        self.proxy_api = proxy_api
        self.listener = listener or QuietListener()
        self._resolve_fn = resolve
        self._addresses: dict[str, tuple[str, int]] = {}
        self.cancel = threading.Event()
        self._scenario_started = time.time()
        self._service_leftovers: list[str] | None = None
        self._proxy_clean_at = -1e9  # when the proxy was last read back clean
        # One client for the lab's own endpoints (creating one per call costs ~10 ms).
        self._http = httpx.Client(timeout=5.0, trust_env=False)
        self._restapi = RestapiIsolation(backend, self._http)

    # -- addressing --------------------------------------------------------------------
    def resolve(self, target: str) -> tuple[str, int]:
        if target not in self._addresses:
            if self._resolve_fn is not None:
                self._addresses[target] = self._resolve_fn(target)
            else:
                from lab.targets import resolve

                self._addresses[target] = resolve(target, self.backend)
        return self._addresses[target]

    def _runtime_value(self, kind: str, target: str) -> Any:
        if kind == "ca":
            return self.backend.ca_path()
        if kind == "started":
            return self._scenario_started
        host, port = self.resolve(target)
        return {
            "addr": f"{host}:{port}",
            "host": host,
            "port": port,
            "url": f"http://{host}:{port}",
            "ws": f"ws://{host}:{port}",
        }[kind]

    def close(self) -> None:
        self._http.close()

    # -- the run -----------------------------------------------------------------------
    def run(
        self, scenarios: list[Scenario], repeat: int = 1, stop_on_failure: bool = False
    ) -> list[ScenarioResult]:
        results: list[ScenarioResult] = []
        total = len(scenarios) * repeat
        index = 0
        try:
            for iteration in range(1, repeat + 1):
                for scenario in scenarios:
                    index += 1
                    self.listener.scenario_started(scenario, index, total)
                    result = self.run_one(scenario)
                    result.iteration = iteration
                    results.append(result)
                    self.listener.scenario_finished(result)
                    if result.status == "interrupted":
                        raise Interrupted(results)
                    if stop_on_failure and result.status in ("failed", "error"):
                        return results
        except KeyboardInterrupt:
            raise Interrupted(results) from None
        return results

    def run_one(self, scenario: Scenario) -> ScenarioResult:
        result = ScenarioResult(scenario, "passed", started=time.time())
        reason = skip_reason(scenario, self.backend)
        if reason:
            result.status, result.reason = "skipped", reason
            return result
        start = time.monotonic()
        self._scenario_started = result.started
        deadline = start + scenario.timeout
        rollback = Rollback()
        self.cancel.clear()
        ctx = ProbeContext(
            restapi_reset=self._restapi.reset,
            resolve=self.resolve,
            rollback=rollback,
            scenario_dir=scenario.path.parent,
            cancel=self.cancel,
            backend=self.backend,
            proxy_api=self.proxy_api,
            ca_path=self.backend.ca_path if self.backend is not None else None,
        )
        ctx.run_nested = lambda step: self._run_step(scenario, step, ctx, deadline)
        try:
            self._isolate()
            for phase, steps in (("setup", scenario.setup), ("steps", scenario.steps)):
                for step in steps:
                    record = self._run_step(scenario, step, ctx, deadline)
                    result.records.append(record)
                    if record.status != "passed":
                        result.status = (
                            "error" if (phase == "setup" or record.status == "error") else "failed"
                        )
                        break
                if result.status != "passed":
                    break
        except KeyboardInterrupt:
            result.status, result.reason = "interrupted", "interrupted (Ctrl-C); rolled back"
            self.cancel.set()
        except Exception as exc:  # an engine or lab failure: still roll back, report it
            result.status, result.reason = "error", f"{type(exc).__name__}: {exc}"
        finally:
            self._teardown(scenario, ctx, result, deadline)
            try:
                # From here to the clean-lab check, Ctrl-C waits: a half-done rollback
                # would leave a fault behind, which is the one thing it must never do.
                with signals_deferred():
                    self._roll_back(scenario, rollback, result)
            except KeyboardInterrupt:
                result.status, result.reason = "interrupted", "interrupted (Ctrl-C); rolled back"
            result.duration = time.monotonic() - start
        return result

    def _roll_back(self, scenario: Scenario, rollback: Rollback, result: ScenarioResult) -> None:
        self.listener.rolling_back(scenario)
        self._service_leftovers = None
        self._proxy_leftovers: list[str] | None = None
        careful = result.status in ("error", "interrupted")
        check_services = careful or any(
            step.kind in ("service", "exec") for step in _all_steps(scenario)
        )
        if not check_services:
            self._service_leftovers = []  # no step could pause or stop a service
        self._restapi.after_scenario(_all_steps(scenario), careful)
        result.rollback = rollback.run(self._safety_net(check_services))
        result.leftovers = self._leftovers()
        if result.leftovers and result.status == "passed":
            result.status = "error"
            result.reason = "rollback left the lab dirty: " + "; ".join(result.leftovers)

    def _teardown(
        self, scenario: Scenario, ctx: ProbeContext, result: ScenarioResult, deadline: float
    ) -> None:
        if result.status == "interrupted":
            return  # Ctrl-C: straight to the rollback
        for step in scenario.teardown:
            try:
                record = self._run_step(
                    scenario, step, ctx, max(deadline, time.monotonic() + step.bound)
                )
            except KeyboardInterrupt:
                result.status, result.reason = "interrupted", "interrupted (Ctrl-C); rolled back"
                return
            result.records.append(record)
            if record.status != "passed" and result.status == "passed":
                result.status = "error" if record.status == "error" else "failed"

    # -- isolation and rollback ----------------------------------------------------------
    def _isolate(self) -> None:
        """Each scenario starts from a known lab: no toxics, proxies enabled, seed data.

        restapi is reset only when something since the last reset may have talked to it
        (see restapi_isolation.py)."""
        recently_clean = time.monotonic() - self._proxy_clean_at < 1.0
        if self.proxy_api is not None and not recently_clean:
            self.proxy_api.reset()
        self._restapi.before_scenario()

    def _safety_net(self, check_services: bool = True) -> list[tuple[str, Callable[[], None]]]:
        """Undo that does not trust the log. restapi's own settings are undone by the
        probe that changed them (see probes/http.py), so a scenario that never touched
        restapi does not pay for a reset here; the next scenario's isolation resets it.
        Services are checked whenever a step could have paused or stopped one."""
        net: list[tuple[str, Callable[[], None]]] = []
        if self.backend is not None and check_services:
            net.append(
                ("bring back any paused, stopped or partitioned service", self._revive_services)
            )
        if self.proxy_api is not None:
            net.append(("proxy reset if a toxic or a disabled proxy is left", self._clean_proxy))
        return net

    def _clean_proxy(self) -> None:
        """Read the proxy's real state (not the undo log); reset it only when dirty."""
        self._proxy_leftovers = self.proxy_api.dirty()
        if self._proxy_leftovers:
            self.proxy_api.reset()
            self._proxy_leftovers = self.proxy_api.dirty()

    def _revive_services(self) -> None:
        self._service_leftovers = []
        acted = False
        for status in self.backend.status():
            if status.state == "paused":
                self.backend.resume(status.service)
            elif status.state in ("stopped", "exited"):
                self.backend.start(status.service)
            elif status.state == "partitioned":
                self.backend.heal(status.service)
            else:
                continue
            acted = True
        if acted:  # check again only when something had to be revived
            self._service_leftovers = self.backend.paused_or_stopped()

    def _leftovers(self) -> list[str]:
        found: list[str] = []
        try:
            if self.proxy_api is not None:
                if self._proxy_leftovers is None:
                    self._proxy_leftovers = self.proxy_api.dirty()
                found += self._proxy_leftovers
                if not self._proxy_leftovers:
                    # Read from the proxy itself a moment ago: the next scenario's
                    # isolation need not reset it again.
                    self._proxy_clean_at = time.monotonic()
            if self._service_leftovers is None and self.backend is not None:
                self._service_leftovers = self.backend.paused_or_stopped()
            found += [
                f"service {name} is still paused or stopped"
                for name in self._service_leftovers or []
            ]
        except Exception as exc:
            found.append(f"could not verify the lab is clean: {exc}")
        return found

    # -- steps -------------------------------------------------------------------------
    def _run_step(
        self, scenario: Scenario, step: Step, ctx: ProbeContext, deadline: float
    ) -> StepRecord:
        self.listener.step_started(scenario, step)
        started, t0 = time.time(), time.monotonic()
        record = StepRecord(step, started, 0.0, 0.0, {})
        try:
            if step.delay:
                ctx.sleep(step.delay)
            spec = (
                step.spec
                if step.kind == "parallel"
                else resolve_runtime(step.spec, self._runtime_value)
            )
            bound = min(step.bound, max(0.01, deadline - time.monotonic()))
            output, record.probe_time = self._bounded(PROBES[step.kind].run, spec, ctx, bound)
            record.nested = output.pop("nested", [])
            record.output = output
            if step.kind in ACTIONS and output.get("error", NO_ERROR) != NO_ERROR:
                record.status, record.error = (
                    "error",
                    f"{output['error']}: {output.get('error_detail', '')}",
                )
            else:
                record.outcomes = check(step.expect, output) if step.expect else []
                bad = record.failures()
                record.status = "failed" if bad else "passed"
                if any(child.status == "error" for child in record.nested):
                    record.status = "error"
                    record.error = next(c.error for c in record.nested if c.status == "error")
        except ProbeError as exc:
            record.status, record.error = "error", str(exc)
        except Exception as exc:
            record.status, record.error = "error", f"{type(exc).__name__}: {exc}"
        record.duration = time.monotonic() - t0
        self.listener.step_finished(scenario, record)
        return record

    def _bounded(
        self, func: Callable, spec: Any, ctx: ProbeContext, bound: float
    ) -> tuple[dict, float]:
        """Run a probe in a worker thread; after ``bound`` seconds report it as hung."""
        box: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            t0 = time.monotonic()
            try:
                box["output"] = func(spec, ctx)
            except BaseException as exc:  # handed to the caller's thread
                box["exc"] = exc
            finally:
                box["time"] = time.monotonic() - t0
                done.set()

        worker = threading.Thread(target=work, daemon=True, name="probe")
        start = time.monotonic()
        worker.start()
        if not done.wait(bound):
            # The worker keeps its blocked socket until the rollback removes the fault
            # (e.g. the timeout toxic closes its connections); it is a daemon thread.
            return (
                {
                    "error": "hung",
                    "error_detail": f"still waiting after the step's bound of {bound:g}s",
                    "hung": True,
                    "elapsed": time.monotonic() - start,
                },
                time.monotonic() - start,
            )
        if "exc" in box:
            raise box["exc"]
        output = box["output"]
        output.setdefault("hung", False)
        return output, box["time"]
