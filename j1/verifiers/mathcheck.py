"""The rule check of one item, run inside a worker process: extraction, degeneracy checks, math-verify,
then named alternatives for the equivalent forms math-verify is known to reject.

math-verify's own timeouts (signal.alarm) are switched off here: the worker pool's hard per-item
timeout is the only clock, so a hang is reported as "timeout" (unverifiable) rather than silently
scored False the way math-verify's internal timeout does. Parses are cached per worker, so N samples of
one problem parse the reference once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any

from j1.verifiers import degenerate, normalize
from j1.verifiers.base import APPROXIMATION, DEGENERATE, MISMATCH, NO_ANSWER
from j1.verifiers.extract import clean_answer, extract_answer, reference_answer

Outcome = tuple["bool | None", str, "str | None"]  # (correct, reason, extracted): what a check returns
Pairs = list[tuple[str, str]]


@dataclass(frozen=True)
class RuleSettings:
    limits: degenerate.Limits = field(default_factory=degenerate.Limits)
    float_rounding: int = 6
    exact_rationals: bool = True  # two exact rationals must be equal, not equal to 6 decimals


def _quiet_math_verify() -> None:
    # math-verify warns once that its timeout is off (we time out ourselves) and logs every parse failure
    logging.getLogger("math_verify").setLevel(logging.ERROR)


@lru_cache(maxsize=8192)
def parse_answer(text: str) -> list[Any]:
    """An answer string parsed by math-verify as if it were boxed (LaTeX first, then plain expression)."""
    from math_verify import parse

    _quiet_math_verify()
    return parse("\\boxed{" + normalize.escape_percent(text) + "}", parsing_timeout=None)


def equivalent(ref: str, pred: str, settings: RuleSettings) -> bool:
    from math_verify import verify

    gold, target = parse_answer(ref), parse_answer(pred)
    if not gold or not target:
        return False
    if not verify(gold, target, float_rounding=settings.float_rounding, timeout_seconds=None):
        return False
    if approximates(ref, pred):
        return False
    if settings.exact_rationals and not any(c in ref + pred for c in ".%"):
        return _exactly_equal(gold[0], target[0])
    return True


def approximates(ref: str, pred: str) -> bool:
    """A decimal answer to an exact reference that is not exactly its value (1.414214 for sqrt(2),
    0.333333 for 1/3, 3.1415927 for pi): an approximation, not the answer. A terminating decimal equal
    to a rational reference (0.375 for 3/8) is exact. Rounded answers the question asks for are matched
    by the `rounded` alternative instead."""
    places = normalize.decimal_places(pred)
    if places is None or any(c in ref for c in ".%"):
        return False
    value = _number(ref)
    if value is None:
        return False  # not a closed-form number (a set, an expression in x): math-verify's verdict stands
    exact = value if isinstance(value, Fraction) else None
    return exact != Fraction(normalize.canonical(pred))


def _number(ref: str) -> Fraction | float | None:
    """The reference's value: an exact Fraction when it is rational, a float when it is an irrational
    number (pi, sqrt(2), e), None when it is not a number."""
    import sympy

    parsed = parse_answer(ref)
    g = parsed[0] if parsed else None
    if not isinstance(g, sympy.Expr) or not g.is_number:
        return None
    g = g.doit()
    if g.is_Rational:
        return Fraction(int(g.p), int(g.q))
    try:
        return float(g.evalf(30))
    except (TypeError, ValueError):
        return None


def numeric_equal(ref: str, pred: str) -> bool | None:
    """Two plain numbers (integers, decimals, a/b) decided without sympy: equal values match; values at
    least 1e-6 apart cannot round to the same 6 decimals, so they differ; anything closer, or not a plain
    number, is None (ask math-verify). Most math answers are plain numbers: this is most of the speed."""
    a, b = normalize.plain_number(ref), normalize.plain_number(pred)
    if a is None or b is None:
        return None
    if a == b:
        return True
    return False if abs(a - b) >= Fraction(1, 10**6) else None


def _exactly_equal(g: Any, t: Any) -> bool:
    """1/2004! and 1/2006! agree to 6 decimals; two answers written as exact rationals must agree exactly.
    Anything that is not an exact rational number (pi, sqrt(2), sets, symbols) keeps math-verify's verdict."""
    import sympy

    if not (isinstance(g, sympy.Expr) and isinstance(t, sympy.Expr) and g.is_number and t.is_number):
        return True
    g, t = g.doit(), t.doit()
    if g.is_Rational and t.is_Rational:
        return bool(g == t)
    return True


# ---- alternatives: each maps (reference, prediction, question) to rewritten pairs worth comparing ----


def _plain(ref: str, pred: str, question: str) -> Pairs:
    return [(ref, pred)]


def _thousands(ref: str, pred: str, question: str) -> Pairs:
    p = normalize.collapse_thousands(pred)
    return [(ref, p)] if p else []


def _units(ref: str, pred: str, question: str) -> Pairs:
    p = normalize.strip_units(normalize.collapse_thousands(pred) or pred)
    r = normalize.strip_units(normalize.collapse_thousands(ref) or ref)
    return [(r or ref, p or pred)] if (p or r) else []


def _words(ref: str, pred: str, question: str) -> Pairs:
    p = normalize.number_words(pred)
    return [(ref, p)] if p else []


def _percent(ref: str, pred: str, question: str) -> Pairs:
    p = normalize.percent_words(pred)
    return [(ref, p)] if p else []


def _degrees(ref: str, pred: str, question: str) -> Pairs:
    if normalize.has_degrees(ref) == normalize.has_degrees(pred):
        return []  # both or neither in degrees: math-verify compares those itself
    r, p = normalize.degrees_to_radians(ref), normalize.degrees_to_radians(pred)
    return [(r or ref, p or pred)]


def _interval(ref: str, pred: str, question: str) -> Pairs:
    p = normalize.inequality_to_interval(pred)
    if not p:
        return []
    compact = "".join(pred.split())
    if compact and compact in "".join(question.replace("$", "").split()):
        return []  # an inequality copied from the question is an echo, not an answer
    return [(ref, p)]


def _aliases(ref: str, pred: str, question: str) -> Pairs:
    r, p = normalize.latex_aliases(ref), normalize.latex_aliases(pred)
    return [(r or ref, p or pred)] if (r or p) else []


def _rounded(ref: str, pred: str, question: str) -> Pairs:
    """'0.67' for 2/3 where the question asks for a decimal or a rounding: the reference rounded to the
    answer's own number of places."""
    places = normalize.decimal_places(pred)
    if places is None or not normalize.asks_for_rounding(question) or any(c in ref for c in ".%"):
        return []
    value = _number(ref)
    if value is None:
        return []
    return [(f"{round(float(value), places):.{places}f}", pred)]


ALTERNATIVES: dict[str, Callable[[str, str, str], Pairs]] = {
    "plain": _plain,
    "thousands": _thousands,
    "units": _units,
    "words": _words,
    "percent": _percent,
    "degrees": _degrees,
    "interval": _interval,
    "aliases": _aliases,
    "rounded": _rounded,
}


def _prediction(extracted: str, boxed: list[str], ref_parts: int, listed: list[str]) -> str:
    """A multi-part reference ('3, 5') may be answered in several boxes, as 'x = 3 or x = 5' or as a
    closing list ('the roots are 3 and 5')."""
    if ref_parts <= 1:
        return extracted
    if listed:
        return ", ".join(listed)
    if len(boxed) > 1:
        distinct = list(dict.fromkeys(clean_answer(b, sentence=False) for b in boxed))
        if len(distinct) > 1:
            return ", ".join(distinct)
    alternatives = normalize.hedge_parts(extracted)
    if len(alternatives) > 1 and not any(normalize.REL_RE.search(a) for a in alternatives):
        return ", ".join(alternatives)
    return extracted


def check_item(question: str, response: str, reference: str, settings: RuleSettings) -> Outcome:
    """The verdict of the rule verifier on one item, as (correct, reason, extracted)."""
    ref = reference_answer(reference)
    if not ref:
        return None, "reference empty", None
    ref_parts = len(normalize.answer_parts(ref))
    ctx = degenerate.Context(question, response, ref_parts, None, settings.limits)
    failure = degenerate.first_failure(degenerate.BEFORE_EXTRACTION, ctx)
    if failure:
        return False, f"{DEGENERATE}: {failure}", None
    ext = extract_answer(response)
    ctx = degenerate.Context(
        question, response, ref_parts, ext, settings.limits, lambda a, b: _same(a, b, settings), ref
    )
    failure = degenerate.first_failure(degenerate.AFTER_EXTRACTION, ctx)
    if failure:
        return False, f"{DEGENERATE}: {failure}", ext.answer
    if ext.answer is None:
        return False, NO_ANSWER, None
    pred = _prediction(ext.answer, ext.boxed, ref_parts, ext.listed)
    # Phase 1, no sympy: identical strings or plain numbers settle most items (and most rewrites).
    undecided = []
    for name, alternative in ALTERNATIVES.items():
        for r, p in alternative(ref, pred, question):
            quick = quick_equal(r, p)
            if quick:
                return True, _matched(name), ext.answer
            if quick is None:
                undecided.append((name, r, p))
    if not undecided:
        return False, MISMATCH, ext.answer
    # Phase 2: math-verify on what is left, in registry order.
    if all(isinstance(g, str) for g in parse_answer(ref)):  # math-verify kept only the raw string
        return None, f"reference unparsable: {ref[:80]!r}", ext.answer
    for name, r, p in undecided:
        if equivalent(r, p, settings):
            return True, _matched(name), ext.answer
    if approximates(ref, pred):
        return False, APPROXIMATION, ext.answer
    return False, MISMATCH, ext.answer


def _same(a: str, b: str, settings: RuleSettings) -> bool:
    quick = quick_equal(a, b)
    return quick if quick is not None else equivalent(a, b, settings)


def _matched(alternative: str) -> str:
    return "match" if alternative == "plain" else f"match ({alternative})"


def quick_equal(ref: str, pred: str) -> bool | None:
    """True for the same answer string (up to spacing), else `numeric_equal`; None = ask math-verify."""
    a, b = normalize.canonical(ref), normalize.canonical(pred)
    if a == b and a:
        return True
    return numeric_equal(a, b)
