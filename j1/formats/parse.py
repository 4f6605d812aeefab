"""Parsing a judge's output: only its final answer block counts.

The final block is the text after the judge's last `</think>` (the whole output if it wrote none). Inside
it the *last* answer/score tag is read and must hold exactly the expected token (`[[A]]`, `[[B]]`, a number
from 0 to 10). Anything else is a parse failure with a reason, never a silent tie: the judge's own thinking,
and text it quotes from the responses (a fake `[[A]]`, a `</think>`), cannot change the parse.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

THINK_CLOSE = "</think>"
VERDICT = re.compile(r"^\s*\[\[\s*([AB])\s*\]\]\s*$")
NUMBER = re.compile(r"^\s*(10(?:\.0+)?|\d(?:\.\d+)?)\s*(?:/\s*10)?\s*$")


@dataclass
class Judgment:
    """A parsed judge output. `verdict` is "A", "B", "tie" (equal pairwise scores) or None."""

    parse_ok: bool
    verdict: str | None = None
    scores: dict[str, float] = field(default_factory=dict)  # "A"/"B" (pairwise) or "score" (pointwise)
    reasoning: str = ""
    error: str | None = None


def split_final(text: str) -> tuple[str, str | None]:
    """(reasoning, final block): everything up to the last `</think>` and what follows it. A `<think>`
    that is never closed leaves no final block (None): whatever the judge wrote was still thinking."""
    cut = text.rfind(THINK_CLOSE)
    if cut < 0:
        return ("", None) if "<think>" in text else ("", text)
    reasoning = text[:cut]
    start = reasoning.find("<think>")
    reasoning = reasoning[start + len("<think>") :] if start >= 0 else reasoning
    return reasoning.strip(), text[cut + len(THINK_CLOSE) :]


UNFINISHED = "the <think> block is never closed"


def _needs_final(parse: Callable[[str, str], Judgment]) -> Callable[[str], Judgment]:
    """Turn `parse(reasoning, final_block)` into `parse(text)`; an unclosed <think> fails for every format."""

    @functools.wraps(parse)
    def wrapper(text: str) -> Judgment:
        reasoning, final = split_final(text)
        if final is None:
            return Judgment(parse_ok=False, error=UNFINISHED)
        return parse(reasoning, final)

    return wrapper


def last_tag(block: str, tag: str) -> str | None:
    """Content of the last complete <tag>...</tag> in `block`."""
    close = block.rfind(f"</{tag}>")
    if close < 0:
        return None
    open_ = block.rfind(f"<{tag}>", 0, close)
    if open_ < 0:
        return None
    return block[open_ + len(tag) + 2 : close]


def read_verdict(block: str) -> tuple[str | None, str | None]:
    content = last_tag(block, "answer")
    if content is None:
        return None, "no <answer> block after the reasoning"
    m = VERDICT.match(content)
    if not m:
        return None, f"<answer> holds {content.strip()[:40]!r}, not [[A]] or [[B]]"
    return m.group(1), None


def read_score(block: str, tag: str) -> tuple[float | None, str | None]:
    content = last_tag(block, tag)
    if content is None:
        return None, f"no <{tag}> after the reasoning"
    m = NUMBER.match(content)
    if not m:
        return None, f"<{tag}> holds {content.strip()[:40]!r}, not a score from 0 to 10"
    return float(m.group(1)), None


@_needs_final
def parse_pairwise_verdict(reasoning: str, final: str) -> Judgment:
    verdict, error = read_verdict(final)
    return Judgment(parse_ok=error is None, verdict=verdict, reasoning=reasoning, error=error)


DIRECT = re.compile(r"^\s*<answer>\s*\[\[\s*([AB])\s*\]\]")


def parse_pairwise_verdict_direct(text: str) -> Judgment:
    """The judge that does not think: its output starts with the verdict (`<answer>[[`, written for it as
    a prefill, then its letter and `]]`); that first verdict counts and what follows it is ignored (it
    was asked for nothing more, and a later tag cannot change its answer)."""
    m = DIRECT.match(text)
    if not m:
        return Judgment(
            parse_ok=False, error=f"the output starts {text.strip()[:40]!r}, not <answer>[[A]] or [[B]]"
        )
    return Judgment(parse_ok=True, verdict=m.group(1))


def _pair_scores(final: str) -> tuple[dict[str, float], str | None]:
    scores: dict[str, float] = {}
    for side in ("A", "B"):
        value, error = read_score(final, f"score_{side}")
        if error:
            return {}, error
        scores[side] = value  # type: ignore[assignment]
    return scores, None


@_needs_final
def parse_pairwise_scores(reasoning: str, final: str) -> Judgment:
    scores, error = _pair_scores(final)
    if error:
        return Judgment(parse_ok=False, reasoning=reasoning, error=error)
    verdict = "A" if scores["A"] > scores["B"] else "B" if scores["B"] > scores["A"] else "tie"
    return Judgment(parse_ok=True, verdict=verdict, scores=scores, reasoning=reasoning)


@_needs_final
def parse_pairwise_scores_verdict(reasoning: str, final: str) -> Judgment:
    scores, error = _pair_scores(final)
    verdict, verror = read_verdict(final)
    error = error or verror
    if error:
        return Judgment(parse_ok=False, reasoning=reasoning, error=error)
    return Judgment(parse_ok=True, verdict=verdict, scores=scores, reasoning=reasoning)


@_needs_final
def parse_pointwise(reasoning: str, final: str) -> Judgment:
    score, error = read_score(final, "score")
    if error:
        return Judgment(parse_ok=False, reasoning=reasoning, error=error)
    return Judgment(parse_ok=True, scores={"score": score}, reasoning=reasoning)  # type: ignore[dict-item]
