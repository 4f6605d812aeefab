"""String rewrites that turn answers math-verify rejects into forms it can compare.

Each function takes an answer string and returns a rewritten string, or None when it does not apply,
so the rule verifier can try them as named alternatives (and say which one matched). They are pure
string functions: cheap, deterministic, and tested table by table.
"""

from __future__ import annotations

import re
from fractions import Fraction

from j1.verifiers.words import words_to_number

THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:(?:,|\{,\})\d{3})+(?![\d]|,\d)")
CURRENCY = r"(?:\\\$|\$|€|£|¥|₹|\\euro|USD|US\$|EUR|GBP|Rs\.?)"
SCALE = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9, "trillion": 10**12}
NUM = r"-?\d+(?:\.\d+)?"
# a number with currency before and/or a unit phrase after: "$42", "42 dollars", "\$ 42.50", "42 \text{ cm}^2"
UNIT_TEXT = re.compile(
    rf"^(?:{CURRENCY}\s*)?(?P<num>{NUM})\s*(?P<scale>hundred|thousand|million|billion|trillion)?"
    r"(?P<unit>(?:\s*(?:\\(?:text|mathrm|mbox|textrm)\{[A-Za-z .'-]*\}|\\,|\\ |~|[A-Za-z][A-Za-z.'-]+"
    r"|\^\{?[23]\}?|/))*)\s*$"
)
# words that make "5 pi" or "3 over 4" an expression, not a number with a unit
_MATH_WORDS = (
    "pi sqrt times over plus minus divided by to or and cdot frac ln log sin cos tan cot sec csc exp mod "
    "choose factorial squared cubed infty infinity"
)
MATH_WORDS = frozenset(_MATH_WORDS.split())
# two-letter words are units only when they are known units ("5 xy" is a product, "5 cm" a length)
TWO_LETTER_UNITS = frozenset(
    {"cm", "mm", "km", "kg", "mg", "ft", "in", "yd", "mi", "ml", "lb", "oz", "hr", "am", "pm"}
)
PERCENT_WORD = re.compile(r"\s*(?:\\text\{\s*)?(?:percent|per\s*cent|pct)\.?(?:\s*\})?\s*$", re.IGNORECASE)
DEGREE_MARK = re.compile(
    r"\s*(?:\^\s*\{?\s*\\circ\s*\}?|°|\\degree|\\text\{\s*degrees?\s*\}|degrees?|deg)\s*$", re.IGNORECASE
)
REL = {
    "<": "<",
    "\\lt": "<",
    ">": ">",
    "\\gt": ">",
    "\\le": "<=",
    "\\leq": "<=",
    "\\leqslant": "<=",
    "≤": "<=",
    "<=": "<=",
    "\\ge": ">=",
    "\\geq": ">=",
    "\\geqslant": ">=",
    "≥": ">=",
    ">=": ">=",
}
REL_RE = re.compile(r"<=|>=|\\leqslant|\\geqslant|\\leq|\\geq|\\le|\\ge|\\lt|\\gt|<|>|≤|≥")
OR_SPLIT = re.compile(r"\s*(?:\\text\{\s*or\s*\}|\\(?:lor|vee|cup)(?![a-zA-Z])|\bor\b|,|;)\s*")
VAR = r"[a-zA-Z](?:_\{?\w+\}?)?"


def collapse_thousands(s: str) -> str | None:
    """'1,000,000' -> '1000000' (also LaTeX '1{,}000'); None if there is no separator to remove."""
    out = THOUSANDS.sub(lambda m: m.group(0).replace("{,}", "").replace(",", ""), s)
    return out if out != s else None


def strip_units(s: str) -> str | None:
    """'$42', '42 dollars', '3 million', '42 \\text{ cm}^2' -> the bare number (scaled by a scale word)."""
    m = UNIT_TEXT.match(s.strip())
    if not m or not (m.group("unit").strip() or m.group("scale") or s.strip() != m.group("num")):
        return None
    for word in re.findall(r"[A-Za-z]+", re.sub(r"\\[a-z]+\{", " ", m.group("unit"))):
        w = word.lower()
        if w in MATH_WORDS or (len(w) <= 2 and w not in TWO_LETTER_UNITS):
            return None
    value = Fraction(m.group("num"))
    if m.group("scale"):
        value *= SCALE[m.group("scale")]
    return _fmt(value)


def number_words(s: str) -> str | None:
    """'forty-two' -> '42', 'one hundred and five' -> '105' (also inside \\text{})."""
    inner = re.sub(r"^\\text\{(.*)\}$", r"\1", s.strip()).strip().rstrip(".")
    value = words_to_number(inner)
    return None if value is None else str(value)


def percent_words(s: str) -> str | None:
    """'50 percent' / '50 per cent' -> '50\\%'."""
    m = PERCENT_WORD.search(s)
    if not m or not s[: m.start()].strip():
        return None
    return s[: m.start()].strip() + "\\%"


def escape_percent(s: str) -> str:
    """A bare '%' starts a LaTeX comment; escape it so '50%' parses as a percentage."""
    return re.sub(r"(?<!\\)%", r"\\%", s)


def degrees_to_radians(s: str) -> str | None:
    """'60^\\circ' / '60°' / '60 degrees' -> '\\frac{(60)\\pi}{180}'; None without a degree mark."""
    m = DEGREE_MARK.search(s)
    if not m:
        return None
    body = s[: m.start()].strip()
    if not body or REL_RE.search(body):
        return None
    return f"\\frac{{({body})\\pi}}{{180}}"


def has_degrees(s: str) -> bool:
    return DEGREE_MARK.search(s) is not None


def _one_inequality(s: str) -> tuple[str, str, bool, bool] | None:
    """'2 < x \\le 5' -> ('2', '5', open_left, open_right); 'x \\ge 3' -> ('3', '\\infty', False, True)."""
    parts = REL_RE.split(s)
    ops = [REL[o] for o in REL_RE.findall(s)]
    parts = [p.strip() for p in parts]
    if len(ops) == 1:
        left, right = parts
        if re.fullmatch(VAR, right) and not re.fullmatch(VAR, left):  # "3 < x" -> "x > 3"
            left, right = right, left
            ops = [{"<": ">", ">": "<", "<=": ">=", ">=": "<="}[ops[0]]]
        if not re.fullmatch(VAR, left) or not right:
            return None
        op = ops[0]
        if op in ("<", "<="):
            return ("-\\infty", right, True, op == "<")
        return (right, "\\infty", op == ">", True)
    if len(ops) == 2 and re.fullmatch(VAR, parts[1]) and parts[0] and parts[2]:
        if all(o in ("<", "<=") for o in ops):
            return (parts[0], parts[2], ops[0] == "<", ops[1] == "<")
        if all(o in (">", ">=") for o in ops):
            return (parts[2], parts[0], ops[1] == ">", ops[0] == ">")
    return None


def inequality_to_interval(s: str) -> str | None:
    """'2 < x \\le 5' -> '(2, 5]'; 'x < -1 or x > 2' -> '(-\\infty, -1) \\cup (2, \\infty)'."""
    if not REL_RE.search(s):
        return None
    pieces = [p for p in OR_SPLIT.split(s.strip()) if p and p.strip()]
    intervals = []
    for piece in pieces:
        parsed = _one_inequality(piece)
        if parsed is None:
            return None
        lo, hi, open_lo, open_hi = parsed
        intervals.append(f"{'(' if open_lo else '['}{lo}, {hi}{')' if open_hi else ']'}")
    return " \\cup ".join(intervals) if intervals else None


# other spellings of one object -> the form math-verify reads (applied to reference and answer alike)
ALIASES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?<![\\a-zA-Z])pi(?![a-zA-Z])"), r"\\pi "),
    (re.compile(r"π"), r"\\pi "),
    (
        re.compile(
            r"\\varnothing|\\O(?![a-zA-Z])|\\\{\s*\\\}|\bthe empty set\b|\bempty set\b|\bno solutions?\b"
        ),
        r"\\emptyset",
    ),
    (
        re.compile(r"\\mathbb\s*\{?R\}?|ℝ|\ball real numbers\b|\ball reals\b|\\R(?![a-zA-Z])"),
        r"(-\\infty, \\infty)",
    ),
    (re.compile(r"[-−]\s*(?:infinity\b|∞)"), r"-\\infty"),
    (re.compile(r"\+\s*(?:\\infty|infinity\b|∞)|\binfinity\b|∞"), r"\\infty"),
    (re.compile(r"\\(?:mathrm|text|operatorname)\{\s*e\s*\}"), "e"),
]


def latex_aliases(s: str) -> str | None:
    """'4pi' -> '4\\pi', '\\varnothing' / '\\{\\}' -> '\\emptyset', '\\mathbb{R}' / 'all real numbers' ->
    '(-\\infty, \\infty)', 'infinity' / '+\\infty' -> '\\infty', '\\mathrm{e}' -> 'e'; None if nothing changed."""
    out = s
    for pattern, repl in ALIASES:
        out = pattern.sub(repl, out)
    out = out.strip()
    return out if out != s.strip() else None


ROUNDING = re.compile(
    r"\b(?:decimal|nearest|round(?:ed|ing)?|approximat\w*|estimate|significant\s+(?:figures|digits)"
    r"|(?:to|with)\s+\w+\s+(?:decimal\s+)?(?:places|digits))\b",
    re.IGNORECASE,
)


def asks_for_rounding(question: str) -> bool:
    """Does the question ask for a decimal or rounded answer ("to the nearest tenth", "as a decimal")?"""
    return ROUNDING.search(question) is not None


def decimal_places(s: str) -> int | None:
    """Digits after the point of a plain decimal ('1.40' -> 2, 'x = 0.5' -> 1); None for anything else."""
    t = re.sub(r"^\s*" + VAR + r"\s*=\s*", "", s.strip()).replace(" ", "")
    m = re.fullmatch(r"-?\d+\.(\d+)", collapse_thousands(t) or t)
    return len(m.group(1)) if m else None


def plain_number(s: str) -> Fraction | None:
    """An integer, decimal, 'a/b' or '\\frac{a}{b}' as an exact Fraction; None for anything else."""
    t = s.strip().replace(" ", "")
    t = re.sub(r"^\\[dt]?frac\{(-?\d+)\}\{(\d+)\}$", r"\1/\2", t)
    t = re.sub(r"^-\\[dt]?frac\{(\d+)\}\{(\d+)\}$", r"-\1/\2", t)
    if not re.fullmatch(r"-?\d+(?:\.\d+)?(?:/\d+)?", t):
        return None
    try:
        return Fraction(t)
    except (ValueError, ZeroDivisionError):
        return None


def _fmt(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return f"{value.numerator}/{value.denominator}"


def split_top_level(s: str, separators: re.Pattern[str]) -> list[str]:
    """Split `s` at `separators` outside (), [], {} and \\{ \\}; thousands separators never split."""
    s = collapse_thousands(s) or s
    out, depth, start = [], 0, 0
    i = 0
    while i < len(s):
        c = s[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth = max(depth - 1, 0)
        elif depth == 0:
            m = separators.match(s, i)
            if m and m.end() > i:
                out.append(s[start:i])
                start = i = m.end()
                continue
        i += 1
    out.append(s[start:])
    return [p.strip() for p in out if p.strip()]


LIST_SEP = re.compile(r"\s*(?:,|;|\\text\{\s*and\s*\}|\band\b)\s*")
HEDGE_SEP = re.compile(r"\s*(?:\\text\{\s*or\s*\}|\\(?:lor|vee)(?![a-zA-Z])|\bor\b)\s*")


def strip_set_braces(s: str) -> str:
    t = s.strip()
    for left, right in (("\\left\\{", "\\right\\}"), ("\\{", "\\}")):
        if t.startswith(left) and t.endswith(right):
            return t[len(left) : -len(right)].strip()
    return t


def answer_parts(s: str) -> list[str]:
    """The comma/and-separated parts of an answer ('3, 5' -> 2 parts; '(1, 2)' and '1,000' -> 1 part)."""
    return split_top_level(strip_set_braces(s), LIST_SEP)


def hedge_parts(s: str) -> list[str]:
    """The alternatives of an 'X or Y' answer (one part when there is no 'or')."""
    s = re.sub(r"^\s*(?:either|maybe|possibly)\s+", "", s, flags=re.IGNORECASE)
    parts = split_top_level(s, HEDGE_SEP)
    return [re.sub(r"^(?:maybe|possibly|perhaps|either)\s+", "", p, flags=re.IGNORECASE) for p in parts]


def canonical(s: str) -> str:
    """A comparison key for 'are these two answer strings the same value' (spacing, x= prefix, numbers)."""
    t = re.sub(r"^\s*" + VAR + r"\s*=\s*", "", s.strip())
    t = re.sub(r"\\[dt]frac", r"\\frac", t)
    t = re.sub(r"\\(?:left|right)|\s+", "", t).rstrip(".")
    value = plain_number(collapse_thousands(t) or t)
    return _fmt(value) if value is not None else t
