"""The async engines behind `j1 serve`, one prompt per call, so concurrent HTTP requests meet in the engine.

Every engine renders a conversation with the model's chat template through `j1.backends.render_chat` (the
same code as the batch backends) and checks the prompt against the context before generating. The HTTP
layer awaits `generate(conv, params)` once per judge prompt; batching is the engine's job:
- `hf` (here): a worker thread collects the prompts that arrive within `batch_wait_ms` (up to
  `max_batch`) and runs one batched transformers `generate` per group of equal sampling parameters;
- `vllm` (`vllm_engine.py`): vLLM's `AsyncLLM` schedules all in-flight prompts (continuous batching);
- `upstream` / `vllm-serve` (`upstream.py`): an OpenAI-compatible server does.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from j1 import J1Error
from j1.backends.base import Conversation, Generation, SamplingParams, render_chat
from j1.backends.hf import HFBackend

log = logging.getLogger(__name__)


class EngineError(J1Error):
    """A generation that failed; `status` is the HTTP status the server answers with."""

    status = 500


class InputRejected(EngineError):
    """The engine refused the input itself (too long for the context, invalid for the model)."""

    status = 422


class PromptTooLong(InputRejected):
    pass


class EngineUnavailable(EngineError):
    status = 503


def check_options(
    engine: str, init: Callable[..., Any], options: dict[str, Any], extra: Sequence[str] = ()
) -> None:
    """Name an option the engine does not take, with the valid ones, before anything loads."""
    params = inspect.signature(init).parameters
    skip = ("self", "model", "model_name", "base_url", "timeout")  # set from the config, not options
    valid = sorted(
        [k for k in params if k not in skip and params[k].kind is not params[k].VAR_KEYWORD] + list(extra)
    )
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise J1Error(f"engine {engine!r} has no option {unknown[0]!r}; valid options: {', '.join(valid)}")


class Engine(ABC):
    name: ClassVar[str]
    proxy_base: str | None = None  # an OpenAI-compatible base URL whose /v1 routes are passed through

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.tokenizer: Any = None
        self.max_model_len: int | None = None
        self.on_call: Callable[[int], None] = lambda n: None  # metrics hook: one engine call of n prompts

    @abstractmethod
    async def start(self) -> None:
        """Load the model / start the engine; called once inside the server's event loop."""

    async def close(self) -> None:
        return None

    async def health(self) -> str | None:
        """None when the engine can take requests, else why not."""
        return None

    def proxy_headers(self) -> dict[str, str]:
        return {}

    def render(self, conv: Conversation) -> str:
        return render_chat(self.tokenizer, conv)

    async def generate(self, conv: Conversation, params: SamplingParams) -> Generation:
        """`params.n` samples for one conversation, rendered with the model's chat template."""
        return await self.generate_prompt(self.render(conv), params)

    async def generate_prompt(self, prompt: str, params: SamplingParams) -> Generation:
        """`params.n` samples continuing `prompt` (text already rendered, no special tokens added)."""
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        self.check_length(len(ids), params.max_tokens)
        return await self._generate(prompt, ids, params)

    def check_length(self, prompt_tokens: int, max_tokens: int) -> None:
        limit = self.max_model_len
        if limit is not None and prompt_tokens + max_tokens > limit:
            raise PromptTooLong(
                f"the rendered prompt is {prompt_tokens} tokens; with max_tokens {max_tokens} it exceeds "
                f"the judge's context of {limit} tokens: shorten the input or lower max_tokens"
            )

    @abstractmethod
    async def _generate(self, prompt: str, ids: list[int], params: SamplingParams) -> Generation: ...


# -- hf: transformers in a worker thread with micro-batching ---------------------------------------


class _RenderedHF(HFBackend):
    """`HFBackend` that also takes prompts rendered already (strings) in place of conversations."""

    def render_all(self, convs: Sequence[Any]) -> list[str]:
        return [c if isinstance(c, str) else self.render(c, i) for i, c in enumerate(convs)]


@dataclass
class _Job:
    prompt: str
    params: SamplingParams
    future: asyncio.Future


def _params_key(p: SamplingParams) -> tuple:
    return (p.n, p.temperature, p.top_p, p.max_tokens, p.seed, tuple(p.stop), p.logprobs)


def _settle(future: asyncio.Future, result: Any = None, error: BaseException | None = None) -> None:
    if future.done():  # cancelled by a timeout or a client that went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class HFEngine(Engine):
    name = "hf"

    def __init__(
        self,
        model: str,
        model_name: str,
        batch_wait_ms: float = 5.0,
        max_batch: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(model_name)
        if batch_wait_ms < 0:
            raise J1Error(f"hf engine: batch_wait_ms must be >= 0, got {batch_wait_ms}")
        check_options("hf", HFBackend.__init__, options, ("batch_wait_ms", "max_batch"))
        self.model, self.options = model, options
        self.batch_wait = batch_wait_ms / 1000
        self.max_batch = max_batch
        self.backend: _RenderedHF | None = None
        self.queue: queue.Queue[_Job | None] = queue.Queue()
        self.thread: threading.Thread | None = None

    async def start(self) -> None:
        self.backend = await asyncio.to_thread(_RenderedHF, self.model, **self.options)
        self.tokenizer = self.backend.tokenizer
        self.max_model_len = getattr(self.backend.model.config, "max_position_embeddings", None)
        self.max_batch = self.max_batch or self.backend.batch_size
        self.loop = asyncio.get_running_loop()
        self.thread = threading.Thread(target=self._worker, name="j1-hf-engine", daemon=True)
        self.thread.start()
        log.info(
            "hf engine: micro-batches of up to %d prompts, %.0f ms wait",
            self.max_batch,
            self.batch_wait * 1e3,
        )

    async def health(self) -> str | None:
        if self.thread is None or not self.thread.is_alive():
            return "the hf engine's worker thread is not running"
        return None

    async def _generate(self, prompt: str, ids: list[int], params: SamplingParams) -> Generation:
        future = self.loop.create_future()
        self.queue.put(_Job(prompt, params, future))
        return await future

    def _worker(self) -> None:
        stop = False
        while not stop:
            job = self.queue.get()
            if job is None:
                return
            batch, deadline = [job], time.monotonic() + self.batch_wait
            while len(batch) < (self.max_batch or 1):
                remaining = deadline - time.monotonic()
                try:
                    nxt = self.queue.get(timeout=remaining) if remaining > 0 else self.queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._run(batch)

    def _run(self, batch: list[_Job]) -> None:
        groups: dict[tuple, list[_Job]] = {}
        for job in batch:
            if not job.future.cancelled():
                groups.setdefault(_params_key(job.params), []).append(job)
        for jobs in groups.values():
            try:
                assert self.backend is not None
                gens = self.backend.generate([j.prompt for j in jobs], jobs[0].params)
            except Exception as e:  # one failed batch fails its requests, not the engine
                log.exception("hf engine: generate failed for a batch of %d prompts", len(jobs))
                error = EngineError(f"hf engine: generation failed: {type(e).__name__}: {e}")
                for j in jobs:
                    self.loop.call_soon_threadsafe(_settle, j.future, None, error)
                continue
            self.loop.call_soon_threadsafe(self.on_call, len(jobs))
            for j, g in zip(jobs, gens, strict=True):
                self.loop.call_soon_threadsafe(_settle, j.future, g)

    async def close(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            self.queue.put(None)
            await asyncio.to_thread(self.thread.join, 60)
        if self.backend is not None:
            self.backend.close()


def make_engine(cfg: Any) -> Engine:
    """The engine `cfg.engine` names, not started yet."""
    opts = dict(cfg.backend_options)
    if cfg.engine == "hf":
        return HFEngine(cfg.judge, cfg.model_name, **opts)
    if cfg.engine == "vllm":
        from j1.server.vllm_engine import VLLMEngine

        return VLLMEngine(cfg.judge, cfg.model_name, seed=cfg.seed, **opts)
    from j1.server.upstream import UpstreamEngine, VLLMServeEngine

    if cfg.engine == "vllm-serve":
        return VLLMServeEngine(cfg.judge, cfg.model_name, seed=cfg.seed, timeout=cfg.request_timeout, **opts)
    check_options("upstream", UpstreamEngine.__init__, opts)
    return UpstreamEngine(cfg.judge, cfg.model_name, cfg.upstream, timeout=cfg.request_timeout, **opts)
