"""`POST /get_reward`: the remote reward-model interface of OpenRLHF (`--remote_rm_url http://HOST:PORT/get_reward`),
answered by the served judge.

OpenRLHF posts `{"query": [prompt + response, ...], "prompts": [prompt, ...], "labels": [...]}` and reads
`{"rewards": [...]}`, one float per query (`scores` repeats them; `extra_logs` carries the judge's costs).
Each query's response is the query after its prompt. How the judge turns responses into rewards is the
server's `reward_mode`:

- `pointwise`: the judge's 0-10 score of each response, divided by 10;
- `anchor`: each response against its label (a reference answer) as in `j1.group`'s anchor schedule;
- `round_robin` / `regular` / `swiss`: the responses to one prompt form a group, compared with each other
  (`j1.group.score_group`, `reward_scoring`, `reward_k`), both orders of every comparison.

A response the judge could not score (its output did not parse, every comparison of it was dropped, or its
comparisons did not finish within `reward_timeout` seconds) gets `reward_fallback` (default 0.5, the middle of
the scale); their share is in `extra_logs`. Identical greedy comparisons are answered from a bounded cache.
"""

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict

from j1.group import Item, Verdict, cached, max_calls, score_batch
from j1.server.config import ServeConfig
from j1.server.engines import InputRejected
from j1.server.judge import JudgeService, Options
from j1.server.limits import Gate

log = logging.getLogger(__name__)
GROUP_MODES = ("round_robin", "regular", "swiss")
REWARD_MODES = ("pointwise", "anchor", *GROUP_MODES)


class RewardRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OpenRLHF versions add fields
    query: list[str]
    prompts: list[str] | None = None
    labels: list[Any] | None = None


def split_queries(body: RewardRequest) -> list[tuple[str, str]]:
    """(prompt, response) of each query: the response is what follows the prompt."""
    if body.prompts is None or len(body.prompts) != len(body.query):
        raise InputRejected(
            f"get_reward needs `prompts`, one per query ({len(body.query)} queries, "
            f"{'no' if body.prompts is None else len(body.prompts)} prompts)"
        )
    out = []
    for n, (query, prompt) in enumerate(zip(body.query, body.prompts, strict=True)):
        if not query.startswith(prompt):
            raise InputRejected(f"query {n} does not start with its prompt: the response cannot be cut out")
        out.append((prompt, query[len(prompt) :]))
    return out


def reward_router(service: JudgeService, cfg: ServeConfig, gate: Gate, auth: Callable[..., Any]) -> APIRouter:
    router = APIRouter(tags=["rewards"], dependencies=[Depends(auth)])
    greedy = Options(both_orders=False, samples=1, temperature=0.0)

    def bridge(loop: asyncio.AbstractEventLoop) -> Callable[[list[Item]], list[Verdict]]:
        """A synchronous `PairJudge` (for `score_group`, run in a worker thread) over the async service."""

        def judge(items: list[Item]) -> list[Verdict]:
            async def one(item: Item) -> Verdict:
                return (await service.pairwise(*item, greedy))["verdict"]

            async def every() -> list[Verdict]:
                return await asyncio.wait_for(asyncio.gather(*(one(it) for it in items)), cfg.reward_timeout)

            future = asyncio.run_coroutine_threadsafe(every(), loop)
            try:
                return list(future.result())
            except TimeoutError:
                log.warning(
                    "get_reward: %d comparisons took over %ss: unscored", len(items), cfg.reward_timeout
                )
                return [None] * len(items)

        return judge

    memo: dict[str, Callable[[list[Item]], list[Verdict]]] = {}

    @router.post("/get_reward", summary="OpenRLHF's remote reward model: one reward per query")
    async def get_reward(body: RewardRequest) -> dict[str, Any]:
        pairs = split_queries(body)
        sizes = list(Counter(prompt for prompt, _ in pairs).values())
        loop = asyncio.get_running_loop()
        if "judge" not in memo:
            memo["judge"] = cached(bridge(loop), max_items=100_000)
        judge = memo["judge"]

        async def work() -> tuple[list[float | None], int, int]:
            if cfg.reward_mode == "pointwise":
                results = await asyncio.gather(*(service.pointwise(p, r, greedy) for p, r in pairs))
                scores = [None if res["score"] is None else res["score"] / 10 for res in results]
                return scores, len(pairs), sum(s is None for s in scores)
            if cfg.reward_mode == "anchor" and body.labels is None:
                raise InputRejected("reward_mode anchor compares each response with its label: send labels")
            anchors = [str(x) for x in body.labels] if cfg.reward_mode == "anchor" else None  # type: ignore[union-attr]
            res = await asyncio.to_thread(
                score_batch, judge, [p for p, _ in pairs], [r for _, r in pairs], cfg.reward_mode,
                cfg.reward_scoring, cfg.reward_k, anchors,
            )  # fmt: skip
            return res.rewards, res.calls, res.parse_failures

        cost = (
            len(pairs) if cfg.reward_mode == "pointwise" else max_calls(cfg.reward_mode, sizes, cfg.reward_k)
        )
        rewards, calls, failures = await gate.run(cost, work)
        final = [cfg.reward_fallback if r is None else float(r) for r in rewards]
        unscored = sum(r is None for r in rewards) / len(rewards) if rewards else 0.0
        logs = {"judge_calls": float(calls), "judge_parse_failure_rate": failures / calls if calls else 0.0}
        logs["judge_unscored_rate"] = unscored
        return {
            "rewards": final,
            "scores": final,
            "extra_logs": {k: [v] * len(final) for k, v in logs.items()},
        }

    return router
