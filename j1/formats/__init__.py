"""Judge formats: one versioned template + one parser per format, looked up by name.

| name                      | judge sees            | judge ends with                                  |
|---------------------------|-----------------------|--------------------------------------------------|
| `pairwise_verdict`        | prompt, A, B          | `<answer>[[A]]</answer>` or `[[B]]`              |
| `pairwise_verdict_short`  | prompt, A, B          | as `pairwise_verdict`                            |
| `pairwise_scores`         | prompt, A, B          | `<score_A>x</score_A> <score_B>y</score_B>`      |
| `pairwise_scores_verdict` | prompt, A, B          | both scores, then the `<answer>` verdict         |
| `pointwise`               | prompt, one response  | `<score>x</score>` (0-10)                        |

Every format thinks first in `<think>...</think>` (J1: criteria, optional own reference answer, comparison,
decision). User text reaches the template only as variables, with the template's own delimiter lines
neutralised inside it, so a response cannot close its quote and speak as the prompt.
`pairwise_verdict_short` asks for the same thinking steps in 172 template tokens instead of 283, for small
models on a short context: at a 384-token prompt budget the J1 instruction leaves about 33 tokens to each
response.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from j1 import J1Error
from j1.formats.parse import (
    Judgment,
    parse_pairwise_scores,
    parse_pairwise_scores_verdict,
    parse_pairwise_verdict,
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


def quote(text: str) -> str:
    """User text with our delimiter lines defused (brackets -> parentheses); nothing else changes."""
    for d in DELIMITERS:
        if d in text:
            text = text.replace(d, "(" + d[1:-1] + ")")
    return text


@dataclass(frozen=True)
class JudgeFormat:
    name: str
    template: str  # versioned template name in j1.prompts
    kind: str  # "pairwise" | "pointwise"
    parse: Callable[[str], Judgment]

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
        return [{"role": "user", "content": self.render(*args, **kwargs)}]


FORMATS: dict[str, JudgeFormat] = {
    f.name: f
    for f in (
        JudgeFormat("pairwise_verdict", "pairwise_verdict_v1", "pairwise", parse_pairwise_verdict),
        JudgeFormat(
            "pairwise_verdict_short", "pairwise_verdict_short_v1", "pairwise", parse_pairwise_verdict
        ),
        JudgeFormat("pairwise_scores", "pairwise_scores_v1", "pairwise", parse_pairwise_scores),
        JudgeFormat(
            "pairwise_scores_verdict", "pairwise_scores_verdict_v1", "pairwise", parse_pairwise_scores_verdict
        ),
        JudgeFormat("pointwise", "pointwise_v1", "pointwise", parse_pointwise),
    )
}


def get_format(name: str) -> JudgeFormat:
    if name not in FORMATS:
        raise J1Error(f"unknown judge format {name!r}; valid formats: {', '.join(FORMATS)}")
    return FORMATS[name]


__all__ = ["DELIMITERS", "FORMATS", "JudgeFormat", "Judgment", "get_format", "quote"]
