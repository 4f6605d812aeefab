"""What protects the service: body size limit, API key, bounded admission queue, per-request timeout.

- `Guard` (ASGI middleware, outermost): a body over `max_body_bytes` is answered 413 before any route
  sees it (the declared Content-Length is checked first, then the bytes actually read); the refused body
  is read and dropped first (up to `DRAIN_BYTES`), so a client that writes its whole body before reading
  sees the 413 rather than a reset connection. It also records every request's route, status and latency
  in the metrics.
- `api_key_dependency`: when a key is set, `Authorization: Bearer KEY` is required (401 otherwise; the
  comparison is constant-time). `/healthz`, `/metrics` and the docs stay open.
- `Gate`: admission counts engine prompts in flight or waiting; a request that would take the count
  over `queue_size` is refused at once with 429 and `Retry-After` (a request larger than the whole queue
  is let in alone when the queue is empty). Admitted work runs under `request_timeout` (504 beyond; the
  engine request is cancelled - vLLM aborts it, the hf worker skips it unless its batch already started).
  On shutdown (`drain`), a request that arrives is refused with 503 and one still running when the drain
  window closes is answered 503 ("shutting down"), so every in-flight request gets an answer before the
  server exits: none hangs and none sees its connection dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from j1.server.metrics import Metrics
from j1.server.schemas import error_body

log = logging.getLogger(__name__)
T = TypeVar("T")
DRAIN_BYTES = 64 << 20  # a refused body up to this size is read to its end before the 413 goes out


class Guard:
    def __init__(self, app: Any, max_body_bytes: int, metrics: Metrics) -> None:
        self.app, self.limit, self.metrics = app, max_body_bytes, metrics

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), [500]

        async def send_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            body, error = await self._read(scope, receive)
            if error is not None:
                status[0] = error[0]
                await self._reply(send, *error)
                return
            sent = False

            async def replay() -> dict:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()  # after the body: wait for a disconnect

            await self.app(scope, replay, send_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(path, scope.get("method", ""), str(status[0])).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - start)

    async def _read(self, scope: dict, receive: Callable) -> tuple[bytes, tuple[int, str, str] | None]:
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                return b"", (400, "bad_request", "invalid Content-Length header")
            if size > self.limit:
                if size <= DRAIN_BYTES:
                    await self._drain(receive, size)
                return b"", self._too_large(size)
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"", (400, "bad_request", "the client disconnected while sending the body")
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.limit:
                if message.get("more_body", False):
                    total += await self._drain(receive, DRAIN_BYTES - total)
                return b"", self._too_large(total, at_least=True)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), None

    @staticmethod
    async def _drain(receive: Callable, budget: int) -> int:
        """Read and drop the rest of a refused body (up to `budget` bytes): a client that sends its whole
        body before reading the reply (Python's urllib does) then reads the 413 instead of a connection
        reset, which is what closing a socket with unread bytes in it produces."""
        dropped = 0
        while dropped <= budget:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            dropped += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        return dropped

    def _too_large(self, size: int, at_least: bool = False) -> tuple[int, str, str]:
        self.metrics.rejected.labels("too_large").inc()
        got = f"{'at least ' if at_least else ''}{size} bytes"
        return 413, "request_too_large", f"request body is {got}; the limit is {self.limit} bytes"

    @staticmethod
    async def _reply(send: Callable, status: int, kind: str, message: str) -> None:
        payload = json.dumps(error_body(kind, message)).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def api_key_dependency(api_key: str | None, metrics: Metrics) -> Callable[..., Awaitable[None]]:
    bearer = HTTPBearer(auto_error=False, description="The server's API key (when it has one)")
    expected = api_key.encode() if api_key else None

    async def require_api_key(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:  # noqa: B008
        if expected is None:
            return
        if creds is None or not secrets.compare_digest(creds.credentials.encode(), expected):
            metrics.rejected.labels("unauthorized").inc()
            raise HTTPException(
                401,
                "missing or wrong API key: send the header `Authorization: Bearer KEY`",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return require_api_key


class Gate:
    def __init__(self, capacity: int, timeout: float, metrics: Metrics) -> None:
        self.capacity, self.timeout, self.metrics = capacity, timeout, metrics
        self.used = 0  # touched only from the event loop's thread
        self.closing = False
        self.closed = asyncio.Event()  # set when the drain window ends (bound to the loop at first use)

    def drain(self, window: float) -> None:
        """From the event loop's thread: refuse new work now, answer running work 503 after `window` s."""
        self.closing = True
        asyncio.get_running_loop().call_later(max(window, 0.0), self.closed.set)

    def enter(self, cost: int) -> None:
        """Admit `cost` prompts or refuse with 429; every `enter` needs its `leave`."""
        if self.used > 0 and self.used + cost > self.capacity:
            self.metrics.rejected.labels("queue_full").inc()
            raise HTTPException(
                429,
                f"the judge's queue is full ({self.used} of {self.capacity} prompts admitted; this request "
                f"needs {cost}): retry later",
                headers={"Retry-After": "1"},
            )
        self.used += cost
        self.metrics.queue.set(self.used)

    def leave(self, cost: int) -> None:
        self.used -= cost
        self.metrics.queue.set(self.used)

    async def run(self, cost: int, work: Callable[[], Awaitable[T]]) -> T:
        """`work()` admitted with `cost` prompts, under the request timeout and the shutdown drain."""
        if self.closing:
            self.metrics.rejected.labels("shutdown").inc()
            raise HTTPException(503, "the server is shutting down: retry on another replica or later")
        self.enter(cost)
        task = asyncio.ensure_future(work())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved: no log noise
        closed = asyncio.ensure_future(self.closed.wait())
        try:
            done, _ = await asyncio.wait({task, closed}, timeout=self.timeout, return_when="FIRST_COMPLETED")
            if task in done:
                return task.result()
            if closed in done:
                self.metrics.rejected.labels("shutdown").inc()
                raise HTTPException(503, "the server is shutting down: this request was stopped unanswered")
            self.metrics.rejected.labels("timeout").inc()
            raise HTTPException(504, f"no answer within the request timeout of {self.timeout:g} s")
        finally:
            for t in (task, closed):
                t.cancel()
            self.leave(cost)
