"""`openai` backend: any OpenAI-compatible HTTP server (a vLLM server, `j1 serve`, an API model).

Generation moves off this process onto servers that may scale out: several base URLs take requests in
turn (round-robin), at most `concurrency` requests are in flight across all of them, and the `openai`
client retries connection errors, 408/409/429 and 5xx with backoff.

Two modes:
- "completions": the conversation is rendered here with the local tokenizer (`Backend.render`, the same
  template code as `hf` and `vllm`) and the text goes to `/v1/completions`, so the prompt is exactly the
  one the other backends use;
- "chat": the messages go to `/v1/chat/completions` and the server applies its own template (API models
  with no local tokenizer). Without a tokenizer `Generation.prompt` holds the messages as JSON and the
  token counts come from the server's `usage`: `prompt_tokens` as reported, `usage.completion_tokens`
  split evenly across the `n` choices (the API does not count per choice).
"auto" picks completions when a tokenizer is given, else chat.

With a local tokenizer a sample's `num_tokens` counts its text, plus one for the EOS token when the server
stopped on EOS, or plus the tokens of the stop string when it stopped on one (vLLM reports it as
`stop_reason`), as the vLLM engine counts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from j1 import J1Error
from j1.backends.base import (
    Backend,
    Conversation,
    Generation,
    Sample,
    SamplingParams,
    check_conversation,
    load_tokenizer,
)

log = logging.getLogger(__name__)

MODES = ("auto", "completions", "chat")


def _urls(base_url: str | Sequence[str]) -> list[str]:
    items = base_url.split(",") if isinstance(base_url, str) else list(base_url)
    urls = [u.strip().rstrip("/") for u in items if u and u.strip()]
    if not urls:
        raise J1Error("the openai backend needs at least one base_url")
    return urls


def _split(total: int, n: int) -> list[int]:
    """`total` tokens over `n` choices as evenly as possible, the remainder on the first choices."""
    q, r = divmod(total, n)
    return [q + (i < r) for i in range(n)]


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | list[str] = "http://127.0.0.1:8000/v1",
        api_key: str | None = None,
        tokenizer: str | None = None,
        mode: str = "auto",
        concurrency: int = 16,
        timeout: float = 120.0,
        max_retries: int = 4,
    ) -> None:
        try:
            import openai  # noqa: F401
        except ImportError as e:
            raise J1Error("the openai backend needs the `openai` package: `pip install openai`") from e
        if mode not in MODES:
            raise J1Error(f"openai backend: unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
        if mode == "completions" and not tokenizer:
            raise J1Error("openai backend: mode 'completions' renders prompts locally and needs a tokenizer")
        if concurrency < 1:
            raise J1Error(f"openai backend: concurrency must be >= 1, got {concurrency}")
        if timeout <= 0 or max_retries < 0:
            raise J1Error(
                f"openai backend: need timeout > 0 and max_retries >= 0, got {timeout}, {max_retries}"
            )
        self.model = model
        self.base_urls = _urls(base_url)
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.mode = mode if mode != "auto" else ("completions" if tokenizer else "chat")
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self._next = 0  # round-robin position, kept across calls so one-conversation calls spread too
        self._lock = threading.Lock()
        self._closed = False
        if tokenizer:
            from j1.models import resolve_model

            self.tokenizer = load_tokenizer(resolve_model(tokenizer))
        log.info("openai backend: model %s, %s mode, servers %s", model, self.mode, ", ".join(self.base_urls))

    # -- sync entry point -------------------------------------------------------------------------

    def generate(self, convs: Sequence[Conversation], params: SamplingParams) -> list[Generation]:
        if self._closed:
            raise J1Error("openai backend: generate() called after close()")
        convs = [check_conversation(c, i) for i, c in enumerate(convs)]
        if self.mode == "chat" and any(c[-1]["role"] == "assistant" for c in convs):
            raise J1Error(
                "openai backend: a conversation ending with an assistant message (a prefill) needs "
                "mode 'completions' (a local tokenizer renders it); chat servers would start a new turn"
            )
        prompts = self.render_all(convs) if self.mode == "completions" else None
        if not convs:
            return []
        with self._lock:
            first, self._next = self._next, self._next + len(convs)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._generate(convs, prompts, params, first))
        # Called from inside a running event loop (a notebook, an async server): run in a thread.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="j1-openai") as pool:
            return pool.submit(asyncio.run, self._generate(convs, prompts, params, first)).result()

    # -- async machinery --------------------------------------------------------------------------

    async def _generate(
        self, convs: list[list[dict[str, str]]], prompts: list[str] | None, params: SamplingParams, first: int
    ) -> list[Generation]:
        from openai import AsyncOpenAI

        # httpx clients and semaphores are bound to one event loop, and each call runs its own loop.
        clients = [
            AsyncOpenAI(base_url=u, api_key=self.api_key, timeout=self.timeout, max_retries=self.max_retries)
            for u in self.base_urls
        ]
        sem = asyncio.Semaphore(self.concurrency)
        tasks = [
            asyncio.ensure_future(
                self._one(
                    clients[(first + i) % len(clients)], sem, conv, prompts[i] if prompts else None, params
                )
            )
            for i, conv in enumerate(convs)
        ]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)

    async def _one(
        self,
        client: Any,
        sem: asyncio.Semaphore,
        conv: list[dict[str, str]],
        prompt: str | None,
        p: SamplingParams,
    ) -> Generation:
        import openai

        args: dict[str, Any] = {
            "model": self.model,
            "n": p.n,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_tokens": p.max_tokens,
        }
        if p.seed is not None:
            args["seed"] = p.seed
        if p.stop:
            args["stop"] = list(p.stop)
        if p.logprobs:
            args |= (
                {"logprobs": p.logprobs}
                if prompt is not None
                else {"logprobs": True, "top_logprobs": p.logprobs}
            )
        endpoint = "completions" if prompt is not None else "chat/completions"
        url = f"{str(client.base_url).rstrip('/')}/{endpoint}"
        try:
            async with sem:
                if prompt is not None:
                    resp = await client.completions.create(prompt=prompt, **args)
                else:
                    resp = await client.chat.completions.create(messages=conv, **args)
        except openai.APIStatusError as e:
            raise J1Error(f"{url}: HTTP {e.status_code}: {e.message}") from e
        except openai.APITimeoutError as e:
            raise J1Error(
                f"{url}: request timed out after {self.timeout:g}s ({self.max_retries} retries)"
            ) from e
        except openai.APIConnectionError as e:
            cause = e.__cause__ or e
            raise J1Error(
                f"{url}: cannot connect ({type(cause).__name__}: {cause}) after {self.max_retries} retries"
            ) from e
        except openai.OpenAIError as e:
            raise J1Error(f"{url}: {type(e).__name__}: {e}") from e
        return self._to_generation(resp, conv, prompt, p, url)

    # -- response -> Generation -------------------------------------------------------------------

    def _to_generation(
        self, resp: Any, conv: list[dict[str, str]], prompt: str | None, p: SamplingParams, url: str
    ) -> Generation:
        choices = sorted(resp.choices or [], key=lambda c: c.index)
        if len(choices) != p.n:
            raise J1Error(f"{url}: asked for n={p.n} choices, the server returned {len(choices)}")
        texts = [(c.text if prompt is not None else c.message.content) or "" for c in choices]
        usage = resp.usage
        if self.tokenizer is not None:
            counts = [self._count(t, c, p) for t, c in zip(texts, choices, strict=True)]
        elif usage is not None and usage.completion_tokens is not None:
            counts = _split(usage.completion_tokens, p.n)
        else:
            log.warning("%s: no usage in the response and no local tokenizer; token counts are 0", url)
            counts = [0] * p.n
        if prompt is not None:
            shown, prompt_tokens = prompt, len(self.tokenizer.encode(prompt, add_special_tokens=False))
        else:
            shown = self.render(conv) if self.tokenizer is not None else json.dumps(conv, ensure_ascii=False)
            prompt_tokens = (
                usage.prompt_tokens if usage is not None and usage.prompt_tokens is not None else 0
            )
        samples = [
            Sample(t, n, c.finish_reason, read_logprobs(c) if p.logprobs else None)
            for t, n, c in zip(texts, counts, choices, strict=True)
        ]
        return Generation(prompt=shown, prompt_tokens=prompt_tokens, samples=samples)

    def _count(self, text: str, choice: Any, p: SamplingParams) -> int:
        n = len(self.tokenizer.encode(text, add_special_tokens=False))
        if choice.finish_reason != "stop":
            return n
        extra = getattr(choice, "model_extra", None) or {}
        reason = extra.get("stop_reason")  # vLLM: None on EOS, else the stop string (or a stop token id)
        if isinstance(reason, str):
            return len(self.tokenizer.encode(text + reason, add_special_tokens=False))
        if p.stop and "stop_reason" not in extra:
            return n  # a server that does not say why it stopped: with stop strings, assume one was hit
        return n + 1  # EOS (or a stop token id), which vLLM keeps in its count

    def close(self) -> None:
        """Clients live for one `generate` call and are closed by it; afterwards `generate` refuses."""
        self._closed = True


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def read_logprobs(choice: Any) -> list[tuple[str, dict[str, float]]] | None:
    """A choice's tokens with their top alternatives (an openai object or its JSON): chat
    (`logprobs.content[i].top_logprobs`) or completions (`logprobs.tokens` / `logprobs.top_logprobs`);
    None when the server sent none."""
    lp = _get(choice, "logprobs")
    if lp is None:
        return None
    content = _get(lp, "content")
    if content is not None:
        out = []
        for t in content:
            alts = {_get(a, "token"): float(_get(a, "logprob")) for a in _get(t, "top_logprobs") or []}
            out.append((_get(t, "token"), alts or {_get(t, "token"): float(_get(t, "logprob"))}))
        return out
    tokens, tops = _get(lp, "tokens"), _get(lp, "top_logprobs")
    if tokens is None or tops is None:
        return None
    return [
        (tok, {k: float(v) for k, v in (top or {}).items()}) for tok, top in zip(tokens, tops, strict=False)
    ]
