"""Engines that generate over HTTP: any OpenAI-compatible `upstream`, and a supervised `vllm serve` child.

`UpstreamEngine` keeps one pooled `httpx.AsyncClient` for the server's lifetime. With a local tokenizer
(`tokenizer` option, by default the judge's folder when `judge` is one; always for `vllm-serve`) judge prompts are rendered here with the model's chat
template, exactly as the in-process engines do, and sent to `/completions`; without one the messages go to
`/chat/completions` and the upstream applies its own template. Connection errors and 429/502/503/504 are
retried `max_retries` times with backoff; the upstream refusing an input (another 4xx) is a 422 for the
caller, any other failure a 502. Both engines also pass the upstream's `/v1` routes through (`proxy_base`).

`VLLMServeEngine` launches `python -m vllm.entrypoints.openai.api_server` on a free 127.0.0.1 port with a
random API key of its own (so nothing else on the machine can use the child), waits for its `/health`, and
watches it: a child that dies is restarted (up to `max_restarts` times, then the server reports itself
unhealthy and answers 503 with the reason); its output goes to a log file named in every error. The child
dies with the server (`PR_SET_PDEATHSIG` on Linux) and runs in its own session, so a Ctrl-C reaches only
the server, which drains its requests before stopping the child.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from j1 import J1Error
from j1.backends.base import Conversation, Generation, Sample, SamplingParams, load_tokenizer
from j1.backends.openai import read_logprobs
from j1.models import is_local_model, resolve_model
from j1.server.engines import Engine, EngineError, EngineUnavailable, InputRejected

log = logging.getLogger(__name__)


class UpstreamError(EngineError):
    status = 502


class UpstreamTimeout(EngineError):
    status = 504


def _split(total: int, n: int) -> list[int]:
    q, r = divmod(total, n)
    return [q + (i < r) for i in range(n)]


def _message(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text[:300]
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])[:300]
    return json.dumps(body)[:300]


class UpstreamEngine(Engine):
    name = "upstream"

    def __init__(
        self,
        model: str,
        model_name: str,
        base_url: str,
        tokenizer: str | None = None,
        upstream_api_key: str | None = None,
        max_retries: int = 2,
        timeout: float = 300.0,
        max_connections: int = 256,
    ) -> None:
        super().__init__(model_name)
        if max_retries < 0 or timeout <= 0 or max_connections < 1:
            raise J1Error("upstream engine: need max_retries >= 0, timeout > 0 and max_connections >= 1")
        self.upstream_model = model
        self.base_url = base_url.rstrip("/")
        if tokenizer is None and is_local_model(model):
            tokenizer = model  # the judge's own folder: render its chat template here
        self.tokenizer_ref = tokenizer
        self.api_key = upstream_api_key or os.environ.get("J1_UPSTREAM_API_KEY") or None
        self.max_retries, self.timeout, self.max_connections = max_retries, timeout, max_connections
        self.extra_body: dict[str, Any] = {}
        self.client: httpx.AsyncClient | None = None

    @property
    def proxy_base(self) -> str:  # type: ignore[override]
        return self.base_url

    def proxy_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    async def start(self) -> None:
        if self.tokenizer_ref:
            self.tokenizer = await asyncio.to_thread(load_tokenizer, resolve_model(self.tokenizer_ref))
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout, connect=10.0),
            limits=httpx.Limits(
                max_connections=self.max_connections, max_keepalive_connections=self.max_connections
            ),
            headers=self.proxy_headers(),
        )
        mode = "completions (prompts rendered here)" if self.tokenizer is not None else "chat"
        log.info("upstream engine: %s, model %s, %s mode", self.base_url, self.upstream_model, mode)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    async def health(self) -> str | None:
        if self.client is None:
            return "the upstream client is not started"
        try:
            r = await self.client.get(f"{self.base_url}/models", timeout=5.0)
        except httpx.HTTPError as e:
            return f"upstream {self.base_url} unreachable: {type(e).__name__}: {e}"
        return None if r.status_code == 200 else f"upstream {self.base_url}/models: HTTP {r.status_code}"

    async def generate(self, conv: Conversation, params: SamplingParams) -> Generation:
        if self.tokenizer is None:
            return await self._chat([dict(m) for m in conv], params)
        return await super().generate(conv, params)

    async def generate_prompt(self, prompt: str, params: SamplingParams) -> Generation:
        if self.tokenizer is None:  # no tokenizer: the upstream counts, and checks the context
            return await self._complete(prompt, None, params)
        return await super().generate_prompt(prompt, params)

    async def _generate(self, prompt: str, ids: list[int], params: SamplingParams) -> Generation:
        return await self._complete(prompt, ids, params)

    def _body(self, p: SamplingParams) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.upstream_model, "n": p.n, "temperature": p.temperature}
        body |= {"top_p": p.top_p, "max_tokens": p.max_tokens}
        if p.stop:
            body["stop"] = list(p.stop)
        if p.logprobs:
            body["logprobs"] = p.logprobs  # the completions API's top-k; chat requests rewrite it below
        return body

    async def _complete(self, prompt: str, ids: list[int] | None, p: SamplingParams) -> Generation:
        data = await self.post("completions", self._body(p) | {"prompt": prompt} | self.extra_body)
        choices, usage = self._choices(data, p.n)
        texts = [c.get("text") or "" for c in choices]
        prompt_tokens = len(ids) if ids is not None else int(usage.get("prompt_tokens") or 0)
        return self._generation(prompt, prompt_tokens, texts, choices, usage, p.n, p.logprobs)

    async def _chat(self, conv: list[dict[str, str]], p: SamplingParams) -> Generation:
        body = self._body(p) | {"messages": conv}
        if p.logprobs:
            body |= {"logprobs": True, "top_logprobs": p.logprobs}
        data = await self.post("chat/completions", body)
        choices, usage = self._choices(data, p.n)
        texts = [(c.get("message") or {}).get("content") or "" for c in choices]
        prompt = json.dumps(conv, ensure_ascii=False)
        return self._generation(
            prompt, int(usage.get("prompt_tokens") or 0), texts, choices, usage, p.n, p.logprobs
        )

    def _choices(self, data: Any, n: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or len(choices) != n:
            got = len(choices) if isinstance(choices, list) else "no"
            raise UpstreamError(f"upstream {self.base_url}: asked for {n} choices, got {got}")
        return sorted(choices, key=lambda c: c.get("index", 0)), data.get("usage") or {}

    def _generation(
        self,
        prompt: str,
        prompt_tokens: int,
        texts: list[str],
        choices: list,
        usage: dict,
        n: int,
        logprobs: int = 0,
    ) -> Generation:
        counts = _split(int(usage.get("completion_tokens") or 0), n)
        self.on_call(1)
        samples = [
            Sample(t, k, c.get("finish_reason"), read_logprobs(c) if logprobs else None)
            for t, k, c in zip(texts, counts, choices, strict=True)
        ]
        return Generation(prompt, prompt_tokens, samples)

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        if self.client is None:
            raise EngineUnavailable("the upstream engine is not started")
        url = f"{self.base_url}/{path}"
        error: EngineError = EngineUnavailable(f"{url}: no attempt made")
        for attempt in range(self.max_retries + 1):
            if attempt:
                await asyncio.sleep(0.25 * 2 ** (attempt - 1))
            try:
                r = await self.client.post(url, json=body)
            except httpx.TimeoutException as e:
                raise UpstreamTimeout(f"{url}: no answer within {self.timeout:g} s") from e
            except httpx.TransportError as e:
                error = EngineUnavailable(f"{url}: cannot connect ({type(e).__name__}: {e})")
                continue
            if r.status_code < 400:
                return r.json()
            message = f"{url}: HTTP {r.status_code}: {_message(r)}"
            if r.status_code in (429, 502, 503, 504):
                error = EngineUnavailable(message)
                continue
            if r.status_code in (400, 413, 422):
                raise InputRejected(f"the upstream rejected the input: {message}")
            raise UpstreamError(message)
        raise error


# -- vllm-serve: a supervised child ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child between fork and exec (Linux only)
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _kill_group(pgid: int) -> None:
    """SIGKILL what is left of the child's process group (it was started in a session of its own)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _flags(options: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            out.append(flag)
        elif value is False:
            out.append("--no-" + key.replace("_", "-"))
        elif value is not None:
            out += [flag, json.dumps(value) if isinstance(value, dict | list) else str(value)]
    return out


class VLLMServeEngine(UpstreamEngine):
    name = "vllm-serve"

    def __init__(
        self,
        model: str,
        model_name: str,
        seed: int = 0,
        timeout: float = 300.0,
        startup_timeout: float = 900.0,
        max_restarts: int = 3,
        max_retries: int = 2,
        **vllm_options: Any,
    ) -> None:
        super().__init__(
            model_name, model_name, "http://127.0.0.1:0/v1", max_retries=max_retries, timeout=timeout
        )
        self.tokenizer_ref = None  # loaded once in `start`, not again at every (re)launch
        self.model, self.seed, self.vllm_options = model, seed, vllm_options
        self.startup_timeout, self.max_restarts = startup_timeout, max_restarts
        self.api_key = secrets.token_urlsafe(24)  # the child's own key
        self.extra_body = {"add_special_tokens": False}  # the prompt is rendered with the template already
        self.proc: subprocess.Popen | None = None
        self.down: str | None = None  # why the child cannot serve, while restarting or after giving up
        self.restarts = 0
        self.closing = False
        self.monitor: asyncio.Task | None = None

    def _command(self, path: str, port: int) -> list[str]:
        from j1.backends.vllm import on_cpu

        opts: dict[str, Any] = {"seed": self.seed}
        if on_cpu():
            opts |= {"dtype": "bfloat16", "enforce_eager": True, "gpu_memory_utilization": 0.3}
        opts |= self.vllm_options
        cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", path]
        cmd += ["--served-model-name", self.model_name, "--host", "127.0.0.1", "--port", str(port)]
        return cmd + _flags(opts)

    async def start(self) -> None:
        path = resolve_model(self.model)
        self.tokenizer = await asyncio.to_thread(load_tokenizer, path)
        self.path = path
        await self._launch()
        self.monitor = asyncio.create_task(self._supervise())

    async def _launch(self) -> None:
        port = free_port()
        self.log_path = Path(tempfile.gettempdir()) / f"j1-vllm-serve-{os.getpid()}-{port}.log"
        cmd = self._command(self.path, port)
        log.info("vllm-serve: launching %s (log %s)", " ".join(cmd), self.log_path)
        env = dict(os.environ, VLLM_API_KEY=self.api_key)  # the key stays off the command line
        with open(self.log_path, "w") as out:
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )  # fmt: skip
        self.base_url = f"http://127.0.0.1:{port}/v1"
        if self.client is not None:
            await self.client.aclose()
        await super().start()
        deadline = time.monotonic() + self.startup_timeout
        async with httpx.AsyncClient(timeout=5.0) as probe:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise J1Error(
                        f"vllm serve exited with {self.proc.returncode} during start-up: {self._tail()}"
                    )
                try:
                    if (await probe.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                        log.info("vllm-serve: ready on port %d (pid %d)", port, self.proc.pid)
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(1.0)
        self._stop_child()
        raise J1Error(f"vllm serve did not become healthy in {self.startup_timeout:g} s: {self._tail()}")

    def _tail(self, lines: int = 15) -> str:
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            tail = []
        return f"log {self.log_path}:\n" + "\n".join(tail)

    async def _supervise(self) -> None:
        while not self.closing:
            await asyncio.sleep(1.0)
            if self.closing or self.proc is None or self.proc.poll() is None:
                continue
            code = self.proc.returncode
            _kill_group(self.proc.pid)  # its engine-core and worker processes outlive a killed API server
            if self.restarts >= self.max_restarts:
                self.down = f"vllm serve died (exit {code}) after {self.restarts} restarts; {self._tail(5)}"
                log.error("vllm-serve: %s; giving up", self.down)
                return
            self.restarts += 1
            self.down = f"vllm serve died (exit {code}); restarting ({self.restarts}/{self.max_restarts})"
            log.error("vllm-serve: %s; %s", self.down, self._tail())
            await asyncio.sleep(min(2.0 ** (self.restarts - 1), 60.0))  # 1, 2, 4 ... s: no restart storm
            try:
                await self._launch()
                self.down = None
            except J1Error as e:
                self.down = str(e)
                log.error("vllm-serve: restart failed: %s", e)

    async def health(self) -> str | None:
        return self.down or await super().health()

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        if self.down:
            raise EngineUnavailable(self.down)
        return await super().post(path, body)

    def _stop_child(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                log.warning("vllm-serve: child %d ignored SIGTERM for 30 s; killing it", proc.pid)
                proc.kill()
                proc.wait()
        _kill_group(proc.pid)

    async def close(self) -> None:
        self.closing = True
        if self.monitor is not None:
            self.monitor.cancel()
        await asyncio.to_thread(self._stop_child)
        await super().close()
