"""Client of `j1 serve`, and a TRL reward function that scores a policy's completions with the served judge.

    from j1.client import JudgeClient, judge_reward

    with JudgeClient("http://127.0.0.1:8000", api_key="KEY") as judge:
        r = judge.pairwise("What is 12 + 30?", "42", "32", both_orders=True)
        r["verdict"], r["agreement"], r["orders"]
    async with JudgeClient(url) as judge:                   # the same methods, `a`-prefixed, for asyncio
        rs = await judge.apointwise_batch([("What is 12 + 30?", "42"), ("Name a colour.", "blue")])

    trainer = trl.GRPOTrainer(..., reward_funcs=[judge_reward(url, mode="pairwise", reference_key="chosen")])

One `httpx.Client` (sync) and one `httpx.AsyncClient` (per event loop) are kept and reused, so requests
share pooled connections. Connection errors, 429 (honouring Retry-After) and 5xx are retried
`max_retries` times with exponential backoff and jitter; any other error status raises `JudgeAPIError`
at once with the server's message. Results are the server's JSON objects (see `/docs`): a pairwise
result has `verdict` ("A", "B", "tie", or None when the judge's output did not parse), `scores`,
`reasoning`, `orders`, `agreement`; a pointwise result has `score` (0-10 or None).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from j1 import J1Error

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
RETRY_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError)


class JudgeAPIError(J1Error):
    """The server answered with an error status (after any retries)."""

    def __init__(self, status: int, message: str, url: str) -> None:
        super().__init__(f"{url}: HTTP {status}: {message}")
        self.status, self.message, self.url = status, message, url


def _message(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text[:500]
    err = body.get("error") if isinstance(body, dict) else None
    return str(err.get("message")) if isinstance(err, dict) and err.get("message") else str(body)[:500]


def _pair(item: Mapping[str, str] | Sequence[str]) -> dict[str, str]:
    if isinstance(item, Mapping):
        return dict(item)
    prompt, a, b = item
    return {"prompt": prompt, "response_a": a, "response_b": b}


def _point(item: Mapping[str, str] | Sequence[str]) -> dict[str, str]:
    if isinstance(item, Mapping):
        return dict(item)
    prompt, response = item
    return {"prompt": prompt, "response": response}


def _options(**options: Any) -> dict[str, Any]:
    """Only the options the caller set: the server's defaults apply to the rest."""
    return {k: v for k, v in options.items() if v is not None}


class JudgeClient:
    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        api_key: str | None = None,
        timeout: float = 300.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_connections: int = 64,
    ) -> None:
        if max_retries < 0 or timeout <= 0 or backoff < 0:
            raise J1Error("JudgeClient: need timeout > 0, max_retries >= 0 and backoff >= 0")
        self.base_url = base_url.rstrip("/").removesuffix("/v1")  # the server root; ".../v1" is accepted too
        self.api_key = api_key if api_key is not None else os.environ.get("J1_API_KEY")
        self.timeout, self.max_retries, self.backoff = timeout, max_retries, backoff
        self.limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._client: httpx.Client | None = None
        self._aclient: httpx.AsyncClient | None = None
        self._aloop: asyncio.AbstractEventLoop | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def _sync(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.base_url, headers=self.headers, timeout=self.timeout, limits=self.limits
            )
        return self._client

    def _async(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._aclient is None or self._aloop is not loop:  # an AsyncClient belongs to one event loop
            self._aclient = httpx.AsyncClient(
                base_url=self.base_url, headers=self.headers, timeout=self.timeout, limits=self.limits
            )
            self._aloop = loop
        return self._aclient

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after is not None:
            try:
                return float(retry_after)
            except ValueError:
                pass
        return self.backoff * 2**attempt * (1 + random.random() / 4)

    def _result(self, r: httpx.Response) -> Any:
        if r.status_code >= 400:
            raise JudgeAPIError(r.status_code, _message(r), str(r.request.url))
        return r.json()

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        client = self._sync()
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                r = client.request(method, path, json=body)
            except RETRY_ERRORS as e:
                if last:
                    raise J1Error(
                        f"{self.base_url}{path}: cannot reach the judge ({type(e).__name__}: {e})"
                    ) from e
                r = None
            else:
                if r.status_code not in RETRY_STATUS or last:
                    return self._result(r)
            delay = self._delay(attempt, r)
            log.info("judge %s%s: retrying in %.2f s (attempt %d)", self.base_url, path, delay, attempt + 1)
            time.sleep(delay)
        raise AssertionError("unreachable")

    async def _arequest(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        client = self._async()
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                r = await client.request(method, path, json=body)
            except RETRY_ERRORS as e:
                if last:
                    raise J1Error(
                        f"{self.base_url}{path}: cannot reach the judge ({type(e).__name__}: {e})"
                    ) from e
                r = None
            else:
                if r.status_code not in RETRY_STATUS or last:
                    return self._result(r)
            await asyncio.sleep(self._delay(attempt, r))
        raise AssertionError("unreachable")

    # -- sync -----------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        r = self._sync().get("/healthz")
        return r.json()

    def pairwise(
        self,
        prompt: str,
        response_a: str,
        response_b: str,
        *,
        both_orders: bool | None = None,
        samples: int | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        include_raw: bool | None = None,
        soft: bool | None = None,
    ) -> dict[str, Any]:
        """`soft`: also the judge's P(A) at its verdict token (`probability_a`, from log-probabilities)."""
        opts = _options(both_orders=both_orders, samples=samples, temperature=temperature,
                        max_tokens=max_tokens, include_raw=include_raw, soft=soft)  # fmt: skip
        body = {"prompt": prompt, "response_a": response_a, "response_b": response_b} | opts
        return self._request("POST", "/v1/judge/pairwise", body)

    def pointwise(self, prompt: str, response: str, **options: Any) -> dict[str, Any]:
        """Options: samples, temperature, max_tokens, include_raw, soft (the `expected_score` at the judge's
        score token, from log-probabilities)."""
        body = {"prompt": prompt, "response": response} | _options(**options)
        return self._request("POST", "/v1/judge/pointwise", body)

    def pairwise_batch(
        self, items: Sequence[Mapping[str, str] | Sequence[str]], **options: Any
    ) -> list[dict]:
        """Items: {"prompt", "response_a", "response_b"} or (prompt, a, b). Options as `pairwise`."""
        body = {"items": [_pair(x) for x in items]} | _options(**options)
        return self._request("POST", "/v1/judge/pairwise/batch", body)["results"]

    def pointwise_batch(
        self, items: Sequence[Mapping[str, str] | Sequence[str]], **options: Any
    ) -> list[dict]:
        """Items: {"prompt", "response"} or (prompt, response). Options as `pointwise`."""
        body = {"items": [_point(x) for x in items]} | _options(**options)
        return self._request("POST", "/v1/judge/pointwise/batch", body)["results"]

    # -- async ----------------------------------------------------------------------------------------

    async def ahealth(self) -> dict[str, Any]:
        r = await self._async().get("/healthz")
        return r.json()

    async def apairwise(
        self, prompt: str, response_a: str, response_b: str, **options: Any
    ) -> dict[str, Any]:
        body = {"prompt": prompt, "response_a": response_a, "response_b": response_b} | _options(**options)
        return await self._arequest("POST", "/v1/judge/pairwise", body)

    async def apointwise(self, prompt: str, response: str, **options: Any) -> dict[str, Any]:
        body = {"prompt": prompt, "response": response} | _options(**options)
        return await self._arequest("POST", "/v1/judge/pointwise", body)

    async def apairwise_batch(
        self, items: Sequence[Mapping[str, str] | Sequence[str]], **options: Any
    ) -> list[dict]:
        body = {"items": [_pair(x) for x in items]} | _options(**options)
        return (await self._arequest("POST", "/v1/judge/pairwise/batch", body))["results"]

    async def apointwise_batch(
        self, items: Sequence[Mapping[str, str] | Sequence[str]], **options: Any
    ) -> list[dict]:
        body = {"items": [_point(x) for x in items]} | _options(**options)
        return (await self._arequest("POST", "/v1/judge/pointwise/batch", body))["results"]

    # -- lifetime -------------------------------------------------------------------------------------

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        if self._aclient is not None:
            await self._aclient.aclose()
            self._aclient = None
        self.close()

    def __enter__(self) -> JudgeClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> JudgeClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


# -- TRL reward ------------------------------------------------------------------------------------


def as_text(value: Any, roles: tuple[str, ...] = ("system", "user", "assistant")) -> str:
    """TRL passes prompts and completions as strings or as chat message lists: the text of either.
    A single message gives its content; several give "Role: content" paragraphs."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        value = [value]
    if isinstance(value, Sequence) and all(isinstance(m, Mapping) and "content" in m for m in value):
        msgs = [m for m in value if m.get("role", "user") in roles]
        if len(msgs) == 1:
            return str(msgs[0]["content"])
        return "\n\n".join(f"{str(m.get('role', 'user')).capitalize()}: {m['content']}" for m in msgs)
    raise J1Error(f"expected a string or a list of chat messages, got {type(value).__name__}: {value!r:.80}")


def judge_reward(
    base_url: str = "http://127.0.0.1:8000",
    mode: str = "pointwise",
    reference_key: str = "reference_answer",
    *,
    api_key: str | None = None,
    both_orders: bool = True,
    samples: int | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    normalize: bool = True,
    tie: float = 0.5,
    soft: bool = False,
    batch_size: int = 32,
    client: JudgeClient | None = None,
    **client_options: Any,
) -> Callable[..., list[float | None]]:
    """A TRL reward function `f(prompts, completions, **columns) -> list[float | None]` backed by a served
    judge (one batch request per `batch_size` completions).

    - `pointwise`: the judge's score of each completion, divided by 10 when `normalize` (so in [0, 1]);
      with `soft`, its expected score under the judge's own distribution at the score token instead (a
      graded reward between the integers the judge writes).
    - `pairwise`: each completion (as A) against the dataset column `reference_key` (as B), in both orders
      by default: 1.0 when the judge prefers the completion, 0.0 when it prefers the reference, `tie` for
      a tie (or orders that disagree). With `soft`, the judge's own probability that the completion is
      better (P(A) at its verdict token from log-probabilities, averaged over the orders) instead.
    None where the judge's output did not parse: TRL leaves such completions out of the group baseline.
    The fraction that parsed goes to TRL's logs as `judge/parse_rate` when TRL passes `log_metric`.
    """
    if mode not in ("pointwise", "pairwise"):
        raise J1Error(f"judge_reward: mode must be 'pointwise' or 'pairwise', got {mode!r}")
    if batch_size < 1:
        raise J1Error(f"judge_reward: batch_size must be >= 1, got {batch_size}")
    judge = client or JudgeClient(base_url, api_key=api_key, **client_options)
    opts = _options(samples=samples, temperature=temperature, max_tokens=max_tokens, soft=soft or None)
    wins = {"A": 1.0, "B": 0.0, "tie": tie}

    def reward(prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float | None]:
        if len(prompts) != len(completions):
            raise J1Error(f"judge_reward: {len(prompts)} prompts but {len(completions)} completions")
        texts = [
            (as_text(p, ("system", "user")), as_text(c, ("assistant",)))
            for p, c in zip(prompts, completions, strict=True)
        ]
        rewards: list[float | None] = []
        if mode == "pointwise":
            for i in range(0, len(texts), batch_size):
                for r in judge.pointwise_batch(texts[i : i + batch_size], **opts):
                    score = r.get("expected_score") if soft else r["score"]
                    rewards.append(None if score is None else score / 10 if normalize else score)
        else:
            refs = columns.get(reference_key)
            if refs is None or len(refs) != len(texts):
                raise J1Error(
                    f"judge_reward(mode='pairwise') compares each completion with the dataset column "
                    f"{reference_key!r}, which TRL did not pass (columns: {', '.join(sorted(columns))})"
                )
            items = [(p, c, as_text(ref)) for (p, c), ref in zip(texts, refs, strict=True)]
            for i in range(0, len(items), batch_size):
                batch = items[i : i + batch_size]
                for r in judge.pairwise_batch(batch, both_orders=both_orders, **opts):
                    if soft:
                        rewards.append(r.get("probability_a"))
                    else:
                        rewards.append(None if r["verdict"] is None else wins[r["verdict"]])
        log_metric = columns.get("log_metric")
        if callable(log_metric) and rewards:
            log_metric("judge/parse_rate", sum(r is not None for r in rewards) / len(rewards))
        return rewards

    reward.__name__ = reward.__qualname__ = f"judge_{mode}"
    return reward
