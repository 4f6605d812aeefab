"""Soft verdicts: the judge's own probability of "A" against "B" where it writes its verdict.

With token log-probabilities from the backend (`SamplingParams.logprobs`: vLLM, the OpenAI-compatible
API, hf), the verdict token of `<answer>[[A]]</answer>` is found in the judge's final block (after its
last `</think>`, the block the parser reads), and the top-k alternatives at that position give
P(A) = p(A) / (p(A) + p(B)). It is the judge's confidence in its own verdict, usable as a reward that
is not 0/1 and checked for calibration by `j1 eval` (reliability diagram, ECE). An alternative missing
from the top-k counts as probability 0 (raise k to see more of the tail). None when the output has no
verdict token or neither letter is among the alternatives.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from j1.backends.base import TokenLogprobs
from j1.formats.parse import THINK_CLOSE

OPEN = "[["


def verdict_probability(tokens: Sequence[TokenLogprobs] | None) -> float | None:
    """P(A) / (P(A) + P(B)) at the verdict token of a pairwise output (see the module)."""
    if not tokens:
        return None
    starts, text = [], ""
    for tok, _ in tokens:
        starts.append(len(text))
        text += tok
    final = text.rfind(THINK_CLOSE)
    if final < 0 and "<think>" in text:
        return None  # still thinking: the parser reads no verdict either
    open_at = text.rfind(OPEN, final + len(THINK_CLOSE) if final >= 0 else 0)
    if open_at < 0:
        return None
    at = open_at + len(OPEN)
    while at < len(text) and text[at].isspace():
        at += 1
    if at >= len(text) or text[at] not in "AB":
        return None
    i = max(j for j, s in enumerate(starts) if s <= at)
    tok, alternatives = tokens[i]
    k = at - starts[i]  # the letter's offset inside its token ("A", " A", "[[A", "A]]" all work)
    want = {side: (tok[:k] + side + tok[k + 1 :]).strip() for side in "AB"}
    mass = {side: 0.0 for side in "AB"}
    for alt, logprob in alternatives.items():
        for side in "AB":
            if alt.strip() == want[side]:
                mass[side] += math.exp(logprob)
    total = mass["A"] + mass["B"]
    return None if total == 0 else mass["A"] / total


def mean_verdict_probability(samples: Sequence[Any]) -> float | None:
    """The mean P(A) over samples (`Sample`s with `logprobs`) that have one; None when none has."""
    found = [p for s in samples if (p := verdict_probability(s.logprobs)) is not None]
    return sum(found) / len(found) if found else None
