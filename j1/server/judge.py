"""Judging on top of an engine: judge formats in, verdicts and scores out, with the parse accounting.

A pairwise request renders the judge format's template with the caller's prompt and responses (user text
only as Jinja variables, with the format's delimiter lines defused) and asks the engine for `samples`
outputs; each output goes through the format's parser. With `samples` > 1 an order's verdict is the
majority of the outputs that parsed (self-consistency; a split vote is "tie") and its scores are their mean.

Both orders (`both_orders`): the pair is judged as given ("ab") and swapped ("ba") concurrently; the
swapped order's verdict and scores are mapped back to the caller's A/B. The final verdict is the one both
orders agree on; when they disagree the judge's preference follows the position, not the responses, so
the final verdict is "tie" with `agreement: false`. When either order has no parsed verdict the final
verdict is null (unparseable): a judge's failure is never reported as a tie or as the other order's guess.

Soft verdicts (`soft`): the engine returns token log-probabilities and each order reports the judge's
P(A) at its verdict token (`j1.formats.soft`, mapped back to the caller's A for the swapped order);
`probability_a` is their mean, a graded reward where a 0/1 verdict is too coarse. A pointwise judgment
with `soft` adds `expected_score`, the score's mean under the judge's own distribution at its score token.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

from j1.backends.base import Generation, SamplingParams
from j1.formats import JudgeFormat, Judgment, get_format
from j1.formats.soft import expected_score, mean_score_distribution
from j1.server.config import ServeConfig
from j1.server.engines import Engine, InputRejected
from j1.server.metrics import Metrics

SWAP = {"A": "B", "B": "A"}


@dataclass
class Options:
    both_orders: bool = False
    samples: int = 1
    temperature: float | None = None
    max_tokens: int | None = None
    include_raw: bool = False
    soft: bool = False  # from token log-probabilities (j1.formats.soft): P(A), or the expected score


def swapped(j: Judgment) -> Judgment:
    """A judgment of the swapped pair, expressed in the caller's A/B."""
    return Judgment(
        parse_ok=j.parse_ok,
        verdict=SWAP.get(j.verdict, j.verdict) if j.verdict else None,
        scores={SWAP.get(k, k): v for k, v in j.scores.items()},
        reasoning=j.reasoning,
        error=j.error,
    )


def majority(votes: Counter) -> str | None:
    if not votes:
        return None
    ranked = votes.most_common()
    leaders = [v for v, c in ranked if c == ranked[0][1]]
    return leaders[0] if len(leaders) == 1 else "tie"


def mean_scores(judgments: list[Judgment]) -> dict[str, float]:
    keys = sorted({k for j in judgments for k in j.scores})
    return {
        k: sum(vals) / len(vals) for k in keys if (vals := [j.scores[k] for j in judgments if k in j.scores])
    }


def summarize(order: str, judgments: list[Judgment], raw: list[str] | None) -> dict[str, Any]:
    """One order's verdict (majority of parsed samples), mean scores, votes and failures."""
    parsed = [j for j in judgments if j.parse_ok]
    votes = Counter(j.verdict for j in parsed if j.verdict is not None)
    verdict = majority(votes)
    reasoning = next((j.reasoning for j in parsed if j.verdict == verdict), "")
    out: dict[str, Any] = {
        "order": order,
        "verdict": verdict,
        "scores": mean_scores(parsed),
        "votes": dict(votes),
        "reasoning": reasoning,
        "samples": len(judgments),
        "parsed": len(parsed),
        "errors": [j.error or "unparseable" for j in judgments if not j.parse_ok],
    }
    if raw is not None:
        out["raw"] = raw
    return out


def combine(orders: list[dict[str, Any]]) -> tuple[str | None, bool | None]:
    """(final verdict, agreement) of one or two order summaries (see the module docstring)."""
    if len(orders) == 1:
        return orders[0]["verdict"], None
    first, second = orders[0]["verdict"], orders[1]["verdict"]
    if first is None or second is None:
        return None, None
    return (first, True) if first == second else ("tie", False)


SOFT_TOP_K = 5  # alternatives per token asked of the engine for soft verdicts


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def soft_probability(fmt: JudgeFormat, gen: Generation, swap: bool = False) -> float | None:
    """The mean over samples of the judge's P(A) at its verdict token, in the caller's A/B (`swap` for
    the swapped order); None when no sample has one."""
    p = fmt.probability_a(gen.samples)
    return None if p is None else (1.0 - p if swap else p)


class JudgeService:
    def __init__(self, engine: Engine, cfg: ServeConfig, metrics: Metrics) -> None:
        self.engine, self.cfg, self.metrics = engine, cfg, metrics
        fmt = get_format(cfg.format)
        self.pair_fmt = fmt if fmt.kind == "pairwise" else None
        self.point_fmt = fmt if fmt.kind == "pointwise" else get_format(cfg.pointwise_format)

    def cost(self, kind: str, items: int, opts: Options) -> int:
        """Engine prompts a request puts in the queue."""
        return items * (2 if kind == "pairwise" and opts.both_orders else 1)

    def sampling(self, opts: Options) -> SamplingParams:
        temperature = opts.temperature
        if temperature is None:
            temperature = self.cfg.temperature if opts.samples == 1 else self.cfg.sample_temperature
        if opts.samples > 1 and temperature == 0:
            raise InputRejected("samples > 1 needs temperature > 0 (greedy samples are all the same)")
        max_tokens = opts.max_tokens or self.cfg.max_tokens
        logprobs = SOFT_TOP_K if opts.soft else 0
        return SamplingParams(
            n=opts.samples, temperature=temperature, max_tokens=max_tokens, seed=None, logprobs=logprobs
        )

    async def _run(
        self, endpoint: str, fmt: Any, conv: list[dict[str, str]], params: SamplingParams
    ) -> Generation:
        gen = await self.engine.generate(conv, params)
        self.metrics.count_tokens(gen.prompt_tokens, gen.output_tokens)
        self.metrics.samples.labels(endpoint, fmt.name).inc(len(gen.samples))
        return gen

    def _parse(self, endpoint: str, fmt: Any, gen: Generation) -> list[Judgment]:
        judgments = [fmt.read(s.text) for s in gen.samples]
        failures = sum(not j.parse_ok for j in judgments)
        if failures:
            self.metrics.parse_failures.labels(endpoint, fmt.name).inc(failures)
        return judgments

    def _usage(self, gens: list[Generation]) -> dict[str, int]:
        return {
            "prompt_tokens": sum(g.prompt_tokens for g in gens),
            "completion_tokens": sum(g.output_tokens for g in gens),
        }

    async def pairwise(self, prompt: str, response_a: str, response_b: str, opts: Options) -> dict[str, Any]:
        fmt = self.pair_fmt
        if fmt is None:
            raise InputRejected(
                f"this server's judge format {self.cfg.format!r} is pointwise: use /v1/judge/pointwise"
            )
        params = self.sampling(opts)
        convs = {"ab": fmt.messages(prompt, response_a=response_a, response_b=response_b)}
        if opts.both_orders:
            convs["ba"] = fmt.messages(prompt, response_a=response_b, response_b=response_a)
        gens = await asyncio.gather(*(self._run("pairwise", fmt, c, params) for c in convs.values()))
        orders = []
        for order, gen in zip(convs, gens, strict=True):
            judgments = self._parse("pairwise", fmt, gen)
            if order == "ba":
                judgments = [swapped(j) for j in judgments]
            orders.append(
                summarize(order, judgments, [s.text for s in gen.samples] if opts.include_raw else None)
            )
            if opts.soft:
                orders[-1]["probability_a"] = soft_probability(fmt, gen, swap=order == "ba")
        verdict, agreement = combine(orders)
        scores = mean_scores([Judgment(parse_ok=True, scores=o["scores"]) for o in orders])
        parsed = sum(o["parsed"] for o in orders)
        return {
            "verdict": verdict,
            "scores": scores,
            "reasoning": orders[0]["reasoning"],
            "agreement": agreement,
            "orders": orders,
            "parse_ok": verdict is not None,
            "parsed": parsed,
            "parse_failures": sum(o["samples"] for o in orders) - parsed,
            "format": fmt.name,
            "model": self.cfg.model_name,
            "usage": self._usage(list(gens)),
            "probability_a": _mean([o.get("probability_a") for o in orders]) if opts.soft else None,
        }

    async def pointwise(self, prompt: str, response: str, opts: Options) -> dict[str, Any]:
        fmt = self.point_fmt
        gen = await self._run("pointwise", fmt, fmt.messages(prompt, response=response), self.sampling(opts))
        judgments = self._parse("pointwise", fmt, gen)
        values = [j.scores.get("score") if j.parse_ok else None for j in judgments]
        parsed = [v for v in values if v is not None]
        out: dict[str, Any] = {
            "score": sum(parsed) / len(parsed) if parsed else None,
            "scores": values,
            "reasoning": next((j.reasoning for j in judgments if j.parse_ok), ""),
            "parse_ok": bool(parsed),
            "parsed": len(parsed),
            "parse_failures": len(values) - len(parsed),
            "errors": [j.error or "unparseable" for j in judgments if not j.parse_ok],
            "format": fmt.name,
            "model": self.cfg.model_name,
            "usage": self._usage([gen]),
        }
        if opts.include_raw:
            out["raw"] = [s.text for s in gen.samples]
        if opts.soft:
            out["expected_score"] = expected_score(mean_score_distribution(gen.samples))
        return out
