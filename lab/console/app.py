"""The console's web app: pages (Jinja), a small JSON API for the page's script, and two
Server-Sent Events streams (the live feed, a run's progress).

Every change goes through the lab's own clients (`FaultProxyClient`, the scenario
`Runner`, `udpstream.client.measure`), so the console can do nothing the CLI cannot.
The fault proxy's bearer token, if any, stays in this process: pages never see it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from lab.console import presets as preset_catalogue
from lab.console.feed import feed
from lab.console.rendering import STATIC, render
from lab.console.roster import RosterError
from lab.console.roster import load as load_roster
from lab.console.runs import Runs
from lab.console.security import allowed_hosts, refusal
from lab.console.views import endpoint_rows, journal_view, metrics_by_proxy, udp_view
from lab.faultproxy_client import (
    TOKEN_ENV,
    FaultProxyClient,
    FaultProxyError,
    auth_headers,
    parse_prometheus,
)
from services.ports import SERVICES, proxy_name_for

NAV = (
    ("/", "Overview"),
    ("/faults", "Faults"),
    ("/scenarios", "Scenarios"),
    ("/udp", "UDP"),
    ("/exercises", "Exercises"),
)
UDP_TARGETS = ("udpstream.via_proxy", "udpstream")
MAX_UDP_SECONDS = 10.0


@dataclass
class ConsoleConfig:
    backend: Any
    port: int
    token: str
    state: Path
    scenarios_dir: Path | None = None
    faultproxy_token: str | None = field(default_factory=lambda: os.environ.get(TOKEN_ENV) or None)


def _proxy_client(config: ConsoleConfig) -> FaultProxyClient:
    return FaultProxyClient(
        config.backend.faultproxy_url(), timeout=5, token=config.faultproxy_token or ""
    )


def _field_of(message: str, fields: list[str]) -> str:
    """Which form field an API error is about (it names the attribute), else ''."""
    for name in sorted(fields, key=len, reverse=True):
        if re.search(rf"\b{re.escape(name)}\b", message):
            return name
    return ""


def _number(value: Any, name: str, lo: float, hi: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not lo <= number <= hi:
        raise ValueError(f"{name} must be between {lo:g} and {hi:g}, got {number:g}")
    return number


def create_app(config: ConsoleConfig) -> FastAPI:
    app = FastAPI(title="wirelab console", docs_url=None, redoc_url=None, openapi_url=None)
    hosts = allowed_hosts(config.port)
    runs = Runs(config.state / "runs")
    proxy_api = _proxy_client(config)
    from lab.toxics import STREAMS, toxic_catalogue

    catalogue = toxic_catalogue()

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        why = refusal(request.method, headers, config.token, hosts)
        if why is not None:
            return JSONResponse({"error": why}, status_code=403)
        response = await call_next(request)
        # No framing by other sites, no sniffing, and nothing fetched from elsewhere.
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; "
            "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
        )
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def page(template: str, path: str, **context: Any) -> HTMLResponse:
        return HTMLResponse(
            render(
                template,
                report=False,
                nav=NAV,
                here=path,
                token=config.token,
                backend_name=config.backend.name,
                **context,
            )
        )

    def error(message: str, status: int = 400, **extra: Any) -> JSONResponse:
        return JSONResponse({"error": message, **extra}, status_code=status)

    async def body(request: Request) -> dict:
        try:
            data = await request.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ValueError("the request body must be a JSON object")
        return data

    # -- pages ------------------------------------------------------------------------------
    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok", "service": "console", "backend": config.backend.name}

    @app.get("/", response_class=HTMLResponse)
    async def overview() -> HTMLResponse:
        rows = await run_in_threadpool(_status_rows)
        return page("overview.html", "/", title="Overview", services=rows)

    def _status_rows() -> list[dict]:
        try:
            statuses = {s.service: s for s in config.backend.status()}
        except Exception as exc:  # the lab is down: show it, do not fail the page
            statuses = {}
            down = str(exc)
        else:
            down = ""
        addresses = endpoint_rows(config.backend)
        out = []
        for service in SERVICES:
            s = statuses.get(service)
            out.append(
                {
                    "service": service,
                    "state": s.state if s else "unknown",
                    "detail": (s.detail if s else down)[:300],
                    "addresses": addresses.get(service, []),
                }
            )
        return out

    @app.get("/api/status")
    async def api_status() -> dict:
        return {"backend": config.backend.name, "services": await run_in_threadpool(_status_rows)}

    @app.get("/faults", response_class=HTMLResponse)
    async def faults() -> HTMLResponse:
        context = await run_in_threadpool(_proxies_context)
        return page(
            "faults.html",
            "/faults",
            title="Faults",
            catalogue=catalogue,
            streams=STREAMS,
            **context,
        )

    def _proxies_context() -> dict:
        try:
            proxies = proxy_api.proxies()
            problem = ""
        except FaultProxyError as exc:
            proxies, problem = {}, str(exc)
        rows = []
        for name in sorted(proxies):
            p = proxies[name]
            protocol = p.get("protocol", "tcp")
            toxics = p.get("toxics") or []
            rows.append(
                {
                    "name": name,
                    "listen": p.get("listen", ""),
                    "upstream": p.get("upstream", ""),
                    "enabled": p.get("enabled", True),
                    "protocol": protocol,
                    "toxics": toxics,
                    "presets": [
                        {"preset": pr, "applied": preset_catalogue.applied(pr, toxics)}
                        for pr in preset_catalogue.presets_for(protocol)
                    ],
                }
            )
        return {"proxies": rows, "problem": problem}

    @app.get("/fragments/proxies", response_class=HTMLResponse)
    async def proxies_fragment() -> HTMLResponse:
        context = await run_in_threadpool(_proxies_context)
        return HTMLResponse(render("_proxies.html", catalogue=catalogue, **context))

    @app.get("/api/metrics")
    async def api_metrics() -> JSONResponse:
        try:
            text = await run_in_threadpool(proxy_api.metrics_text)
        except FaultProxyError as exc:
            return error(str(exc), 502)
        return JSONResponse(
            {"time": time.time(), "proxies": metrics_by_proxy(parse_prometheus(text))}
        )

    @app.get("/scenarios", response_class=HTMLResponse)
    async def scenarios() -> HTMLResponse:
        from lab.scenario.library import load_all

        loaded = await run_in_threadpool(load_all, config.scenarios_dir)
        themes: dict[str, list] = {}
        for s in loaded.scenarios:
            themes.setdefault(s.theme, []).append(s)
        problems = [str(p) for exc in loaded.errors for p in exc.problems]
        return page(
            "scenarios.html",
            "/scenarios",
            title="Scenarios",
            themes=themes,
            problems=problems,
            past=runs.past(),
        )

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    async def run_page(run_id: str) -> HTMLResponse:
        data = runs.get_journal(run_id)
        active = runs.active.get(run_id)
        if data is None and active is None:
            return HTMLResponse(f"no run {run_id!r}", status_code=404)
        return page(
            "run.html",
            "/scenarios",
            title="Scenario run",
            run_id=run_id,
            running=data is None,
            label=active.label if active else (data or {}).get("label", ""),
            journal=journal_view(data) if data else None,
        )

    @app.get("/fragments/runs/{run_id}", response_class=HTMLResponse)
    async def run_fragment(run_id: str) -> HTMLResponse:
        data = runs.get_journal(run_id)
        if data is None:
            return HTMLResponse("not finished", status_code=404)
        return HTMLResponse(render("_journal.html", journal=journal_view(data)))

    @app.get("/api/runs/{run_id}/events")
    async def run_events(run_id: str) -> Response:
        run = runs.active.get(run_id)
        if run is None:
            return error(f"no active run {run_id!r}", 404)

        async def stream() -> Any:
            index = 0
            while True:
                events = run.since(index)
                index += len(events)
                for event in events:
                    yield f"event: {event['kind']}\ndata: {json.dumps(event)}\n\n"
                if run.done and not run.since(index):
                    return
                await asyncio.sleep(0.1)

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.get("/udp", response_class=HTMLResponse)
    async def udp_page() -> HTMLResponse:
        return page("udp.html", "/udp", title="UDP", targets=UDP_TARGETS)

    @app.get("/exercises", response_class=HTMLResponse)
    async def exercises_page() -> HTMLResponse:
        from lab.exercise import status
        from lab.exercise.catalog import all_exercises

        saved = status.load()
        rows = [
            {
                "number": ex.number,
                "title": ex.title,
                "state": saved.get(str(ex.number), {}).get("state", status.NOT_STARTED),
                "summary": saved.get(str(ex.number), {}).get("summary", ""),
                "when": saved.get(str(ex.number), {}).get("when", ""),
                "file": saved.get(str(ex.number), {}).get("file", ""),
            }
            for ex in all_exercises()
        ]
        return page("exercises.html", "/exercises", title="Exercises", exercises=rows)

    @app.get("/api/feed")
    async def live_feed() -> StreamingResponse:
        return StreamingResponse(
            feed(
                config.backend,
                config.backend.faultproxy_url(),
                auth_headers(config.faultproxy_token or ""),
            ),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store"},
        )

    # -- changes (the guard has checked origin and token) -----------------------------------
    @app.post("/api/toxics")
    async def save_toxic(request: Request) -> JSONResponse:
        try:
            data = await body(request)
            proxy = str(data.get("proxy", ""))
            attributes = data.get("attributes") or {}
            if not isinstance(attributes, dict):
                raise ValueError("attributes must be an object")
            toxic: dict[str, Any] = {
                "type": str(data.get("type", "")),
                "stream": str(data.get("stream", "downstream")),
                "toxicity": data.get("toxicity", 1.0),
                "attributes": attributes,
            }
            if data.get("name"):
                toxic["name"] = str(data["name"])
        except ValueError as exc:
            return error(str(exc))
        fields = ["name", "type", "stream", "toxicity", *attributes.keys()]
        try:
            if data.get("update"):
                changes = {k: v for k, v in toxic.items() if k != "name"}
                result = await run_in_threadpool(
                    proxy_api.update_toxic, proxy, toxic.get("name", ""), changes
                )
            else:
                result = await run_in_threadpool(proxy_api.add_toxic, proxy, toxic)
        except FaultProxyError as exc:
            message = str(exc).split(": ", 1)[-1] if " -> " in str(exc) else str(exc)
            return error(message, 400, field=_field_of(message, fields))
        return JSONResponse({"ok": True, "toxic": result})

    @app.post("/api/toxics/delete")
    async def delete_toxic(request: Request) -> JSONResponse:
        try:
            data = await body(request)
            await run_in_threadpool(
                proxy_api.remove_toxic, str(data.get("proxy", "")), str(data.get("name", ""))
            )
        except (ValueError, FaultProxyError) as exc:
            return error(str(exc))
        return JSONResponse({"ok": True})

    @app.post("/api/proxies/enabled")
    async def set_enabled(request: Request) -> JSONResponse:
        try:
            data = await body(request)
            result = await run_in_threadpool(
                proxy_api.set_enabled, str(data.get("proxy", "")), bool(data.get("enabled"))
            )
        except (ValueError, FaultProxyError) as exc:
            return error(str(exc))
        return JSONResponse({"ok": True, "enabled": result.get("enabled")})

    @app.post("/api/presets")
    async def preset(request: Request) -> JSONResponse:
        try:
            data = await body(request)
        except ValueError as exc:
            return error(str(exc))
        chosen = preset_catalogue.BY_SLUG.get(str(data.get("preset", "")))
        if chosen is None:
            known = ", ".join(preset_catalogue.BY_SLUG)
            return error(f"unknown preset {data.get('preset')!r}; presets: {known}")
        proxy = proxy_name_for(str(data.get("proxy", "")))

        def work() -> list[str]:
            current = proxy_api.proxy(proxy)
            toxics = current.get("toxics") or []
            ours = [t["name"] for t in toxics if str(t.get("name", "")).startswith(chosen.prefix())]
            for name in ours:  # re-applying replaces; removing removes
                proxy_api.remove_toxic(proxy, name)
            if data.get("action") == "remove":
                return ours
            wanted = chosen.toxics_for(current.get("protocol", "tcp"))
            if not wanted:
                raise FaultProxyError(
                    f"{chosen.title} does not apply to a {current.get('protocol')} proxy"
                )
            added = []
            try:
                for toxic in wanted:
                    proxy_api.add_toxic(proxy, toxic)
                    added.append(toxic["name"])
            except FaultProxyError:
                for name in added:  # all or nothing
                    proxy_api.remove_toxic(proxy, name)
                raise
            return added

        try:
            names = await run_in_threadpool(work)
        except FaultProxyError as exc:
            return error(str(exc))
        return JSONResponse({"ok": True, "toxics": names})

    @app.post("/api/runs")
    async def start_run(request: Request) -> JSONResponse:
        from lab.scenario.library import SelectionError, load_all, select

        try:
            data = await body(request)
        except ValueError as exc:
            return error(str(exc))
        selector = str(data.get("selector", "")).strip()
        if not selector:
            return error("which scenarios? a name, a theme or all")
        loaded = await run_in_threadpool(load_all, config.scenarios_dir)
        try:
            chosen = select(loaded.scenarios, [selector])
        except SelectionError as exc:
            return error(str(exc))
        if not chosen:
            return error(f"no scenario matches {selector!r}")
        try:
            run = runs.start(chosen, selector, config.backend, _proxy_client(config))
        except RuntimeError as exc:
            return error(str(exc), 409)
        return JSONResponse({"ok": True, "id": run.id, "total": run.total})

    @app.post("/api/udp")
    async def udp_measure(request: Request) -> JSONResponse:
        from services.udpstream.client import UdpStreamError, measure

        try:
            data = await body(request)
            target = str(data.get("target", "udpstream.via_proxy"))
            if target not in UDP_TARGETS:
                raise ValueError(f"target must be one of {', '.join(UDP_TARGETS)}")
            rate = int(_number(data.get("rate", 500), "rate", 1, 20000))
            duration = _number(data.get("duration", 3), "duration", 0.2, MAX_UDP_SECONDS)
            size = int(_number(data.get("size", 256), "size", 26, 1400))
            host, port = config.backend.address(target)
        except (ValueError, KeyError) as exc:
            return error(str(exc))
        try:
            result = await run_in_threadpool(
                lambda: measure(host, port, rate, size, duration=duration, interval=0.1)
            )
        except UdpStreamError as exc:
            return error(str(exc), 502)
        html = render("_udp_result.html", udp=udp_view(result))
        return JSONResponse({"ok": True, "html": html, "lost": result.lost})

    @app.post("/api/roster")
    async def roster(request: Request) -> JSONResponse:
        try:
            data = await body(request)
            text = str(data.get("text", ""))
            if len(text) > 5_000_000:
                raise RosterError("the file is larger than 5 MB")
            parsed = load_roster(text, str(data.get("filename", "")))
        except (ValueError, RosterError) as exc:
            return error(str(exc))
        return JSONResponse({"ok": True, "html": render("_roster.html", roster=parsed)})

    @app.on_event("shutdown")
    def close_clients() -> None:
        proxy_api.close()

    return app
