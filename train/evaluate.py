"""Held-out judging, by `j1 eval` itself: the judge `j1 train` saved is scored exactly as a user scores it.

The held-out pairs are assigned their judge format as in training (the multitask mixture included), cut to
the training prompt budget by the training rule (`fit_pair`), written as `heldout_<format>.jsonl` in the
Pair contract and judged with the `pairs` benchmark of `j1 eval` (greedy, both orders, beside the length
and random baselines that anchor every eval report). The metrics, in percent, are read off the eval report:

- `consistent_accuracy`: the benchmark's score, right in both orders (J1's metric; 25% is chance);
- `accuracy_ab` / `accuracy_ba`: right with the chosen response shown first / second;
- `parse_rate`, `flip_rate`, `tie_rate`, `n_pairs`, and the baselines' consistent accuracy.

With several formats each gets its own eval folder and `by_format` entry; the top-level numbers are
their means weighted by pairs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from j1 import J1Error
from j1.pairs import Pair
from j1.train.examples import TokenBudget, assign_formats, fit_pair

log = logging.getLogger(__name__)
BASELINES = ("longer", "shorter", "random")
POOLED = ("consistent_accuracy", "accuracy_ab", "accuracy_ba", "parse_rate", "flip_rate", "tie_rate")


def write_heldout(
    pairs: Sequence[Pair], fmt: str, tokenizer: Any, data: Any, path: Path, counts: dict[str, Any]
) -> int:
    """`pairs` as the judge saw pairs in training (`data`: the run's DataConfig budget rules) -> `path`;
    returns how many were written (over-long pairs dropped by rule are counted in `counts`)."""
    budget = TokenBudget(tokenizer, data.truncate_side)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(path, "w", encoding="utf-8") as f:
        for pair in pairs:
            fitted, status = fit_pair(pair, fmt, budget, data.max_prompt_tokens, data.overlong)
            counts[f"overlong_{status}"] = counts.get(f"overlong_{status}", 0) + 1
            if fitted is not None:
                f.write(json.dumps(fitted.to_dict(), ensure_ascii=False) + "\n")
                written += 1
    return written


def _metrics(bench: dict[str, Any]) -> dict[str, Any]:
    fail = bench["parse_fail_rate"]
    return {
        "consistent_accuracy": bench["score"],
        "accuracy_ab": bench["per_order"]["ab"],
        "accuracy_ba": bench["per_order"]["ba"],
        "parse_rate": None if fail is None else round(100 - fail, 2),
        "flip_rate": bench["flip_rate"],
        "tie_rate": bench["tie_rate"],
        "n_pairs": bench["n"],
        "subsets": bench["subsets"],
    }


def eval_file(
    model: str,
    heldout: Path,
    fmt: str,
    out_dir: Path,
    *,
    backend: str = "hf",
    max_tokens: int = 512,
    options: dict[str, Any] | None = None,
    baselines: Sequence[str] = BASELINES,
    seed: int = 0,
    samples: int = 1,
    temperature: float = 0.0,
) -> dict[str, Any]:
    """`j1 eval` of `model` on one held-out pairs file; the metrics of its report. `samples` > 1 (with a
    `temperature`) judges each order by the majority of that many samples (self-consistency@N)."""
    from j1.eval.run import EvalConfig, JudgeConfig, load_report
    from j1.eval.run import run as j1_eval

    judge = JudgeConfig(
        name=model,
        backend=backend,
        format=fmt,
        max_tokens=max_tokens,
        options=dict(options or {}),
        samples=samples,
        temperature=temperature,
    )
    cfg = EvalConfig(
        out=str(out_dir), judge=judge, benchmarks=[f"pairs={heldout}"], seed=seed, baselines=list(baselines)
    )
    report = load_report(j1_eval(cfg, command="j1 eval (held-out pairs)"))
    out = _metrics(report["benchmarks"]["pairs"])
    out["baselines"] = {name: b["benchmarks"]["pairs"]["score"] for name, b in report["baselines"].items()}
    return out


def evaluate(
    model: str,
    pairs: Sequence[Pair],
    mixture: dict[str, float],
    tokenizer: Any,
    data: Any,
    out_dir: Path,
    *,
    seed: int = 0,
    backend: str = "hf",
    max_tokens: int = 512,
    options: dict[str, Any] | None = None,
    baselines: Sequence[str] = BASELINES,
    counts: dict[str, Any] | None = None,
    samples: int = 1,
    temperature: float = 0.0,
) -> dict[str, Any]:
    """Score `model` on the held-out `pairs` with `j1 eval`, one eval per judge format of `mixture`."""
    counts = {} if counts is None else counts
    by_fmt: dict[str, list[Pair]] = {}
    for pair, fmt in assign_formats(pairs, mixture, seed=seed):
        by_fmt.setdefault(fmt, []).append(pair)
    results: dict[str, dict[str, Any]] = {}
    for fmt, fmt_pairs in by_fmt.items():
        path = out_dir / f"heldout_{fmt}.jsonl"
        if not write_heldout(fmt_pairs, fmt, tokenizer, data, path, counts):
            log.warning("held-out %s: every pair was dropped as over-long; not evaluated", fmt)
            continue
        folder = out_dir if len(by_fmt) == 1 else out_dir / fmt
        results[fmt] = eval_file(
            model, path, fmt, folder, backend=backend, max_tokens=max_tokens, options=options,
            baselines=baselines, seed=seed, samples=samples, temperature=temperature,
        )  # fmt: skip
    if not results:
        raise J1Error(f"no held-out pair fits data.max_prompt_tokens={data.max_prompt_tokens}")
    if len(results) == 1:
        metrics = dict(next(iter(results.values())))
    else:
        n = sum(r["n_pairs"] for r in results.values())
        metrics = {k: round(sum((r[k] or 0) * r["n_pairs"] for r in results.values()) / n, 2) for k in POOLED}
        metrics |= {"n_pairs": n, "by_format": results}
    metrics["overlong_dropped"] = counts.get("overlong_dropped", 0)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    log.info("held-out: %s", {k: v for k, v in metrics.items() if not isinstance(v, dict)})
    return metrics
