"""Calibration of a judge's soft verdicts (`j1.formats.soft`) on a benchmark.

Each judgment with a probability P(A) (run with `--logprobs K`) gives P(chosen): P(A) when the chosen
response is shown as A (order ab), 1 - P(A) otherwise. The Brier score is the mean of (1 - P(chosen))^2
(0 is perfect; a judge that always says 0.5 scores 0.25). The reliability diagram bins each judgment's
confidence, max(P(A), 1 - P(A)), in ten equal bins over [0.5, 1] against how often the more likely side
is the chosen response; the expected calibration error (ECE) is the count-weighted mean gap between
confidence and accuracy over the bins. Tie-labelled items are left out (no side is right).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

BINS = 10


def calibration(rows: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """{"n", "brier", "ece", "bins": [{"lo", "hi", "n", "confidence", "accuracy"}]} from prediction rows
    (`order`, `p_a`, `label`), or None when no row has a probability."""
    points = []
    for r in rows:
        p_a = r.get("p_a")
        if p_a is None or r.get("label", "chosen") == "tie":
            continue
        p_chosen = p_a if r["order"] == "ab" else 1.0 - p_a
        points.append((max(p_a, 1.0 - p_a), p_chosen >= 0.5, p_chosen))
    if not points:
        return None
    bins = []
    for b in range(BINS):
        lo, hi = 0.5 + 0.5 * b / BINS, 0.5 + 0.5 * (b + 1) / BINS
        inside = [(c, ok) for c, ok, _ in points if lo <= c < hi or (b == BINS - 1 and c == hi)]
        bins.append(
            {
                "lo": round(lo, 3),
                "hi": round(hi, 3),
                "n": len(inside),
                "confidence": sum(c for c, _ in inside) / len(inside) if inside else None,
                "accuracy": sum(ok for _, ok in inside) / len(inside) if inside else None,
            }
        )
    n = len(points)
    ece = sum(b["n"] / n * abs(b["accuracy"] - b["confidence"]) for b in bins if b["n"])
    brier = sum((1.0 - p) ** 2 for _, _, p in points) / n
    return {"n": n, "brier": round(brier, 4), "ece": round(ece, 4), "bins": bins}
