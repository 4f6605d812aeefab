"""J1 rewards with TRL's contract, `f(prompts, completions, **columns) -> list[float | None]`, by name.

| name                   | rows it scores | reward                                                            |
|------------------------|----------------|-------------------------------------------------------------------|
| `verdict`              | pairwise       | 1 if the parsed verdict equals the label ("A"/"B"), else 0          |
| `position_consistency` | pairwise       | 1 iff the judge is right in both orders of the pair, else 0         |
| `pointwise_pair`       | pointwise      | 1 iff score(chosen rollout) > score(rejected rollout), else 0 (tie 0) |
| `format`               | all            | 1 iff the output thinks in a closed `<think>` block and parses      |

Rows a reward does not apply to get None (TRL's "not applicable": NaN, left out of that reward's mean and
of the weighted sum), so one run can mix pairwise and pointwise rows (multitask). Unparseable outputs score
0, never a tie. Positive rewards only, as J1 found best; weights go through TRL's `reward_weights`.

How rollouts are paired (the paper leaves it open; batch-level rewards need a rule). Within one call, the
rows of a pair group (pair id + format) are split by side (`ab`/`ba`, or `chosen`/`rejected`) keeping
batch order, and the i-th rollout of the first side is paired with the i-th rollout of the second. With
the pair sampler the batch holds G rollouts of the `ab` prompt then G of the `ba` prompt, so rollout i of
`ab` meets rollout i of `ba`; both rows of a matched couple get the couple's reward. Unequal counts mean
the two sides were not generated together, and raise rather than guess.

Right, consistent and flip are `j1.scoring`'s rules, which `j1 eval`'s statistics use too: the
position-consistency reward and the position-consistent accuracy of an eval report are one rule. During
training each reward also reports these as metrics through TRL's `log_metric`; held-out judges are scored
by `j1 eval` itself (`evaluate.py`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from statistics import mean
from typing import Any

from j1 import J1Error
from j1.formats import Judgment, get_format
from j1.scoring import consistent, flipped, preference, right

RewardFn = Callable[..., list[float | None]]
MetricLogger = Callable[[str, float], None] | None


def completion_text(completion: Any) -> str:
    """A completion as text: TRL passes a string, or a list of messages for conversational prompts."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    raise J1Error(f"cannot read a completion of type {type(completion).__name__}")


def parse_all(completions: Sequence[Any], formats: Sequence[str]) -> list[Judgment]:
    return [get_format(f).parse(completion_text(c)) for c, f in zip(completions, formats, strict=True)]


def kinds(formats: Sequence[str]) -> list[str]:
    return [get_format(f).kind for f in formats]


def pair_rollouts(
    pair_id: Sequence[str], formats: Sequence[str], sides: Sequence[str], first: str, second: str
) -> list[tuple[int, int]]:
    """(i, j) row couples: the k-th row of side `first` of a group with the k-th row of side `second`
    (batch order). Rows with another side are ignored; unequal counts raise."""
    rows: dict[str, dict[str, list[int]]] = defaultdict(lambda: {first: [], second: []})
    for i, (pid, fmt, side) in enumerate(zip(pair_id, formats, sides, strict=True)):
        if side in (first, second):
            rows[f"{pid}:{fmt}"][side].append(i)
    couples = []
    for key, by_side in rows.items():
        a, b = by_side[first], by_side[second]
        if len(a) != len(b):
            raise J1Error(
                f"pair {key}: {len(a)} {first!r} and {len(b)} {second!r} rollouts in this batch; both must be "
                "generated together (train with j1's pair sampler, evaluate both orders)"
            )
        couples += list(zip(a, b, strict=True))
    return couples


def _log(log_metric: MetricLogger, name: str, values: list[float]) -> None:
    if log_metric is not None and values:
        log_metric(name, mean(values))


def _correct(j: Judgment, label: str) -> float:
    return right(j.verdict if j.parse_ok else None, label)


def verdict(
    prompts: Sequence[Any],
    completions: Sequence[Any],
    format: Sequence[str],
    label: Sequence[str],
    order: Sequence[str] | None = None,
    log_metric: MetricLogger = None,
    **_: Any,
) -> list[float | None]:
    """1 if the parsed verdict equals the label; pairwise rows only."""
    parsed, kind = parse_all(completions, format), kinds(format)
    out: list[float | None] = [
        _correct(j, lab) if k == "pairwise" else None for j, lab, k in zip(parsed, label, kind, strict=True)
    ]
    pw = [i for i, k in enumerate(kind) if k == "pairwise"]
    _log(log_metric, "judge/parse_rate_pairwise", [float(parsed[i].parse_ok) for i in pw])
    for o in ("ab", "ba"):
        _log(log_metric, f"judge/accuracy_{o}", [out[i] for i in pw if order and order[i] == o])  # type: ignore[misc]
    return out


def position_consistency(
    prompts: Sequence[Any],
    completions: Sequence[Any],
    pair_id: Sequence[str],
    format: Sequence[str],
    order: Sequence[str],
    label: Sequence[str],
    log_metric: MetricLogger = None,
    **_: Any,
) -> list[float | None]:
    """1 for both rollouts of a matched (ab, ba) couple iff both verdicts are right; pairwise rows only."""
    parsed, kind = parse_all(completions, format), kinds(format)
    out: list[float | None] = [0.0 if k == "pairwise" else None for k in kind]
    couples = pair_rollouts(pair_id, format, order, "ab", "ba")
    flips = []
    for i, j in couples:
        out[i] = out[j] = consistent(_correct(parsed[i], label[i]), _correct(parsed[j], label[j]))
        prefs = [preference(order[k], parsed[k].verdict if parsed[k].parse_ok else None) for k in (i, j)]
        flips.append(float(flipped(*prefs)))  # over all pairs, as eval's flip_rate
    _log(log_metric, "judge/consistent_accuracy", [out[i] for i, _ in couples])  # type: ignore[misc]
    _log(log_metric, "judge/flip_rate", flips)
    return out


def pointwise_pair(
    prompts: Sequence[Any],
    completions: Sequence[Any],
    pair_id: Sequence[str],
    format: Sequence[str],
    role: Sequence[str],
    log_metric: MetricLogger = None,
    **_: Any,
) -> list[float | None]:
    """1 for both rollouts of a matched (chosen, rejected) couple iff score(chosen) > score(rejected)."""
    parsed, kind = parse_all(completions, format), kinds(format)
    out: list[float | None] = [0.0 if k == "pointwise" else None for k in kind]
    couples = pair_rollouts(pair_id, format, role, "chosen", "rejected")
    ties = []
    for i, j in couples:
        a, b = parsed[i], parsed[j]
        both = a.parse_ok and b.parse_ok
        out[i] = out[j] = 1.0 if both and a.scores["score"] > b.scores["score"] else 0.0
        if both:
            ties.append(float(a.scores["score"] == b.scores["score"]))
    pt = [i for i, k in enumerate(kind) if k == "pointwise"]
    _log(log_metric, "judge/parse_rate_pointwise", [float(parsed[i].parse_ok) for i in pt])
    _log(log_metric, "judge/pointwise_pair_accuracy", [out[i] for i, _ in couples])  # type: ignore[misc]
    _log(log_metric, "judge/pointwise_tie_rate", ties)
    return out


def format_reward(
    prompts: Sequence[Any], completions: Sequence[Any], format: Sequence[str], **_: Any
) -> list[float | None]:
    """1 iff the output thinks inside a closed <think>...</think> and its final block parses."""
    out: list[float | None] = []
    for c, j in zip(completions, parse_all(completions, format), strict=True):
        text = completion_text(c)
        thought = "<think>" in text and text.find("<think>") < text.rfind("</think>")
        out.append(1.0 if thought and j.parse_ok else 0.0)
    return out


format_reward.__name__ = "format"  # TRL logs a reward under its function's name: rewards/format/mean

REWARDS: dict[str, RewardFn] = {
    "verdict": verdict,
    "position_consistency": position_consistency,
    "pointwise_pair": pointwise_pair,
    "format": format_reward,
}
APPLIES_TO: dict[str, set[str]] = {
    "verdict": {"pairwise"},
    "position_consistency": {"pairwise"},
    "pointwise_pair": {"pointwise"},
    "format": {"pairwise", "pointwise"},
}


def get_reward(name: str) -> RewardFn:
    if name not in REWARDS:
        raise J1Error(f"unknown reward {name!r}; valid rewards: {', '.join(REWARDS)}")
    return REWARDS[name]


def reward_functions(weights: dict[str, float], format_kinds: set[str]) -> tuple[list[RewardFn], list[float]]:
    """Reward functions and TRL `reward_weights` for `weights` (name -> weight); every kind of example
    in the run (pairwise / pointwise) must be scored by some reward of positive weight."""
    if not weights:
        raise J1Error(f"no rewards configured; valid rewards: {', '.join(REWARDS)}")
    funcs = [get_reward(name) for name in weights]
    for name, w in weights.items():
        if not isinstance(w, int | float) or w < 0:
            raise J1Error(f"reward {name}: weight must be a number >= 0, got {w!r}")
    for kind in format_kinds:
        if not any(w > 0 and kind in APPLIES_TO[n] and n != "format" for n, w in weights.items()):
            useful = [n for n in REWARDS if kind in APPLIES_TO[n] and n != "format"]
            raise J1Error(
                f"the {kind} examples of this run get no judging reward from {sorted(weights)}; add one of "
                f"{useful} (e.g. --set rewards.{useful[0]}=1.0)"
            )
    return funcs, [float(w) for w in weights.values()]
