"""j1 train: judge examples, the held-out split, rewards (table-driven), the pair sampler, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from j1 import J1Error
from j1.pairs import Pair
from j1.train.examples import (
    TokenBudget,
    assign_formats,
    build_examples,
    groups_of,
    load_pairs,
    render_group,
    split_heldout,
)
from j1.train.rewards import (
    REWARDS,
    get_reward,
    pointwise_pair,
    position_consistency,
    reward_functions,
    verdict,
)
from j1.train.sampler import PairGroupSampler

T = "<think>compare</think>"
A, B = f"{T}<answer>[[A]]</answer>", f"{T}<answer>[[B]]</answer>"


def make_pairs(n: int, source: str = "math") -> list[Pair]:
    return [Pair(source, f"What is {i} + 1?", f"{i} + 1 = {i + 1}.", f"{i} + 1 = {i + 2}.") for i in range(n)]


def write_pairs(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ---------------------------------------------------------------- examples


def test_pairwise_group_has_both_orders_with_labels() -> None:
    p = make_pairs(1)[0]
    ab, ba = render_group(p, "pairwise_verdict")
    assert (ab.order, ab.label, ba.order, ba.label) == ("ab", "A", "ba", "B")
    # chosen is shown as A in `ab` and as B in `ba`
    assert ab.prompt.index(p.chosen) < ab.prompt.index(p.rejected)
    assert ba.prompt.index(p.rejected) < ba.prompt.index(p.chosen)
    assert ab.group == ba.group and ab.row()["prompt"][0]["role"] == "user"


def test_pointwise_group_has_both_roles() -> None:
    p = make_pairs(1)[0]
    c, r = render_group(p, "pointwise")
    assert (c.role, r.role, c.order, c.label) == ("chosen", "rejected", "", "")
    assert p.chosen in c.prompt and p.rejected not in c.prompt and p.rejected in r.prompt


def test_heldout_split_is_by_id_seeded_and_order_independent() -> None:
    pairs = make_pairs(40)
    train, held = split_heldout(pairs, fraction=0.25, seed=3)
    assert len(held) == 10 and len(train) == 30 and not {p.id for p in train} & {p.id for p in held}
    _, held_rev = split_heldout(list(reversed(pairs)), fraction=0.25, seed=3)
    assert {p.id for p in held_rev} == {p.id for p in held}
    _, held_other = split_heldout(pairs, fraction=0.25, seed=4)
    assert {p.id for p in held_other} != {p.id for p in held}
    with pytest.raises(J1Error, match="nothing to train"):
        split_heldout(pairs, size=40)


def test_heldout_split_keeps_all_pairs_of_a_prompt_on_one_side() -> None:
    pairs = [
        Pair("math", f"What is {i} + 1?", f"{i} + 1 = {i + 1}.", f"{i} + 1 = {i + k}.")
        for i in range(20)
        for k in (2, 3, 4)
    ]
    train, held = split_heldout(pairs, size=10, seed=0)
    assert len(held) == 9 and len(train) == 51  # whole prompts of 3 pairs: 3 fit in 10
    assert not {p.prompt for p in train} & {p.prompt for p in held}


def test_multitask_mixture_assigns_each_pair_one_format_by_weight() -> None:
    pairs = make_pairs(10)
    assigned = assign_formats(pairs, {"pairwise_verdict": 3, "pointwise": 1}, seed=0)
    formats = [f for _, f in assigned]
    assert sorted({p.id for p, _ in assigned}) == sorted(p.id for p in pairs)
    assert (
        formats.count("pairwise_verdict") == 8 and formats.count("pointwise") == 2
    )  # 7.5/2.5, largest remainder
    examples = build_examples(assigned)
    assert len(examples) == 20 and len(groups_of([e.row() for e in examples])) == 10
    with pytest.raises(J1Error, match="unknown judge format"):
        assign_formats(pairs, {"nope": 1.0})


@pytest.mark.parametrize(
    ("row", "error"),
    [
        ({"prompt": "q", "chosen": "same", "rejected": " same "}, "identical"),
        ({"prompt": "q", "chosen": "", "rejected": "b"}, "'chosen' is empty"),
        ({"prompt": "   ", "chosen": "a", "rejected": "b"}, "'prompt' is empty"),
        ({"prompt": "q", "chosen": "a"}, "'rejected' is missing"),
        ({"prompt": "q", "chosen": "a", "rejected": 3}, "'rejected' is missing or not a string"),
    ],
)
def test_bad_pairs_fail_with_file_and_line(tmp_path: Path, row: dict, error: str) -> None:
    good = {"prompt": "q", "chosen": "a", "rejected": "b"}
    path = write_pairs(tmp_path / "p.jsonl", [good, row])
    with pytest.raises(J1Error, match=f"p.jsonl:2: .*{error}"):
        load_pairs(path)
    counts: dict = {}
    assert len(load_pairs(path, skip_bad=True, counts=counts)) == 1
    assert counts["bad_pairs"] == 1


def test_duplicate_ids_and_missing_file(tmp_path: Path) -> None:
    row = {"id": "x", "prompt": "q", "chosen": "a", "rejected": "b"}
    with pytest.raises(J1Error, match="duplicate pair id 'x'"):
        load_pairs(write_pairs(tmp_path / "p.jsonl", [row, row]))
    with pytest.raises(J1Error, match="j1 synth"):
        load_pairs(tmp_path / "none.jsonl")


def test_overlong_pairs_dropped_truncated_or_refused(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    budget = TokenBudget(AutoTokenizer.from_pretrained(tiny_model_dir))
    long = Pair("chat", "Write a haiku about rain.", "Soft rain on the roof. " * 80, "Rain is water. " * 5)
    short = make_pairs(1)[0]
    limit = max(budget.prompt_tokens(e.prompt) for e in render_group(short, "pairwise_verdict")) + 200
    assigned = [(short, "pairwise_verdict"), (long, "pairwise_verdict")]
    counts: dict = {}
    assert len(build_examples(assigned, budget, limit, "drop", counts)) == 2
    assert counts["overlong_dropped"] == 1 and counts["overlong_truncated"] == 0
    counts = {}
    examples = build_examples(assigned, budget, limit, "truncate", counts)
    assert counts["overlong_truncated"] == 1 and len(examples) == 4
    assert all(budget.prompt_tokens(e.prompt) <= limit for e in examples)
    cut = examples[2].prompt
    assert "[...]" in cut and long.rejected.strip() in cut  # the longer response is cut first
    with pytest.raises(J1Error, match="max_prompt_tokens"):
        build_examples(assigned, budget, limit, "error")
    with pytest.raises(J1Error, match="no judge examples left"):
        build_examples([(long, "pairwise_verdict")], budget, limit, "drop")


# ---------------------------------------------------------------- rewards


def cols(orders: list[str], pair: list[str] | None = None, fmt: str = "pairwise_verdict") -> dict:
    pair = pair or ["p"] * len(orders)
    labels = {"ab": "A", "ba": "B"}
    return {
        "pair_id": pair,
        "format": [fmt] * len(orders),
        "order": orders,
        "label": [labels[o] for o in orders],
        "role": [""] * len(orders),
    }


@pytest.mark.parametrize(
    ("outputs", "orders", "want_verdict", "want_consistency"),
    [
        ([A, B], ["ab", "ba"], [1, 1], [1, 1]),  # right in both orders
        ([A, A], ["ab", "ba"], [1, 0], [0, 0]),  # always "A": position bias, not consistent
        ([B, A], ["ab", "ba"], [0, 0], [0, 0]),
        (["[[A]]", B], ["ab", "ba"], [0, 1], [0, 0]),  # unparseable: 0, never a tie
        # G=2: rollout i of ab is paired with rollout i of ba (batch order)
        ([A, B, B, B], ["ab", "ab", "ba", "ba"], [1, 0, 1, 1], [1, 0, 1, 0]),
        ([A, A, B, A], ["ab", "ab", "ba", "ba"], [1, 1, 1, 0], [1, 0, 1, 0]),
    ],
)
def test_verdict_and_consistency(outputs, orders, want_verdict, want_consistency) -> None:
    c = cols(orders)
    assert verdict([None] * len(outputs), outputs, **c) == want_verdict
    assert position_consistency([None] * len(outputs), outputs, **c) == want_consistency


def test_consistency_pairs_within_pair_ids_and_logs_metrics() -> None:
    logged: dict = {}
    c = cols(["ab", "ab", "ba", "ba"], ["p", "q", "q", "p"])
    out = position_consistency([None] * 4, [A, A, A, B], log_metric=logged.__setitem__, **c)
    assert out == [1, 0, 0, 1]
    assert logged["judge/consistent_accuracy"] == 0.5 and logged["judge/flip_rate"] == 0.5
    verdict([None] * 4, [A, A, A, B], log_metric=logged.__setitem__, **c)
    assert logged["judge/accuracy_ab"] == 1.0 and logged["judge/accuracy_ba"] == 0.5


def test_consistency_refuses_a_missing_partner() -> None:
    with pytest.raises(J1Error, match="both must be generated together"):
        position_consistency([None] * 3, [A, A, B], **cols(["ab", "ab", "ba"]))


def test_pointwise_pair_reward_and_mixed_rows() -> None:
    s = "<think>x</think><score>{}</score>"
    rows = {
        "pair_id": ["p", "p", "p", "p", "q", "q"],
        "format": ["pointwise"] * 4 + ["pairwise_verdict"] * 2,
        "role": ["chosen", "chosen", "rejected", "rejected", "", ""],
        "order": ["", "", "", "", "ab", "ba"],
        "label": ["", "", "", "", "A", "B"],
    }
    outs = [s.format(8), s.format(5), s.format(3), s.format(5), A, B]  # chosen 8>3 wins; 5=5 tie loses
    assert pointwise_pair([None] * 6, outs, **rows) == [1, 0, 1, 0, None, None]
    assert verdict([None] * 6, outs, **rows) == [None, None, None, None, 1, 1]
    assert position_consistency([None] * 6, outs, **rows) == [None, None, None, None, 1, 1]
    assert get_reward("format")([None] * 6, [*outs[:5], "[[B]]"], **rows) == [1, 1, 1, 1, 1, 0]


def test_conversational_completions_are_read() -> None:
    msgs = [[{"role": "assistant", "content": A}], [{"role": "assistant", "content": B}]]
    assert verdict([None, None], msgs, **cols(["ab", "ba"])) == [1, 1]


def test_reward_registry_names_and_weights() -> None:
    assert set(REWARDS) == {"verdict", "position_consistency", "pointwise_pair", "format"}
    with pytest.raises(J1Error, match="valid rewards: verdict, position_consistency"):
        get_reward("accuracy")
    funcs, weights = reward_functions({"verdict": 1, "position_consistency": 0.5}, {"pairwise"})
    assert [f.__name__ for f in funcs] == ["verdict", "position_consistency"] and weights == [1.0, 0.5]
    with pytest.raises(J1Error, match="pointwise examples of this run get no judging reward"):
        reward_functions({"verdict": 1}, {"pairwise", "pointwise"})
    with pytest.raises(J1Error, match=">= 0"):
        reward_functions({"verdict": -1}, {"pairwise"})


def test_rewards_and_eval_stats_are_one_rule() -> None:
    """The same outputs scored as GRPO rewards and as `j1 eval` statistics give the same numbers."""
    from j1.eval.benchmarks import generic_stats
    from j1.eval.benchmarks.base import Comparison, EvalItem, ItemResult
    from j1.formats import get_format
    from j1.scoring import preference

    bad = "<think>unsure</think> no verdict"
    outputs = {"p": (A, B), "q": (A, A), "r": (B, A), "s": (bad, B), "t": (B, B)}  # per pair: ab, ba
    ids = list(outputs)
    c = cols(["ab", "ba"] * len(ids), [p for p in ids for _ in range(2)])
    texts = [t for p in ids for t in outputs[p]]
    v = verdict([""] * len(texts), texts, **c)
    pc = position_consistency([""] * len(texts), texts, **c)
    results = []
    for p in ids:
        parsed = [get_format("pairwise_verdict").parse(t) for t in outputs[p]]
        prefs = {
            o: preference(o, j.verdict if j.parse_ok else None)
            for o, j in zip(("ab", "ba"), parsed, strict=True)
        }
        item = EvalItem(id=p, benchmark="pairs", subset="x", prompt="", chosen="c", rejected=["r"])
        results.append(ItemResult(item=item, comparisons=[Comparison(prefs=prefs)], official_order="ab"))
    stats = generic_stats(results)
    n = len(ids)
    assert stats["consistent_accuracy"] == 100 * sum(pc[::2]) / n == 20.0
    assert stats["per_order"]["ab"] == 100 * sum(v[::2]) / n == 40.0
    assert stats["per_order"]["ba"] == 100 * sum(v[1::2]) / n == 60.0
    assert stats["flip_rate"] == 40.0  # q and t: the same letter in both orders = opposite responses
    logged: dict[str, float] = {}
    position_consistency([""] * len(texts), texts, **c, log_metric=logged.__setitem__)
    assert logged["judge/flip_rate"] == 0.4


# ---------------------------------------------------------------- sampler


def test_sampler_keeps_groups_in_one_generation_batch() -> None:
    rows = [e.row() for e in build_examples(assign_formats(make_pairs(7), {"pairwise_verdict": 1}))]
    groups = groups_of(rows)
    s = PairGroupSampler(groups, mini_repeat_count=3, batch_size=4, repeat_count=2, seed=1)
    stream = list(s)
    assert len(stream) == len(s) == 3 * 4 * 3 * 2  # 7 pairs -> 3 full batches of 2 pairs
    batch = 4 * 3
    for k in range(0, len(stream), batch):
        chunk = stream[k : k + batch]
        assert chunk[:3] == [chunk[0]] * 3  # each prompt G times in a row
        ids = [rows[i]["pair_id"] for i in chunk]
        for pid in set(ids):
            sides = [rows[i]["order"] for i in chunk if rows[i]["pair_id"] == pid]
            assert sides == ["ab"] * 3 + ["ba"] * 3
    first = s.batches()
    s.set_epoch(1)
    assert s.batches() != first
    s.set_epoch(0)
    assert s.batches() == first  # the order depends only on (seed, epoch): resume-safe
    with pytest.raises(J1Error, match="multiple of 2"):
        PairGroupSampler(groups, mini_repeat_count=3, batch_size=3)


# ---------------------------------------------------------------- traces


@pytest.mark.parametrize(
    "fmt", ["pairwise_verdict", "pairwise_scores", "pairwise_scores_verdict", "pointwise"]
)
def test_template_traces_parse_and_earn_the_reward(fmt: str) -> None:
    """Every format's templated trace parses with the format's own parser; with the `correct` policy the
    rewards score it 1 (the same functions mark sampled traces right or wrong)."""
    from j1.train.traces import mark_samples, template_traces

    pairs = make_pairs(3)
    examples = build_examples(assign_formats(pairs, {fmt: 1}))
    by_id = {p.id: p for p in pairs}
    traces = template_traces(examples, by_id, "correct")
    assert all(t.startswith("<think>") for t in traces)
    assert mark_samples(examples, [[t] for t in traces]) == [[True]] * len(examples)
    if fmt.startswith("pairwise"):
        first = by_id[examples[0].pair_id]  # an `ab` example: chosen shown as A
        said = f"Response A says: {first.chosen.split()[-1]} Response B says: {first.rejected.split()[-1]}"
        assert said in traces[0]  # what each response says (its final answer), then the decision
    coins = [template_traces(examples, by_id, "random_pair", seed=s) for s in range(4)]
    assert any(c != traces for c in coins)  # a coin per pair (3 pairs): some seed decides against a label
    assert template_traces(examples, by_id, "random_pair", seed=3) == coins[3]  # seeded
    with pytest.raises(J1Error, match="label_policy"):
        template_traces(examples, by_id, "flip")


STEP = r"Response ([AB]) says (\S+), which (matches|does not match) my answer\."


def test_own_answer_response_checks_each_response_and_decides_for_the_first_that_matches() -> None:
    """`own_answer="response"`: the trace opens with the answer of the response the policy decides for,
    checks A, then (if A does not match) B, and decides for the one that matches. Under `correct` that is
    the label; under `random_pair` right and wrong decisions and both letters occur (no label read)."""
    import re

    from j1.train.traces import template_traces

    pairs = make_pairs(40)
    examples = build_examples(assign_formats(pairs, {"pairwise_verdict_short": 1}))
    by_id = {p.id: p for p in pairs}
    combos = set()
    for policy in ("correct", "random_pair"):
        traces = template_traces(examples, by_id, policy, seed=5, own_answer="response")
        for e, t in zip(examples, traces, strict=True):
            mine = re.match(r"<think>My own answer: (\S+)\. Response A says", t).group(1)
            checked = re.findall(STEP, t)
            verdict = re.search(r"\[\[([AB])\]\]", t).group(1)
            assert checked[-1] == (verdict, mine, "matches") and len(checked) == "AB".index(verdict) + 1
            assert f"Response {verdict} answers the question better." in t
            if policy == "correct":
                assert verdict == e.label
            else:
                combos.add((verdict == e.label, verdict))
    assert combos == {(True, "A"), (True, "B"), (False, "A"), (False, "B")}
    chat = make_pairs(2, source="chat")
    chat_examples = build_examples(assign_formats(chat, {"pairwise_verdict": 1}))
    chat_traces = template_traces(
        chat_examples, {p.id: p for p in chat}, "random_pair", own_answer="response"
    )
    assert not any("My own answer" in t for t in chat_traces)
    with pytest.raises(J1Error, match="own_answer 'first'"):
        template_traces(examples, by_id, "correct", own_answer="first")


def test_own_answer_model_decides_for_the_response_that_matches_the_models_answer() -> None:
    """`own_answer="model"` (the judge's own solutions): the trace opens with that answer, checks A then B
    against it, and decides for the first that matches, in both orders, whatever the label; where neither
    does it says so and the random_pair coin decides, the same in both orders."""
    import re

    from j1.train.traces import template_traces

    pairs = make_pairs(30)
    examples = build_examples(assign_formats(pairs, {"pairwise_verdict_short": 1}))
    by_id = {p.id: p for p in pairs}
    # questions 0-9: the judge's answer is the chosen one's; 10-19 the rejected one's; 20-29 neither
    own = {p.prompt: str(i + 1 if i < 10 else i + 2 if i < 20 else 999) for i, p in enumerate(pairs)}
    traces = template_traces(examples, by_id, "random_pair", seed=4, own_answer="model", own_answers=own)
    sides: dict[int, set[str]] = {}
    for e, t in zip(examples, traces, strict=True):
        p = by_id[e.pair_id]
        i = int(p.prompt.split()[2])
        assert t.startswith(f"<think>My own answer: {own[p.prompt]}. Response A says")
        shown = {"A": p.chosen, "B": p.rejected} if e.order == "ab" else {"A": p.rejected, "B": p.chosen}
        checked = re.findall(STEP, t)
        assert [c[0] for c in checked] == ["A", "B"][: len(checked)]
        for side, said, result in checked:
            assert said == shown[side].split()[-1].rstrip(".")
            assert (result == "matches") == (said == own[p.prompt])
        verdict = re.search(r"\[\[([AB])\]\]", t).group(1)
        if i < 20:
            assert checked[-1] == (verdict, own[p.prompt], "matches") and "Neither" not in t
        else:
            assert len(checked) == 2 and "Neither response matches my answer." in t
        sides.setdefault(i, set()).add("chosen" if verdict == e.label else "rejected")
    assert all(len(s) == 1 for s in sides.values())  # one side per pair, in both orders
    assert all(sides[i] == {"chosen"} for i in range(10))
    assert all(sides[i] == {"rejected"} for i in range(10, 20))
    assert {next(iter(sides[i])) for i in range(20, 30)} == {"chosen", "rejected"}  # the coin
    with pytest.raises(J1Error, match="own answers"):
        template_traces(examples, by_id, "random_pair", own_answer="model")


@pytest.mark.parametrize(
    ("question", "expression"),
    [
        ("What is 14 times 4?", "14 times 4"),
        ("What is 46 + 27?", "46 + 27"),
        ("  what is 151 - 38?  ", "151 - 38"),
        ("What is 25% of 80?", None),
        ("Solve for x: 2x + 3 = 7.", None),
        ("What is the capital of France?", None),
    ],
)
def test_question_expression(question: str, expression: str | None) -> None:
    from j1.train.traces import question_expression

    assert question_expression(question) == expression


def test_equation_form_writes_the_computation_and_decides_by_its_value() -> None:
    """`form="equation"`: the own answer is the equation the question asks for; the value after "=" decides.
    Own answers of the model arrive written ("i + 1 = v"); a response's is written from the response."""
    import re

    from j1.train.traces import template_traces

    pairs = make_pairs(6)
    examples = build_examples(assign_formats(pairs, {"pairwise_verdict_short": 1}))
    by_id = {p.id: p for p in pairs}
    own = {p.prompt: f"{i} + 1 = {i + 1 if i < 3 else i + 2}" for i, p in enumerate(pairs)}
    model = template_traces(examples, by_id, "random_pair", 0, "model", own, form="equation")
    told = template_traces(examples, by_id, "correct", 0, "response", form="equation")
    for e, m, t in zip(examples, model, told, strict=True):
        i = int(by_id[e.pair_id].prompt.split()[2])
        assert m.startswith(f"<think>My own answer: {own[by_id[e.pair_id].prompt]}. Response A says")
        verdict = re.search(r"\[\[([AB])\]\]", m).group(1)
        assert (verdict == e.label) is (i < 3)
        assert t.startswith(f"<think>My own answer: {i} + 1 = {i + 1}. ")
        assert re.search(r"\[\[([AB])\]\]", t).group(1) == e.label
    with pytest.raises(J1Error, match="own_answer_form"):
        template_traces(examples, by_id, "correct", 0, "response", form="sentence")


@pytest.mark.parametrize("fmt", ["pairwise_verdict_short", "pointwise"])
def test_random_pair_traces_side_with_one_response_in_both_orders(fmt: str) -> None:
    """`label_policy: random_pair`: one coin per pair, on content. Both orders (pointwise: both roles) side
    with the same response, and over many pairs that response is the chosen one about half the time, so
    the traces teach position invariance and no label."""
    from j1.formats import WIN
    from j1.train.traces import template_traces

    pairs = make_pairs(40)
    examples = build_examples(assign_formats(pairs, {fmt: 1}))
    by_id = {p.id: p for p in pairs}
    traces = template_traces(examples, by_id, "random_pair", seed=2, own_answer="response")
    sides: dict[str, set[str]] = {}
    for e, t in zip(examples, traces, strict=True):
        if fmt == "pointwise":
            good = t.endswith(f"<score>{WIN}</score>")
            side = e.role if good else ("rejected" if e.role == "chosen" else "chosen")
        else:
            verdict = t[-len("B]]</answer>") : -len("]]</answer>")]
            side = "chosen" if verdict == e.label else "rejected"
        sides.setdefault(e.pair_id, set()).add(side)
    assert all(len(s) == 1 for s in sides.values())
    assert 12 <= sum(s == {"chosen"} for s in sides.values()) <= 28
    assert template_traces(examples, by_id, "random_pair", seed=2, own_answer="response") == traces


def test_middle_truncation_keeps_the_final_answer(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = "Let me think step by step. " * 40 + "So the answer is \\boxed{42}."
    middle, right = TokenBudget(tok, "middle").cut(text, 30), TokenBudget(tok, "right").cut(text, 30)
    assert middle.startswith("Let me think") and middle.endswith("\\boxed{42}.") and "[...]" in middle
    assert right.startswith("Let me think") and "boxed" not in right and right.endswith("[...]")
    with pytest.raises(J1Error, match="truncation side"):
        TokenBudget(tok, "left")  # type: ignore[arg-type]


def test_pair_advantages_centre_over_both_orders_of_a_pair() -> None:
    """`pair_advantages`: weighted rewards centred over a pair's 2 x G rollouts (both orders), scaled by the
    pair's std (`group`), the batch's (`batch`) or not (`none`); rows no function scored get 0."""
    import torch

    from j1.train.grpo import pair_advantages

    nan = float("nan")
    # G = 2; pair 1: a judge stuck on A (verdict 1 on ab, 0 on ba); pair 2: all rollouts alike
    rpf = torch.tensor(
        [[1, 0], [1, 0], [0, 0], [0, 0], [1, 1], [1, 1], [1, 1], [nan, nan]], dtype=torch.float
    )
    w = torch.tensor([1.0, 1.0])
    group = pair_advantages(rpf, w, 2, "group")
    std = torch.tensor([1.0, 1, 0, 0]).std()
    expected = [0.5 / (std + 1e-4)] * 2 + [-0.5 / (std + 1e-4)] * 2 + [0, 0, 0, 0]
    assert torch.allclose(group, torch.tensor(expected))
    assert torch.allclose(
        pair_advantages(rpf, w, 2, "none"), torch.tensor([0.5, 0.5, -0.5, -0.5, 0, 0, 0, 0])
    )
    batch = pair_advantages(rpf, w, 2, "batch")
    assert torch.allclose(batch[:4] / batch[0], torch.tensor([1.0, 1, -1, -1])) and not batch[4:].any()
    assert torch.allclose(
        pair_advantages(rpf, torch.tensor([1.0, 0.0]), 2, "none")[:4], torch.tensor([0.5, 0.5, -0.5, -0.5])
    )
