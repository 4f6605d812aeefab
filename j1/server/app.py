"""The FastAPI app of `j1 serve`, and `serve(cfg)`, which runs it under uvicorn until SIGTERM / Ctrl-C.

Routes: `POST /v1/judge/pairwise`, `/v1/judge/pointwise` and their `/batch` forms (judge formats,
both-orders check, N samples: `judge.py`), the OpenAI-compatible `/v1/models`, `/v1/completions`,
`/v1/chat/completions` (`openai_routes.py`), OpenRLHF's remote reward model `POST /get_reward`
(`reward_route.py`), `GET /healthz`, `GET /metrics`, docs at `/docs`. The judging
and OpenAI routes need the API key when one is set; health, metrics and docs are open.

Every error is JSON `{"error": {"type", "message", "details"?}}`: 401 no/wrong key, 404 unknown route or
model, 413 body too large, 422 malformed JSON / unknown field / wrong type / text too long / a prompt too
long for the judge's context, 429 queue full (with Retry-After), 503 engine unavailable, 504 timeout.
On SIGTERM or Ctrl-C uvicorn stops accepting connections and in-flight requests may finish for up to
`shutdown_timeout` s minus a second; the ones still running then are answered 503 (new requests on open
connections at once), and the engine is closed: every request gets an answer within that bound.
"""

# No `from __future__ import annotations` here: FastAPI reads the route annotations at runtime, and the
# request models are classes local to `create_app` (their limits come from the config).

import asyncio
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException

from j1 import J1Error, __version__
from j1.server.config import ServeConfig
from j1.server.engines import Engine, EngineError, make_engine
from j1.server.judge import JudgeService, Options
from j1.server.limits import Gate, Guard, api_key_dependency
from j1.server.metrics import Metrics
from j1.server.openai_routes import openai_router
from j1.server.reward_route import reward_router
from j1.server.schemas import (
    Health,
    PairwiseBatchResult,
    PairwiseResult,
    PointwiseBatchResult,
    PointwiseResult,
    error_body,
    request_models,
)

log = logging.getLogger(__name__)
KINDS = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}
KINDS |= {
    413: "request_too_large",
    422: "invalid_request",
    429: "queue_full",
    503: "unavailable",
    504: "timeout",
}


def _options(body: Any) -> Options:
    return Options(
        both_orders=getattr(body, "both_orders", False),
        samples=body.samples,
        temperature=body.temperature,
        max_tokens=body.max_tokens,
        include_raw=body.include_raw,
        soft=body.soft,
    )


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = KINDS.get(exc.status_code, "error")
        return JSONResponse(error_body(kind, str(exc.detail)), exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = []
        for e in exc.errors():
            msg = e["msg"] + (
                f" ({e['ctx']['error']})" if e.get("type") == "json_invalid" and e.get("ctx") else ""
            )
            details.append({"loc": [str(x) for x in e["loc"]], "msg": msg, "type": e["type"]})
        message = "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in details[:5])
        return JSONResponse(error_body("invalid_request", message, details), 422)

    @app.exception_handler(EngineError)
    async def engine_error(request: Request, exc: EngineError) -> JSONResponse:
        if exc.status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(error_body(KINDS.get(exc.status, "engine_error"), str(exc)), exc.status)

    @app.exception_handler(J1Error)
    async def j1_error(request: Request, exc: J1Error) -> JSONResponse:
        return JSONResponse(error_body("bad_request", str(exc)), 400)


def create_app(cfg: ServeConfig, engine: Engine | None = None) -> FastAPI:
    """The app for `cfg`; the engine starts in the app's lifespan (before the port serves anything)."""
    cfg.check()
    engine = engine or make_engine(cfg)
    metrics = Metrics()
    gate = Gate(cfg.queue_size, cfg.request_timeout, metrics)
    auth = api_key_dependency(cfg.api_key, metrics)
    service = JudgeService(engine, cfg, metrics)
    models = request_models(cfg)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await engine.start()
        except BaseException as e:
            app.state.startup_error = e
            raise
        engine.on_call = metrics.engine_call
        log.info("j1 serve: %s engine ready, model %s, format %s", engine.name, cfg.model_name, cfg.format)
        try:
            yield
        finally:
            log.info("j1 serve: closing the %s engine", engine.name)
            await engine.close()

    app = FastAPI(
        title="j1 serve",
        version=__version__,
        description="A J1 judge behind HTTP: pairwise and pointwise judging, OpenAI-compatible routes.",
        lifespan=lifespan,
    )
    app.state.cfg, app.state.engine, app.state.metrics, app.state.gate = cfg, engine, metrics, gate
    app.state.startup_error = None
    app.add_middleware(Guard, max_body_bytes=cfg.max_body_bytes, metrics=metrics)
    _add_error_handlers(app)

    router = APIRouter(prefix="/v1/judge", tags=["judge"], dependencies=[Depends(auth)])
    PairwiseRequest, PairwiseBatch = models.pairwise, models.pairwise_batch
    PointwiseRequest, PointwiseBatch = models.pointwise, models.pointwise_batch

    @router.post("/pairwise", response_model=PairwiseResult, summary="Which of two responses is better")
    async def pairwise(body: PairwiseRequest) -> dict[str, Any]:  # type: ignore[valid-type]
        opts = _options(body)
        return await gate.run(
            service.cost("pairwise", 1, opts),
            lambda: service.pairwise(body.prompt, body.response_a, body.response_b, opts),
        )

    @router.post("/pairwise/batch", response_model=PairwiseBatchResult, summary="Many pairs, one request")
    async def pairwise_batch(body: PairwiseBatch) -> dict[str, Any]:  # type: ignore[valid-type]
        opts = _options(body)

        async def work() -> list[dict[str, Any]]:
            return list(
                await asyncio.gather(
                    *(service.pairwise(x.prompt, x.response_a, x.response_b, opts) for x in body.items)
                )
            )

        return {"results": await gate.run(service.cost("pairwise", len(body.items), opts), work)}

    @router.post("/pointwise", response_model=PointwiseResult, summary="Score one response (0-10)")
    async def pointwise(body: PointwiseRequest) -> dict[str, Any]:  # type: ignore[valid-type]
        opts = _options(body)
        return await gate.run(
            service.cost("pointwise", 1, opts), lambda: service.pointwise(body.prompt, body.response, opts)
        )

    @router.post(
        "/pointwise/batch", response_model=PointwiseBatchResult, summary="Many responses, one request"
    )
    async def pointwise_batch(body: PointwiseBatch) -> dict[str, Any]:  # type: ignore[valid-type]
        opts = _options(body)

        async def work() -> list[dict[str, Any]]:
            return list(
                await asyncio.gather(*(service.pointwise(x.prompt, x.response, opts) for x in body.items))
            )

        return {"results": await gate.run(service.cost("pointwise", len(body.items), opts), work)}

    app.include_router(router)
    app.include_router(openai_router(engine, cfg, gate, metrics, auth))
    app.include_router(reward_router(service, cfg, gate, auth))

    @app.get("/healthz", response_model=Health, tags=["service"], summary="Is the judge ready")
    async def healthz(response: Response) -> Health:
        reason = await engine.health()
        if reason:
            response.status_code = 503
        return Health(
            status="unavailable" if reason else "ok",
            engine=cfg.engine,
            model=cfg.model_name,
            format=cfg.format,
            queue={"used": gate.used, "capacity": gate.capacity},
            reason=reason,
        )

    @app.get("/metrics", tags=["service"], summary="Prometheus metrics", response_class=Response)
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return app


def bind_port(host: str, port: int) -> socket.socket:
    """The server's socket, bound now and held through the engine's start-up (minutes), so that nothing
    (vLLM's own ports among them) takes the port in between; uvicorn listens on it once the engine is
    ready, and connections before that are refused. A forked child (vLLM's engine core) closes its copy
    at once, so the port is never held by a process that does not serve it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise J1Error(f"cannot listen on {host}:{port}: {e.strerror} (pick another --port)") from e
    os.register_at_fork(after_in_child=sock.close)
    return sock


DRAIN_MARGIN = 1.0  # seconds between answering the last requests 503 and uvicorn's own cancel


def _server_class(gate: Gate, shutdown_timeout: float) -> type:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn re-raises SIGTERM / SIGINT after its graceful shutdown (the process then dies by the
        signal); here a drained shutdown is a normal exit (status 0). The gate answers what is still
        running 503 just before uvicorn would cancel it (a dropped connection)."""

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:  # uvicorn logs no address for sockets it was given
                host, port = self.config.host, self.config.port
                log.info("j1 serve: listening on http://%s:%d", f"[{host}]" if ":" in host else host, port)

        def handle_exit(self, sig: int, frame: Any) -> None:
            if not self.should_exit:
                window = max(shutdown_timeout - DRAIN_MARGIN, 0.0)
                loop = asyncio.get_event_loop()
                loop.call_soon_threadsafe(gate.drain, window)
            super().handle_exit(sig, frame)
            if sig in (signal.SIGTERM, signal.SIGINT) and sig in self._captured_signals:
                self._captured_signals.remove(sig)
            log.info("j1 serve: %s received; draining in-flight requests", signal.Signals(sig).name)

    return Server


def serve(cfg: ServeConfig) -> None:
    """Run the server until SIGTERM / Ctrl-C; in-flight requests finish before the engine closes."""
    import uvicorn

    cfg.check()
    sock = bind_port(cfg.host, cfg.port)  # before minutes of engine start-up, not after
    if cfg.host not in ("127.0.0.1", "localhost", "::1") and not cfg.api_key:
        log.warning(
            "serving on %s without an API key: anyone who reaches this port can use the judge", cfg.host
        )
    app = create_app(cfg)
    _Server = _server_class(app.state.gate, cfg.shutdown_timeout)
    config = uvicorn.Config(
        app,
        host=cfg.host,
        port=cfg.port,
        log_level=cfg.log_level,
        access_log=cfg.access_log,
        timeout_graceful_shutdown=cfg.shutdown_timeout,
        lifespan="on",
    )
    server = _Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    error = app.state.startup_error
    if error is not None:
        raise J1Error(f"j1 serve: the {cfg.engine} engine did not start: {error}") from error
    if not server.started:
        raise J1Error(f"j1 serve: the server did not start on {cfg.host}:{cfg.port} (see the log above)")
