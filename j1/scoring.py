"""The judging outcomes that every reward and every metric is built from, defined once.

Training rewards (`j1.train.rewards`) and eval statistics (`j1.eval.benchmarks.stats`) both call these, so
the position-consistency reward GRPO maximises and the position-consistent accuracy `j1 eval` reports are
the same rule:

- a verdict is *right* when it names what should win (the label "A"/"B", or the preference "chosen");
  no verdict (a parse failure) is never right;
- a pair is *consistent* when its verdicts are right in both orders (chance: 25%, one position always: 0%);
- a *flip* is two preferences that both name a winner, but different ones: the judge followed the position.
"""

from __future__ import annotations

WINNERS = ("chosen", "rejected")
_PREFERENCE = {("ab", "A"): "chosen", ("ab", "B"): "rejected", ("ba", "A"): "rejected", ("ba", "B"): "chosen"}


def right(got: str | None, want: str) -> float:
    return 1.0 if got is not None and got == want else 0.0


def consistent(right_ab: float, right_ba: float) -> float:
    """1.0 iff right in both orders."""
    return right_ab * right_ba


def preference(order: str, verdict: str | None) -> str | None:
    """What a verdict prefers: order `ab` shows the chosen response as A, `ba` as B."""
    if verdict is None or verdict == "tie":
        return verdict
    return _PREFERENCE[(order, verdict)]


def flipped(pref_ab: str | None, pref_ba: str | None) -> bool:
    return pref_ab in WINNERS and pref_ba in WINNERS and pref_ab != pref_ba
