"""English number words to integers ("forty-two" -> 42, "two and a half million" -> 2500000).

Only whole phrases that are number words convert; anything else returns None, so "one of them" or
"a dozen eggs" never turns into a number by accident. Scale words multiply what precedes them ("twelve
hundred", "three hundred thousand"), an article before a scale is one ("a million"), and a half counts
only where a scale makes the whole an integer ("half a million", "two and a half million").
`number_phrases` finds such phrases inside a sentence.
"""

from __future__ import annotations

import re
from fractions import Fraction

_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
)
UNITS = {w: i for i, w in enumerate(_UNITS.split())}
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety"
TENS = {w: 10 * (i + 2) for i, w in enumerate(_TENS.split())}
SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
MULTIPLIERS = {"hundred", *SCALES}
ARTICLES = ("a", "an")
WORDS = {*UNITS, *TENS, *MULTIPLIERS, "half"}
# a run of number words (with "and", articles and hyphens between them), e.g. "a hundred and one"
PHRASE = re.compile(
    r"\b(?:(?:a|an)\s+)?(?:{w})(?:(?:\s+|-|\s+and\s+|\s+and\s+an?\s+|\s+an?\s+)(?:{w}))*\b".format(
        w="|".join(sorted(WORDS, key=len, reverse=True))
    ),
    re.IGNORECASE,
)


def words_to_number(text: str) -> int | None:
    """The integer a phrase of English number words names, or None if it is not one."""
    tokens = [t for t in re.split(r"[\s-]+", text.strip().lower().replace(",", " ")) if t and t != "and"]
    if not tokens:
        return None
    negative = tokens[0] in ("minus", "negative")
    if negative:
        tokens = tokens[1:]
    if not tokens:
        return None
    total, current = 0, Fraction(0)
    for i, tok in enumerate(tokens):
        after = tokens[i + 1] if i + 1 < len(tokens) else ""
        before = tokens[i - 1] if i else ""
        if tok in UNITS:
            current += UNITS[tok]
        elif tok in TENS:
            current += TENS[tok]
        elif tok in ARTICLES:
            if after == "half" or before == "half":
                continue  # "two and a half million", "half a million"
            if after not in MULTIPLIERS:
                return None
            current += 1
        elif tok == "half":
            current += Fraction(1, 2)
        elif tok == "hundred":
            current = (current or 1) * 100
        elif tok in SCALES:
            total += (current or 1) * SCALES[tok]
            current = Fraction(0)
        else:
            return None
    value = total + current
    if not isinstance(value, int) and value.denominator != 1:
        return None  # "two and a half": not an integer
    value = int(value)
    return -value if negative else value


def number_phrases(text: str) -> list[str]:
    """Every phrase of `text` that is a whole number in words, in order ("a hundred and one dalmatians"
    -> ["a hundred and one"]); a leading article that does not belong to the number is dropped."""
    out = []
    for m in PHRASE.finditer(text):
        phrase = m.group(0)
        if words_to_number(phrase) is None:
            phrase = re.sub(r"^(?:a|an)\s+", "", phrase, flags=re.IGNORECASE)
        if words_to_number(phrase) is not None:
            out.append(phrase)
    return out
