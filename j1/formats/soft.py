"""Soft verdicts: the judge's own probability of "A" against "B" where it writes its verdict, and the
distribution of a pointwise score where it writes the score.

With token log-probabilities from the backend (`SamplingParams.logprobs`: vLLM, the OpenAI-compatible
API, hf), the verdict token of `<answer>[[A]]</answer>` is found in the judge's final block (after its
last `</think>`, the block the parser reads), and the top-k alternatives at that position give
P(A) = p(A) / (p(A) + p(B)). It is the judge's confidence in its own verdict, usable as a reward that
is not 0/1 and checked for calibration by `j1 eval` (reliability diagram, ECE). An alternative missing
from the top-k counts as probability 0 (raise k to see more of the tail). None when the output has no
verdict token or neither letter is among the alternatives.

Pointwise formats write `<score>7</score>`. At the score's first token (in the final block, as the parser
reads it) every alternative that is a number from 0 to 10 is a score the judge could have written:
`score_distribution` gives each its share of that mass, the written token counting as the whole score
written ("7.5" from "7", "10" from "1" then "0") and any other alternative as its own digits (single-digit
tokenizers such as SmolLM2's split "10" into "1", "0": an alternative "1" the judge did not write counts as
1, since its continuation is unseen). `expected_score` is its mean, a score between the integers; and
`win_probability(a, b)` = P(score_a > score_b) + P(equal) / 2 with the two drawn independently, the
pointwise judge's P(A) for a pair (what `j1 eval` calibrates).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from j1.backends.base import TokenLogprobs
from j1.formats.parse import THINK_CLOSE

OPEN = "[["
SCORE_OPEN, SCORE_CLOSE = "<score>", "</score>"
LEADING = re.compile(r"\s*(\d+(?:\.\d*)?)")


def verdict_probability(tokens: Sequence[TokenLogprobs] | None, prefill: str = "") -> float | None:
    """P(A) / (P(A) + P(B)) at the verdict token of a pairwise output (see the module). With a format's
    `prefill` ending in `[[` (the judge that does not think) the verdict is the output's first letter."""
    if not tokens:
        return None
    text = "".join(tok for tok, _ in tokens)
    if prefill.endswith(OPEN):
        at = 0
    else:
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
    i, k = _token_at(tokens, at)  # k: the letter's offset inside its token ("A", " A", "[[A", "A]]" all work)
    tok, alternatives = tokens[i]
    want = {side: (tok[:k] + side + tok[k + 1 :]).strip() for side in "AB"}
    mass = {side: 0.0 for side in "AB"}
    for alt, logprob in alternatives.items():
        for side in "AB":
            if alt.strip() == want[side]:
                mass[side] += math.exp(logprob)
    total = mass["A"] + mass["B"]
    return None if total == 0 else mass["A"] / total


def mean_verdict_probability(samples: Sequence[Any], prefill: str = "") -> float | None:
    """The mean P(A) over samples (`Sample`s with `logprobs`) that have one; None when none has."""
    found = [p for s in samples if (p := verdict_probability(s.logprobs, prefill)) is not None]
    return sum(found) / len(found) if found else None


def _token_at(tokens: Sequence[TokenLogprobs], at: int) -> tuple[int, int]:
    """(index of the token holding character `at` of the joined text, `at`'s offset inside it)."""
    start = 0
    for i, (tok, _) in enumerate(tokens):
        if start + len(tok) > at:
            return i, at - start
        start += len(tok)
    raise IndexError(at)


def _score(text: str) -> float | None:
    m = LEADING.match(text)
    if not m:
        return None
    value = float(m.group(1).rstrip("."))
    return value if 0.0 <= value <= 10.0 else None


def score_distribution(tokens: Sequence[TokenLogprobs] | None) -> dict[float, float] | None:
    """{score: probability} at the first token of a pointwise output's final `<score>` (see the module);
    None without a score there or with no number among the alternatives."""
    if not tokens:
        return None
    text = "".join(tok for tok, _ in tokens)
    final = text.rfind(THINK_CLOSE)
    if final < 0 and "<think>" in text:
        return None
    close = text.rfind(SCORE_CLOSE)
    open_at = text.rfind(SCORE_OPEN, final + len(THINK_CLOSE) if final >= 0 else 0, max(close, 0))
    if close < 0 or open_at < 0:
        return None
    written = _score(text[open_at + len(SCORE_OPEN) : close])
    at = open_at + len(SCORE_OPEN)
    while at < close and text[at].isspace():
        at += 1
    if written is None or at >= close:
        return None
    i, k = _token_at(tokens, at)
    tok, alternatives = tokens[i]
    prefix = tok[:k]  # what the token holds before the score ("" or e.g. ">")
    mass: dict[float, float] = {}
    for alt, logprob in alternatives.items():
        if alt.startswith(prefix):
            body = alt[len(prefix) :]
        elif not prefix.strip():
            body = alt
        else:
            continue
        value = written if alt == tok else _score(body) if LEADING.fullmatch(body.rstrip()) else None
        if value is not None:
            mass[value] = mass.get(value, 0.0) + math.exp(logprob)
    total = sum(mass.values())
    return {v: m / total for v, m in sorted(mass.items())} if total > 0 else None


def mean_score_distribution(samples: Sequence[Any]) -> dict[float, float] | None:
    """The mixture (mean) of the samples' score distributions; None when no sample has one."""
    found = [d for s in samples if (d := score_distribution(s.logprobs)) is not None]
    if not found:
        return None
    mixed: dict[float, float] = {}
    for d in found:
        for v, p in d.items():
            mixed[v] = mixed.get(v, 0.0) + p / len(found)
    return dict(sorted(mixed.items()))


def expected_score(dist: Mapping[float, float] | None) -> float | None:
    """The mean of a score distribution (None for None)."""
    return None if dist is None else sum(v * p for v, p in dist.items())


def win_probability(a: Mapping[float, float] | None, b: Mapping[float, float] | None) -> float | None:
    """P(score_a > score_b) + P(score_a == score_b) / 2 for independent draws; None if either is None."""
    if a is None or b is None:
        return None
    return sum(
        pa * pb * (1.0 if va > vb else 0.5 if va == vb else 0.0)
        for va, pa in a.items()
        for vb, pb in b.items()
    )
