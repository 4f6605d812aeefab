"""Judges for `j1 eval`: a model through any backend in any judge format, and the length/random baselines.

A judge turns tasks (prompt, response A, response B) into `Decision`s: the raw outputs, their parses, and
one verdict per task ("A", "B", "tie" or None when nothing parsed), and with token log-probabilities
(`logprobs`) the soft verdict P(A) of `j1.formats.soft` (pointwise formats: each response's expected score
and P(A) = P(score_A > score_B), ties half, from the score distributions). With N samples the verdict is the
majority over parsed samples (self-consistency@N; equal votes = tie) and `agreement` is the majority's
share, a confidence. Pointwise judges score each response on its own, each distinct (prompt, response)
once, and the verdict compares mean scores (mean-score@N).

Baselines anyone can recompute by hand: `longer` / `shorter` pick by character length (equal = tie),
`random` flips a coin seeded by the task's content, `always_a` / `always_b` name one position.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from j1 import J1Error
from j1.backends import Backend, SamplingParams
from j1.formats import JudgeFormat, Judgment, get_format
from j1.formats.soft import (
    expected_score,
    mean_score_distribution,
    win_probability,
)


@dataclass
class Task:
    prompt: str
    response_a: str
    response_b: str


@dataclass
class Decision:
    verdict: str | None  # "A" | "B" | "tie" | None (no sample parsed)
    raw: list[str] = field(default_factory=list)
    judgments: list[Judgment] = field(default_factory=list)
    agreement: float | None = None
    scores: dict[str, float] = field(default_factory=dict)  # pointwise / score formats: mean per side
    p_a: float | None = None  # soft verdict: the mean over samples of P(A) (needs logprobs), else None
    expected_scores: dict[str, float] = field(default_factory=dict)  # pointwise with logprobs: per side


def majority(verdicts: list[str | None]) -> tuple[str | None, float | None]:
    votes = Counter(v for v in verdicts if v is not None)
    if not votes:
        return None, None
    ranked = votes.most_common()
    top, count = ranked[0]
    if len(ranked) > 1 and ranked[1][1] == count:
        top = "tie"
    return top, count / sum(votes.values())


class LengthJudge:
    """`longer` or `shorter`: verdict by character length; equal length is a tie."""

    def __init__(self, prefer: str) -> None:
        self.name, self.prefer = prefer, prefer

    def decide(self, tasks: list[Task]) -> list[Decision]:
        out = []
        for t in tasks:
            la, lb = len(t.response_a), len(t.response_b)
            verdict = "tie" if la == lb else ("A" if (la > lb) == (self.prefer == "longer") else "B")
            out.append(Decision(verdict, raw=[f"len(A)={la} len(B)={lb}"], agreement=1.0))
        return out


class RandomJudge:
    """A fair coin per task, seeded by the seed and the task's content: reruns give the same verdicts."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def decide(self, tasks: list[Task]) -> list[Decision]:
        out = []
        for t in tasks:
            key = hashlib.sha256(
                f"{self.seed}\0{t.prompt}\0{t.response_a}\0{t.response_b}".encode()
            ).hexdigest()
            out.append(Decision(random.Random(key).choice("AB"), raw=["coin"], agreement=1.0))
        return out


class ModelJudge:
    """A judge model behind any j1 backend, prompted and parsed by a judge format."""

    def __init__(
        self,
        backend: Backend,
        fmt: str | JudgeFormat,
        samples: int = 1,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int = 1024,
        seed: int = 0,
        name: str = "model",
        logprobs: int = 0,
    ) -> None:
        self.backend, self.name = backend, name
        self.fmt = get_format(fmt) if isinstance(fmt, str) else fmt
        if samples > 1 and temperature == 0:
            raise J1Error(
                "self-consistency needs sampling: samples > 1 with temperature 0 repeats one answer"
            )
        self.params = SamplingParams(
            n=samples,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            seed=seed,
            logprobs=logprobs,
        )

    def decide(self, tasks: list[Task]) -> list[Decision]:
        return self._pairwise(tasks) if self.fmt.kind == "pairwise" else self._pointwise(tasks)

    def _pairwise(self, tasks: list[Task]) -> list[Decision]:
        convs = [self.fmt.messages(t.prompt, response_a=t.response_a, response_b=t.response_b) for t in tasks]
        out = []
        for gen in self.backend.generate(convs, self.params):
            raw = [s.text for s in gen.samples]
            judgments = [self.fmt.read(r) for r in raw]
            verdict, agreement = majority([j.verdict if j.parse_ok else None for j in judgments])
            scores = _mean_scores(judgments, ("A", "B"))
            p_a = self.fmt.probability_a(gen.samples)
            out.append(Decision(verdict, raw, judgments, agreement, scores, p_a))
        return out

    def _pointwise(self, tasks: list[Task]) -> list[Decision]:
        keys = list(dict.fromkeys((t.prompt, r) for t in tasks for r in (t.response_a, t.response_b)))
        convs = [self.fmt.messages(p, response=r) for p, r in keys]
        scored: dict[tuple[str, str], tuple[list[str], list[Judgment], Any]] = {}
        for key, gen in zip(keys, self.backend.generate(convs, self.params), strict=True):
            raw = [s.text for s in gen.samples]
            scored[key] = (raw, [self.fmt.read(r) for r in raw], mean_score_distribution(gen.samples))
        out = []
        for t in tasks:
            (raw_a, ja, da), (raw_b, jb, db) = (
                scored[(t.prompt, t.response_a)],
                scored[(t.prompt, t.response_b)],
            )
            a, b = _mean_scores(ja, ("score",)).get("score"), _mean_scores(jb, ("score",)).get("score")
            verdict = None if a is None or b is None else "A" if a > b else "B" if b > a else "tie"
            parsed = [j.parse_ok for j in ja + jb]
            scores = {k: v for k, v in (("A", a), ("B", b)) if v is not None}
            expected = {k: e for k, d in (("A", da), ("B", db)) if (e := expected_score(d)) is not None}
            out.append(
                Decision(
                    verdict,
                    raw_a + raw_b,
                    ja + jb,
                    sum(parsed) / len(parsed),
                    scores,
                    win_probability(da, db),
                    expected,
                )  # fmt: skip
            )
        return out


def _mean_scores(judgments: list[Judgment], keys: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for k in keys:
        values = [j.scores[k] for j in judgments if j.parse_ok and k in j.scores]
        if values:
            out[k] = sum(values) / len(values)
    return out


class PositionJudge:
    """`always_a` / `always_b`: the same position every time (a judge with total position bias)."""

    def __init__(self, side: str) -> None:
        self.name, self.side = f"always_{side.lower()}", side

    def decide(self, tasks: list[Task]) -> list[Decision]:
        return [Decision(self.side, raw=[f"always {self.side}"], agreement=1.0) for _ in tasks]


BASELINES: dict[str, Any] = {
    "longer": lambda seed: LengthJudge("longer"),
    "shorter": lambda seed: LengthJudge("shorter"),
    "random": lambda seed: RandomJudge(seed),
    "always_a": lambda seed: PositionJudge("A"),
    "always_b": lambda seed: PositionJudge("B"),
}
