"""Group rewards from pairwise verdicts, with scripted judges: rankings, budgets, the tie and failure rules."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from j1 import J1Error
from j1.group import (
    Item,
    cached,
    client_judge,
    group_reward,
    outcome,
    regular,
    score_group,
    verifier_agreement,
)


def value(text: str) -> int:
    return int(re.findall(r"-?\d+", text)[-1])


class Oracle:
    """Prefers the larger number; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, items: list[Item]) -> list[str | None]:
        self.calls += len(items)
        out = []
        for _, a, b in items:
            out.append("A" if value(a) > value(b) else "B" if value(b) > value(a) else "tie")
        return out


def always(verdict: str | None):
    return lambda items: [verdict] * len(items)


ROLLOUTS = ["x = 5", "x = 3", "x = 9", "x = 1"]


def test_outcome_rule_both_orders() -> None:
    assert outcome("A", "B") == 1.0 and outcome("B", "A") == 0.0
    assert outcome("A", "A") == 0.5 and outcome("B", "B") == 0.5  # position bias: a tie, not a win
    assert outcome("tie", "B") == 0.5 and outcome(None, "B") is None and outcome("A", None) is None


@pytest.mark.parametrize("scoring", ["winrate", "bradley_terry"])
def test_round_robin_ranks_like_the_oracle_and_costs_g_choose_2_times_2(scoring: str) -> None:
    judge = Oracle()
    r = score_group(judge, "Q", ROLLOUTS, "round_robin", scoring)
    assert judge.calls == r.calls == 12 and r.comparisons == 6 and r.dropped == 0
    assert sorted(range(4), key=lambda i: r.rewards[i]) == [3, 1, 0, 2]  # 1 < 3 < 5 < 9
    if scoring == "winrate":
        assert r.rewards == pytest.approx([2 / 3, 1 / 3, 1.0, 0.0])
    else:
        assert all(0 < x < 1 for x in r.rewards)


@pytest.mark.parametrize(("g", "k"), [(6, 2), (6, 3), (8, 4), (5, 2)])
def test_regular_schedule_gives_every_rollout_k_comparisons(g: int, k: int) -> None:
    import random

    edges = regular(g, k, random.Random(1))
    degree = Counter(x for e in edges for x in e)
    assert len(edges) == g * k // 2 and set(degree.values()) == {k} and len(set(edges)) == len(edges)
    judge = Oracle()
    r = score_group(judge, "Q", [f"v {i}" for i in range(g)], "regular", k=k, seed=3)
    assert judge.calls == g * k and r.rewards[g - 1] == 1.0 and r.rewards[0] == 0.0


def test_regular_schedule_refuses_what_cannot_be_regular() -> None:
    with pytest.raises(J1Error, match="even group"):
        score_group(Oracle(), "Q", ["1", "2", "3", "4", "5"], "regular", k=3)
    with pytest.raises(J1Error, match="k must be"):
        score_group(Oracle(), "Q", ["1", "2"], "regular", k=2)


def test_swiss_rounds_and_anchor_budget() -> None:
    judge = Oracle()
    r = score_group(judge, "Q", [f"v {i}" for i in range(8)], "swiss", k=3, seed=0)
    assert r.comparisons == 12 and judge.calls == 24  # 3 rounds x 4 games
    pairs = [(i, j) for i, j, _ in r.outcomes]
    assert len(set(pairs)) == len(pairs)  # no rematch
    assert r.rewards[7] == 1.0 and r.rewards[0] == 0.0
    judge = Oracle()
    r = score_group(judge, "Q", ROLLOUTS, "anchor", anchor_text="x = 4")
    assert judge.calls == 8 and r.rewards == [1.0, 0.0, 1.0, 0.0]
    with pytest.raises(J1Error, match="anchor_text"):
        score_group(judge, "Q", ROLLOUTS, "anchor")


@pytest.mark.parametrize("verdict", ["A", "B", "tie"])
def test_a_position_biased_or_undecided_judge_gives_ties_not_wins(verdict: str) -> None:
    for scoring in ("winrate", "bradley_terry"):
        r = score_group(always(verdict), "Q", ROLLOUTS, "round_robin", scoring)
        assert r.rewards == pytest.approx([0.5] * 4)


def test_parse_failures_are_dropped_never_wins_or_losses() -> None:
    def flaky(items: list[Item]) -> list[str | None]:
        return [None if "9" in a + b else v for (_, a, b), v in zip(items, Oracle()(items), strict=True)]

    r = score_group(flaky, "Q", ROLLOUTS, "round_robin")
    assert r.rewards[2] is None  # every comparison of "9" failed: no reward, not a loss
    assert r.rewards[0] == 1.0 and r.rewards[1] == 0.5 and r.rewards[3] == 0.0  # among 5, 3, 1
    assert r.dropped == 3 and r.parse_failures == 6 and r.parse_failure_rate == 0.5
    r = score_group(always(None), "Q", ROLLOUTS, "round_robin", "bradley_terry")
    assert r.rewards == [None] * 4 and r.parse_failure_rate == 1.0


def test_bad_verdicts_and_short_answers_are_errors() -> None:
    with pytest.raises(J1Error, match="expected 'A', 'B', 'tie' or None"):
        score_group(always("yes"), "Q", ROLLOUTS)
    with pytest.raises(J1Error, match="answered 0 of 12"):
        score_group(lambda items: [], "Q", ROLLOUTS)


def test_cache_answers_identical_calls_from_memory() -> None:
    judge = Oracle()
    memo = cached(judge)
    first = score_group(memo, "Q", ROLLOUTS).rewards
    assert judge.calls == 12
    assert score_group(memo, "Q", ROLLOUTS).rewards == first and judge.calls == 12
    score_group(memo, "Q", [*ROLLOUTS, "x = 7"])
    assert judge.calls == 12 + 8  # only the new rollout's comparisons


def test_trl_reward_groups_by_prompt_and_logs_the_cost() -> None:
    logged: dict[str, float] = {}
    reward = group_reward(Oracle(), schedule="round_robin")
    prompts = ["P1"] * 4 + [[{"role": "user", "content": "P2"}]] * 2
    completions = ROLLOUTS + [
        [{"role": "assistant", "content": "7"}],
        [{"role": "assistant", "content": "8"}],
    ]
    out = reward(prompts, completions, log_metric=lambda k, v: logged.__setitem__(k, v))
    assert out == pytest.approx([2 / 3, 1 / 3, 1.0, 0.0, 0.0, 1.0])
    assert logged["judge/calls_per_rollout"] == pytest.approx((12 + 2) / 6)
    assert logged["judge/parse_failure_rate"] == 0.0
    anchored = group_reward(Oracle(), schedule="anchor", anchor_key="reference")
    assert anchored(["P"] * 2, ["4", "6"], reference=["5", "5"]) == [0.0, 1.0]
    with pytest.raises(J1Error, match="anchor_key"):
        group_reward(Oracle(), schedule="anchor")


def test_verifier_agreement_is_the_within_group_auc_of_the_rewards() -> None:
    groups = [[0, 1, 2], [3, 4]]
    correct = [True, False, False, True, None]
    # group 1: the correct rollout beats one wrong one and ties the other; group 2 separates nothing
    assert verifier_agreement(groups, [0.8, 0.2, 0.8, 0.1, 0.9], correct) == (0.75, 2)
    assert verifier_agreement(groups, [0.0, 1.0, 1.0, 0.5, 0.5], correct) == (0.0, 2)
    assert verifier_agreement(groups, [None, 1.0, 1.0, 0.5, 0.5], correct) == (None, 0)  # unrewarded: skipped


def test_group_reward_measures_the_judge_against_the_rule_verifier() -> None:
    """The Oracle prefers larger numbers: on "6 x 7" it ranks 56 > 42 > 41 (wrong, right, wrong), so of the
    two pairs the verifier separates it orders one as the verifier does; the chat row has no reference."""
    logged: dict[str, float] = {}
    reward = group_reward(Oracle(), schedule="round_robin", verifier="rule")
    prompts = ["What is 6 x 7?"] * 3 + ["Write a haiku"] * 2
    completions = ["The answer is 56.", "The answer is 42.", "The answer is 41.", "a 1", "b 2"]
    out = reward(
        prompts,
        completions,
        reference_answer=["42", "42", "42", None, None],
        log_metric=lambda k, v: logged.__setitem__(k, v),
    )
    assert out == pytest.approx([1.0, 0.5, 0.0, 0.0, 1.0])  # the reward is the judge's alone
    assert logged["judge/verifier_pairs"] == 2 and logged["judge/verifier_agreement"] == 0.5
    assert logged["verifier/correct_rate"] == pytest.approx(1 / 3)
    assert logged["judge/seconds"] >= 0
    with pytest.raises(J1Error, match="unknown verifier"):
        group_reward(Oracle(), verifier="oracle")


def test_client_judge_turns_failed_requests_into_unparsed_verdicts() -> None:
    from j1.client import JudgeAPIError

    class Down:
        def pairwise_batch(self, items, **options):
            raise JudgeAPIError(503, "engine down", "http://judge")

    class Up:
        def __init__(self) -> None:
            self.options: list[dict] = []

        def pairwise_batch(self, items, **options):
            self.options.append(options)
            return [{"verdict": v} for v in Oracle()(list(items))]

    r = score_group(client_judge(Down()), "Q", ROLLOUTS)
    assert r.rewards == [None] * 4 and r.parse_failure_rate == 1.0
    up = Up()
    assert score_group(client_judge(up, batch_size=5), "Q", ROLLOUTS).rewards[2] == 1.0
    assert len(up.options) == 3 and all(o == {"both_orders": False} for o in up.options)


def test_client_judge_sends_its_requests_concurrently_in_order() -> None:
    import threading
    import time

    class Slow:
        """Each request waits (up to 5 s) until `want` requests are in flight together."""

        def __init__(self, want: int) -> None:
            self.want, self.active, self.peak = want, 0, 0
            self.cond = threading.Condition()

        def pairwise_batch(self, items, **options):
            with self.cond:
                self.active += 1
                self.peak = max(self.peak, self.active)
                self.cond.notify_all()
                self.cond.wait_for(lambda: self.peak >= self.want, timeout=5)
            time.sleep(0.01)
            with self.cond:
                self.active -= 1
            return [{"verdict": v} for v in Oracle()(list(items))]

    items = [("Q", a, b) for a in ROLLOUTS for b in ROLLOUTS if a != b]  # 12 items
    slow = Slow(want=3)
    assert client_judge(slow, batch_size=2, concurrency=3)(items) == Oracle()(items)
    assert slow.peak == 3  # 6 requests, 3 at a time, never more
    serial = Slow(want=1)
    assert client_judge(serial, batch_size=2, concurrency=1)(items) == Oracle()(items) and serial.peak == 1
    with pytest.raises(J1Error, match="concurrency >= 1"):
        client_judge(serial, concurrency=0)


def test_backend_judge_prompts_in_the_format_and_parses_strictly() -> None:
    from j1.backends.base import Generation, Sample
    from j1.group import backend_judge

    class Scripted:  # prefers the response that says CORRECT; anything else does not parse
        def __init__(self) -> None:
            self.params = None

        def generate(self, convs, params):  # noqa: ANN001, ANN201
            self.params = params
            out = []
            for conv in convs:
                text = conv[-1]["content"]
                a = text.split("[The Start of Assistant A's Answer]")[1].split("[The End")[0]
                verdict = "<think>t</think><answer>[[A]]</answer>" if "CORRECT" in a else "no verdict"
                out.append(Generation("p", 1, [Sample(verdict, 3, "stop")]))
            return out

    backend = Scripted()
    judge = backend_judge(backend, "pairwise_verdict", max_tokens=16)
    assert judge([("q", "CORRECT 4", "5"), ("q", "5", "CORRECT 4")]) == ["A", None]
    assert backend.params.temperature == 0.0 and backend.params.max_tokens == 16
    assert judge([]) == []
