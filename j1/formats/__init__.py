"""Judge formats: each owns both sides of its text (a versioned template for the prompt, a parser for the
judge's output, and `write`, which renders a decision as that output), looked up by name.

| name                      | judge sees            | judge ends with                                  |
|---------------------------|-----------------------|--------------------------------------------------|
| `pairwise_verdict`        | prompt, A, B          | `<answer>[[A]]</answer>` or `[[B]]`              |
| `pairwise_verdict_short`  | prompt, A, B          | as `pairwise_verdict`                            |
| `pairwise_scores`         | prompt, A, B          | `<score_A>x</score_A> <score_B>y</score_B>`      |
| `pairwise_scores_verdict` | prompt, A, B          | both scores, then the `<answer>` verdict         |
| `pointwise`               | prompt, one response  | `<score>x</score>` (0-10)                        |
| `pairwise_verdict_direct` | prompt, A, B          | its first `[[A]]` or `[[B]]`, no thinking        |

Every format but `pairwise_verdict_direct` thinks first in `<think>...</think>` (J1: criteria, optional own
reference answer, comparison, decision). `pairwise_verdict_direct` is the judge that does not think, for
evaluation and serving: its answer starts with `<answer>[[` written for it (a prefill, the last message of
`messages`), so the model's first token is its verdict. A base or instruct model that cannot yet write the
thinking formats (SmolLM2-135M parses none of them) still gives a verdict in it, the baseline a trained
thinking judge is compared with; `j1 train` refuses it, since it has no thinking to train.

User text reaches the template only as variables, with the template's own delimiter lines neutralised
inside it, so a response cannot close its quote and speak as the prompt, and with the judge's answer
syntax (`<think>`, `<answer>`, score tags, `[[A]]`) in parentheses, so a verdict written in a response is
read as text, not copied (`quote`).

`pairwise_verdict_short` asks for the same thinking steps in 172 template tokens instead of 283, for small
models on a short context: at a 384-token prompt budget the J1 instruction leaves about 33 tokens to each
response.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from j1 import J1Error
from j1.formats.parse import (
    Judgment,
    parse_pairwise_scores,
    parse_pairwise_scores_verdict,
    parse_pairwise_verdict,
    parse_pairwise_verdict_direct,
    parse_pointwise,
)
from j1.templates import render

DELIMITERS = (
    "[User Question]",
    "[The Start of Assistant A's Answer]",
    "[The End of Assistant A's Answer]",
    "[The Start of Assistant B's Answer]",
    "[The End of Assistant B's Answer]",
    "[The Start of the Assistant's Answer]",
    "[The End of the Assistant's Answer]",
)


# look-alikes that NFKC leaves alone: Cyrillic, Greek and Cherokee letters, angle and curly quotation marks
TWINS = dict(
    zip(
        "\u0410\u0391\u13aa\u0412\u0392\u13f4\u0430\u0251\u0435\u043e\u03bf\u0441\u0440\u0456\u0455\u04bb\u0501"
        "\u2039\u2329\u27e8\u3008\u203a\u232a\u27e9\u3009\u27e6\u3010\u3014\u27e7\u3011\u3015\u2018\u2019",
        "AAABBBaaeoocpishd<<<<>>>>[[[]]]''",
        strict=True,
    )
)


@functools.cache
def _fold(char: str) -> str:
    folded = unicodedata.normalize("NFKC", char)
    return folded if len(folded) == 1 and folded.isascii() else TWINS.get(char, char)


def _skeleton(text: str) -> str:
    """Text as a reader sees it, one character for one: each unicode look-alike of an ASCII character
    (fullwidth brackets, curly quotes, Cyrillic A) replaced by that character, so positions still match."""
    return text if text.isascii() else "".join(map(_fold, text))


# what a response must not write as it is: our delimiter lines, and the judge's own answer syntax (its tags
# and verdicts), as a response may write them to pass for the prompt or for the judge
QUOTED = re.compile(
    "|".join(map(re.escape, DELIMITERS)) + r"|</?(?:think|answer|score(?:_[AB])?)>|\[\[\s*([AB])\s*\]\]"
)


def _defused(m: re.Match[str]) -> str:
    return f"({m.group(1)})" if m.group(1) else f"({m.group(0)[1:-1]})"


def quote(text: str) -> str:
    """User text with our delimiter lines and the judge's answer syntax in parentheses (`[User Question]`
    -> `(User Question)`, `<answer>[[B]]</answer>` -> `(answer)(B)(/answer)`, `</think>` -> `(/think)`): a
    response cannot close its quote and speak as the prompt, and a verdict it writes is read as text, not
    as one the judge could copy. Both are found also where they are written with unicode look-alikes
    (fullwidth brackets, a Cyrillic B, a curly apostrophe), and then written in ASCII. Nothing else changes."""
    seen, out, at = _skeleton(text), [], 0
    for m in QUOTED.finditer(seen):  # matched in the skeleton, rewritten in the original's place
        out += [text[at : m.start()], _defused(m)]
        at = m.end()
    return "".join([*out, text[at:]])


WIN, LOSE = 8, 3  # the scores `write` gives the better / worse response (score formats)


def _verdict(decision: str) -> str:
    return f"<answer>[[{decision}]]</answer>"


def _scores(decision: str) -> str:
    sa, sb = (WIN, LOSE) if decision == "A" else (LOSE, WIN)
    return f"<score_A>{sa}</score_A> <score_B>{sb}</score_B>"


def _score(decision: str) -> str:
    return f"<score>{decision}</score>"


@dataclass(frozen=True)
class JudgeFormat:
    name: str
    template: str  # versioned template name in j1.prompts
    kind: str  # "pairwise" | "pointwise"
    parse: Callable[[str], Judgment]
    answer: Callable[[str], str]  # the final block for a decision: "A"/"B" (pairwise), a score (pointwise)
    prefill: str = ""  # the start of the judge's answer, written for it: the model continues it

    def write(self, thinking: str, decision: str) -> str:
        """A judge output in this format: `thinking`, then `decision` in the format's answer block (what
        SFT traces are made of; `parse` reads it back)."""
        if self.prefill:
            raise J1Error(f"format {self.name} writes no thinking: it judges, it is not trained")
        if self.kind == "pairwise" and decision not in ("A", "B"):
            raise J1Error(f"format {self.name}: a pairwise decision is A or B, not {decision!r}")
        return f"<think>{thinking}</think>\n{self.answer(decision)}"

    def read(self, output: str) -> Judgment:
        """The judgment in what the model wrote after `messages` (the prefill, if any, goes first)."""
        return self.parse(self.prefill + output)

    def probability_a(self, samples: Sequence[Any]) -> float | None:
        """The judge's mean P(A) at its verdict token over `samples` (`Sample`s with logprobs), read where
        `read` reads the verdict; None when no sample has one."""
        from j1.formats.soft import mean_verdict_probability

        return mean_verdict_probability(samples, self.prefill)

    def render(
        self,
        prompt: str,
        response_a: str | None = None,
        response_b: str | None = None,
        response: str | None = None,
    ) -> str:
        if self.kind == "pairwise":
            if response_a is None or response_b is None:
                raise J1Error(f"format {self.name}: needs response_a and response_b")
            return render(
                self.template,
                prompt=quote(prompt),
                response_a=quote(response_a),
                response_b=quote(response_b),
            )
        if response is None:
            raise J1Error(f"format {self.name}: needs response")
        return render(self.template, prompt=quote(prompt), response=quote(response))

    def messages(self, *args: str | None, **kwargs: str | None) -> list[dict[str, str]]:
        user = [{"role": "user", "content": self.render(*args, **kwargs)}]
        return [*user, {"role": "assistant", "content": self.prefill}] if self.prefill else user


FORMATS: dict[str, JudgeFormat] = {
    f.name: f
    for f in (
        JudgeFormat("pairwise_verdict", "pairwise_verdict_v1", "pairwise", parse_pairwise_verdict, _verdict),
        JudgeFormat(
            "pairwise_verdict_short",
            "pairwise_verdict_short_v1",
            "pairwise",
            parse_pairwise_verdict,
            _verdict,
        ),
        JudgeFormat("pairwise_scores", "pairwise_scores_v1", "pairwise", parse_pairwise_scores, _scores),
        JudgeFormat(
            "pairwise_scores_verdict",
            "pairwise_scores_verdict_v1",
            "pairwise",
            parse_pairwise_scores_verdict,
            lambda d: f"{_scores(d)}\n{_verdict(d)}",
        ),
        JudgeFormat("pointwise", "pointwise_v1", "pointwise", parse_pointwise, _score),
        JudgeFormat(
            "pairwise_verdict_direct",
            "pairwise_verdict_direct_v1",
            "pairwise",
            parse_pairwise_verdict_direct,
            _verdict,
            prefill="<answer>[[",
        ),
    )
}


def get_format(name: str) -> JudgeFormat:
    if name not in FORMATS:
        raise J1Error(f"unknown judge format {name!r}; valid formats: {', '.join(FORMATS)}")
    return FORMATS[name]


__all__ = ["DELIMITERS", "FORMATS", "LOSE", "WIN", "JudgeFormat", "Judgment", "get_format", "quote"]
