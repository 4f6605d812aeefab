"""Final-answer extraction from a free-text response (and from a reference that carries a solution).

Order of preference, as math graders do: the last `\\boxed{...}` (balanced braces, so nested LaTeX
survives), else the last "answer is X" / "Answer: X" / "#### X" (GSM8K), else the last number in the
text, else the last number written in words in its final sentence ("forty-two thousand apples"). The
method is kept, because an answer the response marked as final is trusted more than a number found by
scanning (the degeneracy checks use it).

Self-corrected answers: the answer that counts is the last one the response commits to. A response that
retracts ("Wait, that's wrong", "Actually", "Correction:", "I made a mistake", "Oops") and then marks a
new final answer (boxed, "the answer is", "####") is judged on that new answer alone: the retracted
text is dropped, so its boxes are neither the answer nor evidence of hedging. A retraction followed by
no new marked answer (a check, a remark) leaves the earlier answer standing, and with it the hedging
rule over all of the response's boxes: retracting can replace an answer, never add a second chance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from j1.verifiers.words import number_phrases, words_to_number

BOXED_COMMANDS = ("\\boxed", "\\fbox")
# `answer is X`, `final answer: X`, `**Answer:** X`, `answer = X` up to the end of the line. The answer
# is captured in a lookahead so that "Final Answer: The final answer is $42$" also finds the inner one.
ANSWER_IS = re.compile(
    r"\b(?:final\s+answer|answer)\b[\s*]*(?:is|would\s+be|will\s+be|:|=)[\s*:]*(?=(?P<ans>[^\n]*))",
    re.IGNORECASE,
)
GSM8K = re.compile(r"####\s*(?P<ans>[^\n]*)")
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?(?:\s*/\s*\d+)?(?![\w])")
SENTENCE_END = re.compile(r"\.(?=\s|$)")
TEXT_WRAP = re.compile(r"\\(?:text|textbf|mathrm|mbox|textrm)\{(.*)\}", re.DOTALL)
MATH_DELIMS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))
# a retraction of what came before: the answer that counts is committed after the last one
RETRACTION = re.compile(
    r"\b(?:wait|actually|correction|oops|scratch that|on second thought"
    r"|i (?:made|make) (?:a|an) (?:mistake|error|slip)"
    r"|(?:that|this|it)(?:'s|\s+is|\s+was)\s+(?:wrong|incorrect|not right|a mistake|an error)"
    r"|let me (?:correct|fix|redo) (?:that|this|it))\b",
    re.IGNORECASE,
)
# numbers joined only by list separators ("3, 5, 7 or 9", "4; 8; 16"), ending the text
LIST_SEP = r"(?:\s*[,;]\s*(?:(?:and|or)\s+)?|\s+(?:and|or)\s+)"
TRAILING_LIST = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?(?:" + LIST_SEP + r"-?\d+(?:\.\d+)?)+)[\s.!]*$")


@dataclass(frozen=True)
class Extraction:
    answer: str | None  # the cleaned final answer, None when nothing was found
    method: str  # "boxed" | "answer_is" | "gsm8k" | "last_number" | "none"
    boxed: list[str] = field(default_factory=list)  # every non-empty boxed answer, in text order
    listed: list[str] = field(default_factory=list)  # a scanned last number that ends a list: the list

    @property
    def marked(self) -> bool:
        """True when the response itself marked the answer as final (not a scanned number)."""
        return self.method in ("boxed", "answer_is", "gsm8k")


def _balanced(text: str, open_at: int) -> int | None:
    """Index just past the brace group that opens at `open_at`, or None if it never closes."""
    depth = 0
    i = open_at
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2  # an escaped character (\{ \}) never opens or closes a group
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def find_boxed(text: str) -> list[str]:
    """Contents of every `\\boxed{...}` / `\\fbox{...}` (and `\\boxed 5`), in order; unclosed ones skipped."""
    out: list[str] = []
    pattern = re.compile("|".join(re.escape(c) for c in BOXED_COMMANDS) + r"(?![a-zA-Z])")
    for m in pattern.finditer(text):
        j = m.end()
        while j < len(text) and text[j] == " ":
            j += 1
        if j < len(text) and text[j] == "{":
            end = _balanced(text, j)
            if end is not None:
                out.append(text[j + 1 : end - 1].strip())
        elif j > m.end():  # `\boxed 5`: one token
            token = re.match(r"[^\s$.,;]+", text[j:])
            if token:
                out.append(token.group(0))
    return out


def strip_delimiters(s: str) -> str:
    s = s.strip()
    changed = True
    while changed:
        changed = False
        for left, right in MATH_DELIMS:
            if len(s) > len(left) + len(right) and s.startswith(left) and s.endswith(right):
                s = s[len(left) : -len(right)].strip()
                changed = True
    return s


def clean_answer(s: str, *, sentence: bool = True) -> str:
    """Strip markdown emphasis, math delimiters, end punctuation and a whole-answer `\\text{}`; with
    `sentence`, keep only the first sentence ("42. So we are done" -> "42")."""
    s = s.strip()
    m = SENTENCE_END.search(s) if sentence else None
    if m:  # a decimal point is never followed by a space
        s = s[: m.start()]
    s = s.strip().strip("*").strip()
    s = s.rstrip(".;:!").strip()
    s = strip_delimiters(s)
    whole = TEXT_WRAP.fullmatch(s)
    if whole and "}" not in whole.group(1):  # \text{forty-two} -> forty-two
        s = whole.group(1).strip()
    return s.rstrip(".;").strip()


def _last_marked(text: str) -> tuple[str, str] | None:
    best: tuple[int, str, str] | None = None
    for method, pattern in (("answer_is", ANSWER_IS), ("gsm8k", GSM8K)):
        for m in pattern.finditer(text):
            ans = clean_answer(m.group("ans"))
            if ans and (best is None or m.start() > best[0]):
                best = (m.start(), method, ans)
    return None if best is None else (best[2], best[1])


def extract_answer(text: str) -> Extraction:
    """The response's final answer: the one it commits to after its last retraction, if it marks one
    there, else the whole response's (see the module's policy)."""
    retractions = list(RETRACTION.finditer(text))
    if retractions:
        committed = text[retractions[-1].end() :]
        ext = _extract_marked(committed)
        if ext is not None:
            return ext
    return _extract_marked(text) or _extract_scanned(text)


def _extract_marked(text: str) -> Extraction | None:
    boxed = [b for b in find_boxed(text) if b.strip()]
    if boxed:
        return Extraction(clean_answer(boxed[-1], sentence=False), "boxed", boxed)
    marked = _last_marked(text)
    if marked:
        return Extraction(marked[0], marked[1])
    return None


def _extract_scanned(text: str) -> Extraction:
    numbers = NUMBER.findall(text)
    if numbers:
        listed = TRAILING_LIST.search(last_sentence(text).rstrip() + ".")
        items = re.split(LIST_SEP, listed.group(1)) if listed else []
        return Extraction(numbers[-1].replace(" ", ""), "last_number", listed=items)
    whole = clean_answer(text)
    if len(whole) <= 80 and words_to_number(whole) is not None:  # a bare "forty-two"
        return Extraction(whole, "last_number")
    phrases = number_phrases(last_sentence(text))
    if phrases:  # "So there are forty-two thousand apples in total."
        return Extraction(phrases[-1], "last_number")
    return Extraction(None, "none")


def reference_answer(reference: str) -> str:
    """The answer part of a reference: a full MATH solution gives its last boxed answer, a GSM8K answer
    its `#### X`; a bare answer is returned cleaned."""
    boxed = find_boxed(reference)
    if boxed:
        return clean_answer(boxed[-1], sentence=False)
    m = list(GSM8K.finditer(reference))
    if m:
        return clean_answer(m[-1].group("ans"))
    return strip_delimiters(reference.strip())


def numbers_in(text: str) -> list[str]:
    return [n.replace(" ", "") for n in NUMBER.findall(text)]


def last_sentence(text: str) -> str:
    """The text after the last sentence break (line break or '. '), where a final claim usually sits."""
    text = text.rstrip().rstrip(".")
    cut = max(text.rfind("\n"), *(m.end() for m in SENTENCE_END.finditer(text)), -1)
    return text[cut + 1 :] if cut >= 0 else text
