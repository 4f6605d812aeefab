"""Math pairs by rejection sampling: sample N solutions per problem, verify each final answer against
the reference, pair a verified-correct solution (chosen) with a verified-wrong one (rejected).

Unverifiable samples (verifier timeout, crash) and truncated ones join neither side. Problems with no
correct or no wrong sample are skipped and counted (`no_correct`, `no_wrong`). Which correct and wrong
samples are paired is drawn from an RNG seeded by (seed, problem key), so it does not depend on batching.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from j1.backends import Backend, SamplingParams
from j1.data_synthesis.sources import Item, SourceConfig
from j1.pairs import Pair
from j1.templates import render


@dataclass
class MathConfig:
    enabled: bool = True
    sources: list[SourceConfig] = field(default_factory=lambda: [SourceConfig(name="procedural")])
    procedural_count: int = 48  # size of the embedded set (sources without path/hub)
    procedural_levels: list[int] = field(
        default_factory=list
    )  # embedded set: these levels only (empty = all)
    procedural_kinds: list[str] = field(default_factory=list)  # ... and these kinds only (procedural.KINDS)
    samples: int = 4  # N solutions per problem
    pairs_per_problem: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 192
    system_prompt: str | None = "synth_math_system_v1"  # template name; null = no system turn
    verifier: str = "rule"
    verifier_options: dict[str, Any] = field(default_factory=dict)
    # pair only responses whose character lengths differ by at most this factor (longer / shorter); the
    # bound is symmetric, so it is blind to which side is right. None = any lengths
    pair_length_ratio: float | None = None
    max_pairs: int | None = None  # stop at this many pairs, problems taken in a seeded order (a mix cap)


def conversations(items: list[Item], cfg: MathConfig) -> list[list[dict[str, str]]]:
    system = [{"role": "system", "content": render(cfg.system_prompt)}] if cfg.system_prompt else []
    return [[*system, {"role": "user", "content": it.text}] for it in items]


def process_chunk(
    items: list[Item], backend: Backend, verifier: Any, cfg: MathConfig, seed: int, generator: str
) -> tuple[list[Pair], list[dict[str, Any]], dict[str, int]]:
    from j1.verifiers import VerifyItem

    params = SamplingParams(
        n=cfg.samples, temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=cfg.max_tokens, seed=seed
    )
    gens = backend.generate(conversations(items, cfg), params)
    flat = [(i, s) for i, g in enumerate(gens) for s in g.samples]
    verdicts = verifier.verify([VerifyItem(items[i].text, s.text, items[i].reference or "") for i, s in flat])
    counts = {"samples": len(flat), "output_tokens": sum(g.output_tokens for g in gens)}
    per_item: list[dict[str, list]] = [{"correct": [], "wrong": []} for _ in items]
    for (i, sample), verdict in zip(flat, verdicts, strict=True):
        if sample.finish_reason == "length":
            counts["truncated"] = counts.get("truncated", 0) + 1
        elif verdict.correct is None:
            counts["unverifiable"] = counts.get("unverifiable", 0) + 1
        else:
            per_item[i]["correct" if verdict.correct else "wrong"].append((sample, verdict))
    pairs, rejects = [], []
    for item, pools in zip(items, per_item, strict=True):
        correct = _distinct(pools["correct"])
        wrong = _distinct(pools["wrong"])
        if not correct or not wrong:
            reason = "no_correct" if not correct else "no_wrong"
            rejects.append(
                {
                    "key": item.key,
                    "stage": "math",
                    "reason": reason,
                    "prompt": item.text,
                    "reference_answer": item.reference,
                    "correct": len(correct),
                    "wrong": len(wrong),
                }
            )
            continue
        rng = random.Random(f"{seed}:{item.key}")
        rng.shuffle(correct)
        rng.shuffle(wrong)
        matched = match_samples(correct, wrong, cfg.pairs_per_problem, cfg.pair_length_ratio)
        if not matched:
            rejects.append(
                {
                    "key": item.key,
                    "stage": "math",
                    "reason": "length_ratio",
                    "prompt": item.text,
                    "reference_answer": item.reference,
                    "correct": len(correct),
                    "wrong": len(wrong),
                }
            )
            continue
        for (c, cv), (w, wv) in matched:
            meta = {
                "item": item.key,
                "generator": generator,
                "sampling": {
                    "n": cfg.samples,
                    "temperature": cfg.temperature,
                    "top_p": cfg.top_p,
                    "max_tokens": cfg.max_tokens,
                },
                "verifier": cfg.verifier,
                "chosen_verdict": {"correct": cv.correct, "reason": cv.reason, "extracted": cv.extracted},
                "rejected_verdict": {"correct": wv.correct, "reason": wv.reason, "extracted": wv.extracted},
                "seed": seed,
                **item.meta,
            }
            pairs.append(Pair("math", item.text, c.text, w.text, reference_answer=item.reference, meta=meta))
    return pairs, rejects, counts


def length_ratio(a: str, b: str) -> float:
    """Longer over shorter character length (symmetric; an empty text makes it infinite)."""
    lo, hi = sorted((len(a), len(b)))
    return hi / lo if lo else float("inf")


def match_samples(correct: list, wrong: list, limit: int, max_ratio: float | None) -> list[tuple[Any, Any]]:
    """Up to `limit` (correct, wrong) couples, each sample used once, taken in the (seeded) order of the
    two lists: with no bound the i-th correct meets the i-th wrong; with `max_ratio` the first unused
    wrong sample within the length bound of each correct one in turn."""
    if max_ratio is None:
        return list(zip(correct, wrong, strict=False))[:limit]
    out, used = [], set()
    for c in correct:
        for k, w in enumerate(wrong):
            if k not in used and length_ratio(c[0].text, w[0].text) <= max_ratio:
                used.add(k)
                out.append((c, w))
                break
        if len(out) == limit:
            break
    return out


def _distinct(pool: list) -> list:
    seen, out = set(), []
    for sample, verdict in pool:
        if sample.text not in seen:
            seen.add(sample.text)
            out.append((sample, verdict))
    return out
