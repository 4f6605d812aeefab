"""Group rewards from a pairwise judge: one reward per rollout of a GRPO group, with no reference answer.

A policy's G rollouts for one prompt are compared with each other (or with an anchor) by a pairwise judge,
every comparison in both orders, and the verdicts become per-rollout rewards:

- schedules (`SCHEDULES`), which comparisons to make, and their cost in judge calls (2 per comparison):
  `anchor` (each rollout against one anchor completion, e.g. a reference answer: G comparisons),
  `round_robin` (every pair: G(G-1)/2), `regular` (a seeded random k-regular graph: each rollout in k
  comparisons, Gk/2 in all), `swiss` (k rounds; each pairs rollouts of close running scores that have not
  met: about Gk/2);
- scorings (`SCORINGS`): `winrate` (wins + ties/2 over decided comparisons) or `bradley_terry` (a Bradley-
  Terry fit of the group's outcomes with a weak prior, as the probability of beating an average rollout).

Rules. A comparison's outcome comes from both orders: the same side preferred in both is a win for it; a tie
in either order or orders that disagree (position bias) is a tie. A comparison in which either order did not
parse is *dropped*: it counts for neither side, never as a win, loss or tie. A rollout left with no decided
comparison gets `None` (TRL then leaves it out of its group's baseline). `GroupResult` reports the calls,
the parse-failure rate and the dropped comparisons.

The judge is any `PairJudge`: a function from (prompt, response_a, response_b) items to verdicts "A", "B",
"tie" or None. `client_judge` wraps a served j1 judge (`JudgeClient`), `backend_judge` a model behind any j1
backend in this process; `cached` memoizes identical calls.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from j1 import J1Error

log = logging.getLogger(__name__)
Verdict = str | None  # "A" | "B" | "tie" | None (did not parse)
Item = tuple[str, str, str]  # (prompt, response_a, response_b)
PairJudge = Callable[[list[Item]], list[Verdict]]
Edge = tuple[int, int]
ANCHOR = -1  # the anchor's index in an edge


@dataclass
class GroupResult:
    rewards: list[float | None]
    calls: int  # judge calls (one per order of each comparison)
    comparisons: int
    dropped: int  # comparisons with an order that did not parse
    parse_failures: int  # orders that did not parse
    outcomes: list[tuple[int, int, float | None]] = field(default_factory=list)  # (i, j, i's score)
    groups: list[list[int]] = field(default_factory=list)  # a batch's rollout indices, one list per group

    @property
    def parse_failure_rate(self) -> float:
        return self.parse_failures / self.calls if self.calls else 0.0


# -- schedules ---------------------------------------------------------------------------------------------


def round_robin(g: int, k: int, rng: random.Random) -> list[Edge]:
    return [(i, j) for i in range(g) for j in range(i + 1, g)]


def anchor(g: int, k: int, rng: random.Random) -> list[Edge]:
    return [(i, ANCHOR) for i in range(g)]


def regular(g: int, k: int, rng: random.Random) -> list[Edge]:
    """A seeded random k-regular graph: a circulant graph over a random order of the rollouts (each joined to
    its k/2 neighbours on each side; odd k adds the opposite rollout, which needs an even G)."""
    if not 1 <= k < g:
        raise J1Error(f"regular schedule: k must be in 1..{g - 1} for a group of {g}, got {k}")
    if k % 2 and g % 2:
        raise J1Error(f"regular schedule: odd k ({k}) needs an even group size (got {g})")
    order = list(range(g))
    rng.shuffle(order)
    edges = {tuple(sorted((order[p], order[(p + d) % g]))) for p in range(g) for d in range(1, k // 2 + 1)}
    if k % 2:
        edges |= {tuple(sorted((order[p], order[p + g // 2]))) for p in range(g // 2)}
    return sorted(edges)  # type: ignore[arg-type]


SCHEDULES: dict[str, Callable[[int, int, random.Random], list[Edge]]] = {
    "anchor": anchor,
    "round_robin": round_robin,
    "regular": regular,
}
ADAPTIVE = ("swiss",)  # scheduled round by round from the verdicts so far (see `score_group`)


# -- scorings ----------------------------------------------------------------------------------------------


def winrate(g: int, outcomes: list[tuple[int, int, float | None]]) -> list[float | None]:
    won, played = [0.0] * g, [0] * g
    for i, j, s in outcomes:
        if s is None:
            continue
        for who, score in ((i, s), (j, 1 - s)):
            if who != ANCHOR:
                won[who] += score
                played[who] += 1
    return [won[r] / played[r] if played[r] else None for r in range(g)]


def bradley_terry(
    g: int, outcomes: list[tuple[int, int, float | None]], prior: float = 0.5
) -> list[float | None]:
    """Strengths by the MM algorithm (Hunter 2004) with `prior` virtual wins and losses of each rollout against
    an average one (finite strengths for an unbeaten rollout); the reward is the fitted probability of
    beating a rollout of strength 1 (the geometric mean), in (0, 1). An anchor plays as strength 1."""
    decided = [(i, j, s) for i, j, s in outcomes if s is not None]
    seen = {x for i, j, _ in decided for x in (i, j) if x != ANCHOR}
    p = [1.0] * g
    for _ in range(200):
        new = p[:]
        for r in seen:
            wins, denom = prior, 2 * prior / (p[r] + 1.0)
            for i, j, s in decided:
                if r not in (i, j):
                    continue
                other = j if r == i else i
                po = 1.0 if other == ANCHOR else p[other]
                wins += s if r == i else 1 - s
                denom += 1.0 / (p[r] + po)
            new[r] = wins / denom
        logs = [math.log(new[r]) for r in seen]
        mean = sum(logs) / len(logs) if logs else 0.0
        new = [x / math.exp(mean) for x in new]
        if max(abs(a - b) for a, b in zip(new, p, strict=True)) < 1e-9:
            p = new
            break
        p = new
    return [p[r] / (p[r] + 1.0) if r in seen else None for r in range(g)]


SCORINGS: dict[str, Callable[[int, list[tuple[int, int, float | None]]], list[float | None]]] = {
    "winrate": winrate,
    "bradley_terry": bradley_terry,
}


# -- judging -----------------------------------------------------------------------------------------------


def outcome(ab: Verdict, ba: Verdict) -> float | None:
    """i's score from (i as A: `ab`) and (j as A: `ba`): 1 / 0 when both orders agree, 0.5 for a tie or
    disagreeing orders, None when either order did not parse."""
    if ab is None or ba is None:
        return None
    first = {"A": 1.0, "B": 0.0, "tie": 0.5}[ab]
    second = {"B": 1.0, "A": 0.0, "tie": 0.5}[ba]
    return first if first == second else 0.5


def _judge(
    judge: PairJudge, prompt: str, texts: list[str], edges: list[Edge], anchor_text: str | None
) -> tuple[list[tuple[int, int, float | None]], int]:
    def text(i: int) -> str:
        return anchor_text if i == ANCHOR else texts[i]  # type: ignore[return-value]

    items = [it for i, j in edges for it in ((prompt, text(i), text(j)), (prompt, text(j), text(i)))]
    verdicts = judge(items) if items else []
    if len(verdicts) != len(items):
        raise J1Error(f"the judge answered {len(verdicts)} of {len(items)} comparisons")
    for v in verdicts:
        if v not in ("A", "B", "tie", None):
            raise J1Error(f"judge verdict {v!r}: expected 'A', 'B', 'tie' or None")
    out = [(i, j, outcome(verdicts[2 * n], verdicts[2 * n + 1])) for n, (i, j) in enumerate(edges)]
    return out, sum(v is None for v in verdicts)


def swiss_edges(g: int, scores: list[float], met: set[Edge], rng: random.Random) -> list[Edge]:
    """One round: rollouts ranked by running score (seeded ties), each paired with the next-ranked one it
    has not met; an odd one out sits the round."""
    ranked = sorted(range(g), key=lambda r: (-scores[r], rng.random()))
    free, edges = ranked[:], []
    while len(free) > 1:
        a = free.pop(0)
        b = next((x for x in free if tuple(sorted((a, x))) not in met), None)
        if b is None:
            continue
        free.remove(b)
        edges.append(tuple(sorted((a, b))))
    return edges  # type: ignore[return-value]


def score_group(
    judge: PairJudge,
    prompt: str,
    completions: Sequence[str],
    schedule: str = "round_robin",
    scoring: str = "winrate",
    k: int = 2,
    anchor_text: str | None = None,
    seed: int = 0,
) -> GroupResult:
    """Per-rollout rewards of one group (see the module docstring for the schedules, scorings and rules)."""
    check_names(schedule, scoring)
    if schedule == "anchor" and anchor_text is None:
        raise J1Error("the anchor schedule compares each rollout with an anchor completion: pass anchor_text")
    g, texts, rng = len(completions), list(completions), random.Random(seed)
    outcomes: list[tuple[int, int, float | None]] = []
    failures = 0
    if schedule == "swiss":
        met: set[Edge] = set()
        for _ in range(k):
            running = [s if s is not None else 0.5 for s in winrate(g, outcomes)]
            edges = swiss_edges(g, running, met, rng)
            if not edges:
                break
            met |= set(edges)
            done, failed = _judge(judge, prompt, texts, edges, None)
            outcomes += done
            failures += failed
    else:
        outcomes, failures = _judge(judge, prompt, texts, SCHEDULES[schedule](g, k, rng), anchor_text)
    rewards = SCORINGS[scoring](g, outcomes)
    dropped = sum(s is None for _, _, s in outcomes)
    return GroupResult(rewards, 2 * len(outcomes), len(outcomes), dropped, failures, outcomes)


def check_names(schedule: str, scoring: str) -> None:
    if schedule not in SCHEDULES and schedule not in ADAPTIVE:
        raise J1Error(f"unknown schedule {schedule!r}; valid: {', '.join([*SCHEDULES, *ADAPTIVE])}")
    if scoring not in SCORINGS:
        raise J1Error(f"unknown scoring {scoring!r}; valid: {', '.join(SCORINGS)}")


def max_calls(schedule: str, sizes: Sequence[int], k: int = 2) -> int:
    """Judge calls a batch of groups of these sizes takes at most (both orders of every comparison)."""
    per_group = {"anchor": lambda g: 2 * g, "round_robin": lambda g: g * (g - 1)}
    return sum(per_group.get(schedule, lambda g: g * k)(g) for g in sizes)


def score_batch(
    judge: PairJudge,
    prompts: Sequence[str],
    completions: Sequence[str],
    schedule: str = "round_robin",
    scoring: str = "winrate",
    k: int = 2,
    anchors: Sequence[str] | None = None,
    seed: int = 0,
) -> GroupResult:
    """A batch of rollouts: those of each prompt scored as one group by `score_group` (with the anchor
    schedule, against their own anchor); the counts are summed over the groups."""
    check_names(schedule, scoring)
    if schedule == "anchor" and (anchors is None or len(anchors) != len(prompts)):
        raise J1Error(
            "the anchor schedule compares each rollout with its anchor: pass one anchor per rollout"
        )
    groups: dict[tuple[str, str | None], list[int]] = {}
    for n, prompt in enumerate(prompts):
        groups.setdefault((prompt, anchors[n] if schedule == "anchor" else None), []).append(n)  # type: ignore[index]
    total = GroupResult([None] * len(prompts), 0, 0, 0, 0, groups=list(groups.values()))
    for g, ((prompt, anchor_text), rows) in enumerate(groups.items()):
        texts = [completions[n] for n in rows]
        result = score_group(judge, prompt, texts, schedule, scoring, k, anchor_text, seed + g)
        for n, r in zip(rows, result.rewards, strict=True):
            total.rewards[n] = r
        total.calls += result.calls
        total.comparisons += result.comparisons
        total.dropped += result.dropped
        total.parse_failures += result.parse_failures
    return total


def verifier_agreement(
    groups: Sequence[Sequence[int]], rewards: Sequence[float | None], correct: Sequence[bool | None]
) -> tuple[float | None, int]:
    """How often a judge's rewards order the rollouts of one prompt as a verifier does: over every pair of
    rollouts of a group that the verifier separates (one verified correct, one verified wrong, both given a
    reward), the share in which the correct one got the higher reward, a tie counting one half (the AUC of
    the rewards within groups; 0.5 is chance). Returns (agreement, pairs); agreement is None with no pair."""
    agree, pairs = 0.0, 0
    for rows in groups:
        right = [rewards[n] for n in rows if correct[n] is True and rewards[n] is not None]
        wrong = [rewards[n] for n in rows if correct[n] is False and rewards[n] is not None]
        for r in right:
            for w in wrong:
                pairs += 1
                agree += 1.0 if r > w else 0.5 if r == w else 0.0  # type: ignore[operator]
    return (agree / pairs if pairs else None), pairs


# -- judges ------------------------------------------------------------------------------------------------


def cached(judge: PairJudge, max_items: int = 100_000) -> PairJudge:
    """`judge` with identical (prompt, A, B) calls answered from memory (the same two rollouts meet again
    across rounds, steps or duplicate completions). Only verdicts are kept: a call that gave None (did not
    parse, failed or timed out) is asked again next time. For a deterministic (greedy) judge."""
    memo: dict[Item, Verdict] = {}

    def call(items: list[Item]) -> list[Verdict]:
        todo = list(dict.fromkeys(it for it in items if it not in memo))
        fresh = dict(zip(todo, judge(todo), strict=True)) if todo else {}
        for it, v in fresh.items():
            if v is not None:
                if len(memo) >= max_items:
                    memo.pop(next(iter(memo)))
                memo[it] = v
        return [memo[it] if it in memo else fresh[it] for it in items]

    call.memo = memo  # type: ignore[attr-defined]
    return call


def client_judge(client: Any, batch_size: int = 32, concurrency: int = 8, **options: Any) -> PairJudge:
    """A served j1 judge (`JudgeClient`) as a `PairJudge`: one order per item (the group scorer schedules
    both), `batch_size` items per request and up to `concurrency` requests in flight at once (so the
    server's engine batches them together); a request that fails after the client's retries counts as
    unparsed verdicts (None), never as a verdict."""
    import httpx

    from j1.client import JudgeAPIError

    if batch_size < 1 or concurrency < 1:
        raise J1Error(
            f"client_judge: need batch_size >= 1 and concurrency >= 1, got {batch_size}, {concurrency}"
        )

    def one(chunk: list[Item]) -> list[Verdict]:
        try:
            return [r.get("verdict") for r in client.pairwise_batch(chunk, both_orders=False, **options)]
        except (JudgeAPIError, httpx.HTTPError, OSError) as e:
            log.warning("judge request failed (%s): %d comparisons count as unparsed", e, len(chunk))
            return [None] * len(chunk)

    def call(items: list[Item]) -> list[Verdict]:
        from concurrent.futures import ThreadPoolExecutor

        chunks = [items[n : n + batch_size] for n in range(0, len(items), batch_size)]
        if len(chunks) <= 1:
            return [v for chunk in chunks for v in one(chunk)]
        with ThreadPoolExecutor(min(concurrency, len(chunks))) as pool:
            return [v for verdicts in pool.map(one, chunks) for v in verdicts]

    return call


def backend_judge(backend: Any, fmt: str = "pairwise_verdict", max_tokens: int = 1024) -> PairJudge:
    """A judge model behind any j1 backend (`j1.backends.make_backend`) as a `PairJudge`: `j1 eval`'s
    `ModelJudge` with one greedy output per item in `fmt`, parsed strictly (an output that does not parse
    is None). For a judge run in the same process as the policy's trainer, or to measure what the server
    adds."""
    from j1.eval.judges import ModelJudge, Task

    judge = ModelJudge(backend, fmt, samples=1, temperature=0.0, max_tokens=max_tokens)

    def call(items: list[Item]) -> list[Verdict]:
        decisions = judge.decide([Task(p, a, b) for p, a, b in items]) if items else []
        return [d.verdict for d in decisions]

    return call


def group_reward(
    judge: PairJudge,
    schedule: str = "round_robin",
    scoring: str = "winrate",
    k: int = 2,
    anchor_key: str | None = None,
    seed: int = 0,
    verifier: str | None = None,
    reference_key: str = "reference_answer",
) -> Callable[..., list[float | None]]:
    """A TRL reward function `f(prompts, completions, **columns)`: the rollouts of each prompt in the batch
    (TRL's G generations) scored as one group by `score_batch`; `anchor_key` names the dataset column
    holding the anchor completion of the `anchor` schedule. Logs `judge/calls_per_rollout`,
    `judge/parse_failure_rate`, `judge/dropped_comparisons` and `judge/seconds` (the judge's wall time for
    the batch) when TRL passes `log_metric`.

    `verifier` (a j1 verifier name, e.g. "rule") measures the judge where answers can be checked: rows whose
    `reference_key` column holds a reference are verified, and `judge/verifier_agreement` (see
    `verifier_agreement`), `judge/verifier_pairs` and `verifier/correct_rate` (the share of checked rollouts
    that are right: the policy's progress, where the group reward's mean is 0.5 by design) are logged. The
    verdicts are only measured; the reward is the judge's alone."""
    from j1.client import as_text

    if schedule == "anchor" and anchor_key is None:
        raise J1Error("group_reward(schedule='anchor') needs anchor_key: the column holding the anchor")
    check_names(schedule, scoring)
    if verifier is not None:
        from j1.verifiers import check_verifier

        check_verifier(verifier, {})
    batches = [0]
    verifiers: list[Any] = []  # started on first use, kept for the run

    def reward(prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float | None]:
        if len(prompts) != len(completions):
            raise J1Error(f"group_reward: {len(prompts)} prompts but {len(completions)} completions")
        anchors = None
        if anchor_key is not None:
            if anchor_key not in columns:
                raise J1Error(
                    f"group_reward: no column {anchor_key!r} (columns: {', '.join(sorted(columns))})"
                )
            anchors = [as_text(a, ("assistant", "user")) for a in columns[anchor_key]]
        batches[0] += 1
        texts = [as_text(p, ("system", "user")) for p in prompts]
        answers = [as_text(c, ("assistant",)) for c in completions]
        start = time.perf_counter()
        result = score_batch(judge, texts, answers, schedule, scoring, k, anchors, seed + 1000 * batches[0])
        seconds = time.perf_counter() - start
        log_metric = columns.get("log_metric")
        if callable(log_metric) and prompts:
            log_metric("judge/calls_per_rollout", result.calls / len(prompts))
            log_metric("judge/parse_failure_rate", result.parse_failure_rate)
            log_metric("judge/dropped_comparisons", float(result.dropped))
            log_metric("judge/seconds", seconds)
            if verifier is not None:
                correct = _verified(texts, answers, columns.get(reference_key))
                checked = [c for c in correct if c is not None]
                if checked:  # the policy's progress where answers can be checked (the group reward's mean
                    log_metric("verifier/correct_rate", sum(checked) / len(checked))  # is 0.5 by design)
                agreement, pairs = verifier_agreement(result.groups, result.rewards, correct)
                log_metric("judge/verifier_pairs", float(pairs))
                if agreement is not None:
                    log_metric("judge/verifier_agreement", agreement)
        return result.rewards

    def _verified(texts: list[str], answers: list[str], refs: Sequence[Any] | None) -> list[bool | None]:
        """The verifier's verdict on each rollout whose row has a reference answer (None elsewhere)."""
        from j1.verifiers import VerifyItem, make_verifier

        correct: list[bool | None] = [None] * len(texts)
        rows = [n for n, ref in enumerate(refs or []) if isinstance(ref, str) and ref.strip()]
        if rows:
            if not verifiers:  # a trainer's process is big (model, engine): spawn small rule workers, no fork
                options = {"workers": 2, "start_method": "spawn"} if verifier == "rule" else {}
                verifiers.append(make_verifier(verifier, **options))  # type: ignore[arg-type]
            items = [VerifyItem(texts[n], answers[n], refs[n]) for n in rows]  # type: ignore[index]
            for n, v in zip(rows, verifiers[0].verify(items), strict=True):
                correct[n] = v.correct
        return correct

    reward.__name__ = reward.__qualname__ = f"judge_group_{schedule}_{scoring}"
    return reward
