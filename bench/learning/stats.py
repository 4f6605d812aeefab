"""Statistics of the learning benchmark, recomputed from `j1 eval`'s `predictions.jsonl`.

The unit is a held-out pair, judged once in each order. A pair is *consistent* when the judge prefers the
chosen response in both orders (`j1.scoring`'s rule, the `pairs` benchmark's score). Gains between two
judges are paired (the same pairs): the 95% interval is a percentile bootstrap over pairs. A reward trend
is the OLS slope of the per-step mean reward with its one-sided p-value (H1: slope > 0). With sampled
judgments (`--samples N`, T > 0) each sample's verdict is scored on its own: the mean per-order accuracy,
and per pair the fraction of samples right in each order (the headroom probe's spread).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean, pstdev
from typing import Any

from j1 import J1Error
from j1.io import read_jsonl
from j1.scoring import consistent, preference

BOOTSTRAP = 10_000


@dataclass
class PairOutcome:
    """One held-out pair as a judge saw it: the preference in each order and, if sampled, each sample's."""

    prefs: dict[str, str | None] = field(
        default_factory=dict
    )  # order -> "chosen" | "rejected" | "tie" | None
    samples: dict[str, list[str | None]] = field(default_factory=dict)  # order -> per-sample preferences
    # order -> per-sample preference of the decision the trace states in words before the verdict
    # ("Response B answers the question better", j1's template traces), None where it states none
    traced: dict[str, list[str | None]] = field(default_factory=dict)

    @property
    def consistent(self) -> float:
        return consistent(float(self.prefs.get("ab") == "chosen"), float(self.prefs.get("ba") == "chosen"))

    @property
    def trace_consistent(self) -> float:
        """Consistent by the trace's stated decision (first sample) instead of its verdict."""
        first = [(self.traced.get(o) or [None])[0] for o in ("ab", "ba")]
        return consistent(float(first[0] == "chosen"), float(first[1] == "chosen"))

    def sample_accuracy(self, order: str) -> float:
        got = self.samples.get(order) or []
        return mean(p == "chosen" for p in got) if got else 0.0


def outcomes(
    eval_dir: str | Path, judge: str | None = None, benchmark: str = "pairs"
) -> dict[str, PairOutcome]:
    """item id -> outcome, for `judge` (default: the judge under test, the report's first judge)."""
    path = Path(eval_dir) / "predictions.jsonl"
    if not path.is_file():
        raise J1Error(f"{path}: no predictions (was the eval run?)")
    out: dict[str, PairOutcome] = {}
    for _, row in read_jsonl(path):
        judge = judge or row["judge"]
        if row["judge"] != judge or row["benchmark"] != benchmark or row["comparison"] != 0:
            continue
        o = out.setdefault(row["item_id"], PairOutcome())
        o.prefs[row["order"]] = row["pref"]
        o.samples[row["order"]] = [
            preference(row["order"], p["verdict"] if p["parse_ok"] else None) for p in row.get("parsed") or []
        ]
        o.traced[row["order"]] = [preference(row["order"], stated(raw)) for raw in row.get("raw") or []]
    for item, o in out.items():
        if set(o.prefs) != {"ab", "ba"}:
            raise J1Error(f"{path}: pair {item} was not judged in both orders")
    return out


STATED = re.compile(r"Response ([AB]) (?:answers the question better|is better)")


def stated(raw: str) -> str | None:
    """The decision a template trace states in words before its verdict block (the last one), or None."""
    found = STATED.findall(raw.split("</think>")[0])
    return found[-1] if found else None


def trace_following(by_pair: dict[str, PairOutcome]) -> dict[str, Any]:
    """How far the verdict is the trace's own decision: the share of judgments whose verdict equals the
    decision stated in the trace, and the consistent accuracy the stated decisions alone would score."""
    both = [
        (t, v)
        for o in by_pair.values()
        for order in ("ab", "ba")
        for t, v in zip(o.traced.get(order) or [], o.samples.get(order) or [], strict=False)
        if t is not None
    ]
    if not both:
        return {"verdict_follows_trace": None, "trace_consistent_accuracy": None, "stated": 0}
    return {
        "verdict_follows_trace": round(100 * mean(t == v for t, v in both), 2),
        "trace_consistent_accuracy": round(100 * mean(o.trace_consistent for o in by_pair.values()), 2),
        "stated": len(both),
    }


def consistent_accuracy(by_pair: dict[str, PairOutcome]) -> float:
    return 100 * mean(o.consistent for o in by_pair.values())


def bootstrap_ci(values: Sequence[float], seed: int = 0, n: int = BOOTSTRAP) -> tuple[float, float]:
    """95% percentile interval of the mean of `values`, from `n` resamples (seeded)."""
    import numpy as np

    x = np.asarray(values, dtype=float)
    means = x[np.random.default_rng(seed).integers(0, len(x), (n, len(x)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def accuracy_with_ci(by_pair: dict[str, PairOutcome], seed: int = 0) -> dict[str, Any]:
    vals = [o.consistent for o in by_pair.values()]
    lo, hi = bootstrap_ci(vals, seed)
    return {
        "value": round(100 * mean(vals), 2),
        "ci95": [round(100 * lo, 2), round(100 * hi, 2)],
        "n": len(vals),
    }


def paired_gain(
    after: dict[str, PairOutcome], before: dict[str, PairOutcome], seed: int = 0
) -> dict[str, Any]:
    """after - before in consistent-accuracy points over the pairs both judged, with a paired bootstrap
    95% interval (resampling pairs, so each resample compares the two judges on the same pairs)."""
    ids = sorted(set(after) & set(before))
    if not ids:
        raise J1Error("no pair was judged by both judges")
    diffs = [after[i].consistent - before[i].consistent for i in ids]
    lo, hi = bootstrap_ci(diffs, seed)
    return {
        "value": round(100 * mean(diffs), 2),
        "ci95": [round(100 * lo, 2), round(100 * hi, 2)],
        "n": len(ids),
    }


def sampled_accuracy(by_pair: dict[str, PairOutcome]) -> dict[str, Any]:
    """Mean per-sample, per-order accuracy (what a T=1 policy earns on the verdict reward), its spread
    across pairs, and the share of pairs whose samples are right >= 3/4 of the time in both orders."""
    per_pair = [(o.sample_accuracy("ab"), o.sample_accuracy("ba")) for o in by_pair.values()]
    if not per_pair or not any(o.samples.get("ab") for o in by_pair.values()):
        raise J1Error("no sampled judgments in these predictions")
    per_order = [(a + b) / 2 for a, b in per_pair]
    return {
        "mean_accuracy": round(100 * mean(per_order), 2),
        "accuracy_ab": round(100 * mean(a for a, _ in per_pair), 2),
        "accuracy_ba": round(100 * mean(b for _, b in per_pair), 2),
        "pair_sd": round(100 * pstdev(per_order), 2),
        "pairs_right_both_ge_75": round(100 * mean(a >= 0.75 and b >= 0.75 for a, b in per_pair), 2),
        "n": len(per_pair),
    }


def reward_trend(curve: Sequence[float]) -> dict[str, Any]:
    """OLS slope of the per-step reward (reward units per step) and its one-sided p-value for slope > 0."""
    if len(curve) < 3:
        return {"slope": None, "p_one_sided": None, "steps": len(curve)}
    from scipy.stats import linregress

    fit = linregress(range(len(curve)), list(curve))
    p = fit.pvalue / 2 if fit.slope > 0 else 1 - fit.pvalue / 2
    return {"slope": float(fit.slope), "p_one_sided": float(p), "steps": len(curve)}
