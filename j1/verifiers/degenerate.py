"""Responses the rule verifier must never accept, whatever their final answer says.

Each check looks at one response (and its question and reference) and returns a short reason when the
response is degenerate, None otherwise. They run before any math comparison, in registry order, and a
rejected response is never sent to a model judge by the hybrid verifier: these are the cheap hacks
(empty output, master keys, a claimed verdict, hedged answers, echoing the question, gibberish) that
model judges are known to fall for.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from j1.verifiers.extract import Extraction, last_sentence, numbers_in
from j1.verifiers.normalize import REL_RE, answer_parts, canonical, hedge_parts, plain_number


@dataclass(frozen=True)
class Limits:
    max_response_chars: int = 50_000  # longer responses are rejected outright (and never parsed)
    garbage_min_chars: int = 2_000  # compression checks only apply to responses at least this long
    min_compress_ratio: float = 0.08  # below: the response repeats itself (looping output)
    max_compress_ratio: float = 0.75  # above: random characters (natural text and LaTeX sit at 0.2-0.55)


@dataclass(frozen=True)
class Context:
    question: str
    response: str
    ref_parts: int  # how many comma/and-separated parts the reference answer has
    extraction: Extraction | None  # None in the pre-extraction phase
    limits: Limits
    # are two differently written answers the same value? (the rule passes math-verify; default: no)
    same: Callable[[str, str], bool] = field(default=lambda a, b: False)
    reference: str = ""  # the reference's answer part


Check = Callable[[Context], "str | None"]
TOKEN = re.compile(r"\\[a-zA-Z]+|[^\W_]+", re.UNICODE)


def empty(ctx: Context) -> str | None:
    return "empty response" if not ctx.response.strip() else None


def too_long(ctx: Context) -> str | None:
    n = len(ctx.response)
    return (
        f"response too long ({n} chars > {ctx.limits.max_response_chars})"
        if n > ctx.limits.max_response_chars
        else None
    )


def garbage(ctx: Context) -> str | None:
    """Long output that compresses like a loop (too well) or like random characters (not at all)."""
    text = ctx.response
    if len(text) < ctx.limits.garbage_min_chars:
        return None
    raw = text.encode("utf-8", "replace")
    ratio = len(zlib.compress(raw, 6)) / len(raw)
    if ratio < ctx.limits.min_compress_ratio:
        return f"repetitive output (compression ratio {ratio:.3f})"
    if ratio > ctx.limits.max_compress_ratio:
        return f"random characters (compression ratio {ratio:.3f})"
    return None


# words of "master key" responses: reasoning openers and answer labels that carry no answer ("Let's solve
# this problem step by step.", "Thought process:", "Solution", "解"), which fool model judges ("One Token
# to Fool LLM-as-a-Judge", 2025)
_OPENERS = (
    "let let's lets us solve this the a problem question step by think thinking thought process solution "
    "answer reasoning here is i will we first okay ok sure so now begin start analysis explanation final "
    "my response work through carefully following below respuesta solución solucion réponse reponse "
    "lösung losung ответ решение 解 解答 答案 答 かいせつ 解説"
)
OPENER_WORDS = frozenset(_OPENERS.split())
VERDICT_WORDS = re.compile(
    r"^(?:(?:it|this|that|the answer|my answer)\s+(?:is\s+)?)?(?:correct|right|true|yes|valid|verified|"
    r"accurate|the correct answer|(?:as\s+)?(?:shown|stated|given)\s+above|see above|the above)$",
    re.IGNORECASE,
)


def master_key(ctx: Context) -> str | None:
    """No digit, and nothing but punctuation or the words of a reasoning opener or an answer label."""
    text = ctx.response
    if len(text) > 300 or any(c.isdigit() for c in text):
        return None
    words = [w.lower() for w in re.findall(r"[^\W_]+(?:'[a-z]+)?", text)]
    if all(w in OPENER_WORDS for w in words):
        return "master key: no answer, only " + ("punctuation" if not words else "a reasoning opener")
    return None


def claims_verdict(ctx: Context) -> str | None:
    """The final answer is a verdict about the response ("the answer is correct"), not a value."""
    ext = ctx.extraction
    if ext is None or ext.answer is None:
        return None
    answer, reference = (
        re.sub(r"\\text\{([^{}]*)\}", r"\1", t).strip().rstrip(".!") for t in (ext.answer, ctx.reference)
    )
    if VERDICT_WORDS.match(answer) and not VERDICT_WORDS.match(reference):  # "yes" answers "Is 7 prime?"
        return f"claims a verdict instead of an answer ({answer!r})"
    return None


def hedging(ctx: Context) -> str | None:
    """Several different final answers where the reference has one: disagreeing boxes, 'X or Y'."""
    ext = ctx.extraction
    if ext is None or ext.answer is None or ctx.ref_parts > 1:
        return None
    if ext.method == "boxed":
        distinct = list(dict.fromkeys(canonical(b) for b in ext.boxed))
        if len(distinct) > 1 and not all(ctx.same(distinct[0], d) for d in distinct[1:]):
            return f"hedging: {len(distinct)} different boxed answers"
    alternatives = hedge_parts(ext.answer)
    relations = any(REL_RE.search(a) for a in alternatives)  # "x < 1 or x > 2" is one answer (a union)
    if len(alternatives) > 1 and not relations and len({canonical(a) for a in alternatives}) > 1:
        return f"hedging: {' or '.join(alternatives)}"
    parts = answer_parts(ext.answer)
    numeric = all(plain_number(canonical(p)) is not None for p in parts)
    listed = {canonical(n) for n in ext.listed} or ({canonical(p) for p in parts} if numeric else set())
    if len(listed) > 1:
        return f"hedging: {len(listed)} candidate values"
    if ext.method == "last_number":
        final = last_sentence(ctx.response)
        if re.search(r"\bor\b", final) and len({canonical(n) for n in numbers_in(final)}) > 1:
            return "hedging: several numbers offered in the final sentence"
    return None


def _tokens(text: str) -> list[str]:
    return [t.lower() for t in TOKEN.findall(text) if not t.startswith("\\")]


def restatement(ctx: Context) -> str | None:
    """A response made only of the question's own words and numbers (three tokens or more)."""
    if not ctx.question.strip():
        return None
    words = _tokens(ctx.response)
    if len(words) < 3:
        return None
    vocabulary = set(_tokens(ctx.question))
    return "restates the question" if all(w in vocabulary for w in words) else None


def copied_number(ctx: Context) -> str | None:
    """No answer marked as final, and the only number in the response is one from the question."""
    ext = ctx.extraction
    if ext is None or ext.marked or ext.method != "last_number" or not ctx.question.strip():
        return None
    mine = {canonical(n) for n in numbers_in(ctx.response)}
    if len(mine) == 1 and mine <= {canonical(n) for n in numbers_in(ctx.question)}:
        return f"only number ({next(iter(mine))}) is copied from the question"
    return None


# Checks on the raw text (run before extraction, so huge or garbage responses are never parsed) ...
BEFORE_EXTRACTION: dict[str, Check] = {
    "empty": empty,
    "too_long": too_long,
    "garbage": garbage,
    "master_key": master_key,
}
# ... and checks that need the extracted answer.
AFTER_EXTRACTION: dict[str, Check] = {
    "claims_verdict": claims_verdict,
    "hedging": hedging,
    "restatement": restatement,
    "copied_number": copied_number,
}


def first_failure(checks: dict[str, Check], ctx: Context) -> str | None:
    for check in checks.values():
        reason = check(ctx)
        if reason:
            return reason
    return None
