"""The learning benchmark (bench/learning): its statistics, its pair variants, and a smoke run on the tiny
model in which every stage runs, is cached, and every figure is recomputed from j1 eval's predictions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from j1 import J1Error
from j1.attacks import ATTACKS
from j1.config import load_config, read_yaml
from j1.pairs import Pair

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # bench/ is a folder of the checkout, not of the installed package

from bench.learning import data, stats  # noqa: E402
from bench.learning.config import LearningConfig  # noqa: E402


def predictions(path: Path, rows: list[tuple[str, str, str, list[str | None]]], judge: str = "j") -> Path:
    """(item, order, pref, per-sample verdicts) -> a predictions.jsonl as j1 eval writes it."""
    path.mkdir(parents=True, exist_ok=True)
    lines = []
    for item, order, pref, verdicts in rows:
        parsed = [{"verdict": v, "scores": {}, "parse_ok": v is not None, "error": None} for v in verdicts]
        lines.append(
            {
                "judge": judge,
                "benchmark": "pairs",
                "item_id": item,
                "comparison": 0,
                "order": order,
                "pref": pref,
                "parsed": parsed,
            }
        )
    lines.append(
        {
            "judge": "shorter",
            "benchmark": "pairs",
            "item_id": "x",
            "comparison": 0,
            "order": "ab",
            "pref": "chosen",
            "parsed": [],
        }
    )
    (path / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


def test_outcomes_consistency_and_sampled_accuracy(tmp_path: Path) -> None:
    # p1 right in both orders; p2 right only in ab; sampled verdicts: ab says A (= chosen), ba says B (= chosen)
    d = predictions(
        tmp_path / "e",
        [
            ("p1", "ab", "chosen", ["A", "A", "B", None]),
            ("p1", "ba", "chosen", ["B", "B", "B", "B"]),
            ("p2", "ab", "chosen", ["A", "B", "B", "B"]),
            ("p2", "ba", "rejected", ["A", "A", "A", "A"]),
        ],
    )
    by = stats.outcomes(d)
    assert set(by) == {"p1", "p2"}  # the baseline's row is not the judge's
    assert stats.consistent_accuracy(by) == 50.0
    s = stats.sampled_accuracy(by)
    # per-order sample accuracy: p1 (0.5 + 1)/2, p2 (0.25 + 0)/2 -> mean 0.4375
    assert s["mean_accuracy"] == 43.75 and s["accuracy_ab"] == 37.5 and s["accuracy_ba"] == 50.0
    assert s["pairs_right_both_ge_75"] == 0.0


def test_one_order_missing_is_an_error(tmp_path: Path) -> None:
    d = predictions(tmp_path / "e", [("p1", "ab", "chosen", ["A"])])
    with pytest.raises(J1Error, match="both orders"):
        stats.outcomes(d)


def test_paired_gain_and_bootstrap() -> None:
    before = {str(i): stats.PairOutcome(prefs={"ab": "chosen", "ba": "rejected"}) for i in range(100)}
    after = {
        str(i): stats.PairOutcome(prefs={"ab": "chosen", "ba": "chosen" if i < 30 else "rejected"})
        for i in range(100)
    }
    g = stats.paired_gain(after, before, seed=1)
    assert g["value"] == 30.0 and g["n"] == 100
    assert 20 < g["ci95"][0] < 30 < g["ci95"][1] < 40  # sd of the mean ~4.6 points
    assert stats.paired_gain(after, before, seed=1) == g  # seeded
    same = stats.paired_gain(before, before)
    assert same["value"] == 0 and same["ci95"] == [0.0, 0.0]


@pytest.mark.parametrize(
    ("curve", "significant"),
    [
        ([0.1 * i + (0.05 if i % 2 else -0.05) for i in range(20)], True),
        ([0.5, 0.4, 0.6, 0.5, 0.4, 0.6, 0.5, 0.4], False),
    ],
)
def test_reward_trend(curve: list[float], significant: bool) -> None:
    t = stats.reward_trend(curve)
    assert (t["p_one_sided"] < 0.05) is significant
    assert stats.reward_trend([0.3, 0.2])["slope"] is None


def pair(i: int) -> Pair:
    return Pair("math", f"What is {i} + 1?", f"{i} + 1 = {i + 1}", f"{i} + 1 = {i + 2}", str(i + 1))


def test_shuffled_labels_are_a_seeded_coin_per_pair() -> None:
    pairs = [pair(i) for i in range(200)]
    a, b = data.shuffled(pairs, 0), data.shuffled(pairs, 0)
    assert [p.to_dict() for p in a] == [p.to_dict() for p in b]
    swapped = [p.meta["label_shuffled"] for p in a]
    assert 70 < sum(swapped) < 130
    for p, s in zip(pairs, a, strict=True):
        assert (s.chosen, s.rejected) == (
            (p.rejected, p.chosen) if s.meta["label_shuffled"] else (p.chosen, p.rejected)
        )
    assert data.shuffled(pairs, 1) != a


def test_hint_states_the_true_answer() -> None:
    (h,) = data.hinted([pair(4)])
    assert h.prompt == "What is 4 + 1?\n(Note: the correct answer is 5.)" and h.chosen == pair(4).chosen
    with pytest.raises(J1Error, match="reference answer"):
        data.hinted([Pair("chat", "Hi", "a", "b")])


def test_shipped_recipes_validate() -> None:
    for recipe in (ROOT / "bench" / "learning").glob("*.yaml"):
        cfg = load_config(LearningConfig, recipe)
        assert cfg.arms, recipe


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        (["warm.traces.max_examples=500"], "at most 200 examples"),
        (["warm.sft.num_train_epochs=2"], "at most one epoch"),
        (["warm.traces.label_policy=correct"], "the warm start is label-free"),
        (["warm.traces.label_policy=oracle"], "label_policy must be one of correct, random_pair"),
        (["arms.grpo.train.grpo.per_device_train_batch_size=6"], "not a multiple of 2 x num_generations"),
        (["arms.grpo.train.rewards={verdict: 1, accuracy: 1}"], "unknown reward 'accuracy'"),
        (["arms.grpo.train.trainable_layers=3"], "trainable_layers=3, but .* has 2 decoder layers"),
        (["arms.reference.train.format=multitask"], "the benchmark scores one judge format"),
        (["eval.baselines=[longest]"], "unknown baseline 'longest'"),
        (["attacks.judges=[warm, nobody]"], "attacks.judges: unknown judge 'nobody'"),
        (["base_format=pairwise_vote"], "unknown judge format 'pairwise_vote'"),
        (["base_format=null"], "base is judged in base_format, which is not set"),
        (["arms.grpo_adversarial.adversarial=2"], "adversarial=2.0: a share of the pairs"),
        (["arms.shuffled_long.adversarial=0.5"], "adversarial pairs go with true labels"),
        (
            ["arms.grpo_long.train.grpo.save_steps=15", "arms.grpo_long.curve_every=20"],
            "set grpo.save_steps to a divisor of it",
        ),
    ],
)
def test_bad_stages_are_refused_before_any_compute(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides: list[str], error: str
) -> None:
    """Every stage's config is built and checked before synth, an evaluation or a training spends a second."""
    import bench.learning.run as lr

    def no_compute(*a: object, **k: object) -> None:
        raise AssertionError("compute started before the stages were validated")

    for name in ("synth_pairs", "judge", "train_stage"):
        monkeypatch.setattr(lr, name, no_compute)
    sets = [f"out={tmp_path / 'lb'}", f"model={tiny_model_dir}"]
    sets += [f"arms.{a}.train.trainable_layers=1" for a in GRPO_ARMS]
    with pytest.raises(J1Error, match=error):
        lr.run(load_config(LearningConfig, ROOT / "bench" / "learning" / "recipe.yaml", sets + overrides))
    assert not (tmp_path / "lb").exists()


GRPO_ARMS = [
    name
    for name, arm in read_yaml(ROOT / "bench" / "learning" / "recipe.yaml")["arms"].items()
    if arm["train"].get("algo", "grpo") == "grpo"
]


def tiny_pairs(path: Path) -> Path:
    rows = [pair(10 * a + b).to_dict() for a in range(1, 4) for b in range(1, 5)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def tiny_settings(tmp_path: Path, model: Path) -> list[str]:
    grpo = "arms.{}.train.grpo."
    sets = [
        f"out={tmp_path / 'lb'}",
        f"model={model}",
        f"pairs={tiny_pairs(tmp_path / 'pairs.jsonl')}",
        "heldout_size=4",
        "probe.pairs=4",
        "probe.samples=2",
        "data.max_prompt_tokens=2048",  # the tiny tokenizer spends ~4x the tokens of a real one
        "eval.backend=hf",
        "eval.max_tokens=4",
        "eval.samples=2",
        "eval.sampled=[warm, grpo]",
        "warm.traces.judge.name=hf",
        "warm.traces.max_examples=8",
        "warm.traces.max_tokens=8",
        "warm.sft.max_steps=1",
        "warm.sft.bf16=false",
        "warm.sft.max_length=2200",
        "arm_minutes=5",
        "arms.grpo_long.train.grpo.save_steps=1",
        "arms.grpo_long.curve_every=2",  # checkpoints 1 and 2 saved; 2 judged, 3 is the arm's own judge
        "arms.shuffled_long.train.grpo.save_steps=1",
        "arms.shuffled_long.curve_every=2",  # the control's curve: grpo_long's points gain a paired vs_control
        "attacks.pairs=2",
    ]
    for arm in GRPO_ARMS:
        sets += [
            f"arms.{arm}.train.trainable_layers=1",  # the tiny model has 2 layers
            *(grpo.format(arm) + s for s in (
                f"max_steps={3 if arm in ('grpo', 'grpo_long', 'shuffled_long') else 2}", "bf16=false", "use_vllm=false", "max_completion_length=8", "num_generations=2",
                "per_device_train_batch_size=8", "vllm_importance_sampling_correction=false",
            )),
        ]  # fmt: skip
    sets += [
        "arms.reference.train.sft.max_steps=1",
        "arms.reference.train.sft.bf16=false",
        "arms.reference.train.sft.max_length=2200",
        "arms.dpo.train.traces.judge.name=hf",
        "arms.dpo.train.traces.max_tokens=8",
        "arms.dpo.train.dpo.max_steps=1",
        "arms.dpo.train.dpo.bf16=false",
        "arms.dpo.train.dpo.max_length=2200",
        "arms.semi_online_dpo.train.semi_online={sync_steps: 1, rounds: 2, pairs_per_round: 2}",
        "arms.semi_online_dpo.train.traces.max_tokens=8",
        "arms.semi_online_dpo.train.dpo.bf16=false",
        "arms.semi_online_dpo.train.dpo.max_length=2200",
    ]
    return sets


VERDICT = "<think>t</think>\n<answer>[[{}]]</answer>"


def scripted(examples: list, *_: object, **__: object) -> list[list[str]]:
    """A judge that samples one right and one wrong trace for every prompt (the tiny model writes neither)."""
    return [[VERDICT.format(e.label), VERDICT.format("B" if e.label == "A" else "A")] for e in examples]


def test_benchmark_smoke_runs_every_arm_caches_and_recomputes(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import j1.train.dpo as dpo
    from bench.learning.run import run

    monkeypatch.setattr(dpo, "judge_samples", lambda session, examples: scripted(examples))
    monkeypatch.setattr(dpo, "generate_with_model", lambda model, tok, examples, *a, **k: scripted(examples))

    recipe = ROOT / "bench" / "learning" / "recipe.yaml"
    cfg = load_config(LearningConfig, recipe, tiny_settings(tmp_path, tiny_model_dir))
    cfg.run_arms = list(cfg.arms)
    out = run(cfg)
    s = json.loads((out / "learning.json").read_text())
    assert set(s["arms"]) == set(cfg.arms)
    for name, j in s["judges"].items():
        # every figure is recomputed from the predictions of the j1 eval run that scored it
        by = stats.outcomes(j["eval_dir"])
        assert j["consistent_accuracy"]["value"] == round(stats.consistent_accuracy(by), 2), name
        assert j["consistent_accuracy"]["n"] == 4
    assert {"shorter", "longer", "random", "always_a", "always_b"} <= set(s["baselines"])
    assert s["baselines"]["always_a"] == 0.0
    assert "sampled" in s["judges"]["grpo_sampled"] and "sampled" in s["judges"]["warm_sampled"]
    assert s["gains"]["hint"]["vs"] == "warm_hint" and s["gains"]["grpo"]["vs"] == "warm"
    assert len(s["arms"]["grpo"]["reward_curve"]) == 3
    curve = s["arms"]["grpo_long"]["heldout_curve"]
    assert [(r["step"], r["judge"]) for r in curve] == [(0, "warm"), (2, "grpo_long_step2"), (3, "grpo_long")]
    assert "gain" in curve[1] and curve[2]["gain"]["value"] == s["gains"]["grpo_long"]["value"]
    assert [r["vs_control"]["control"] for r in curve[1:]] == ["shuffled_long_step2", "shuffled_long"]
    assert "vs_control" not in s["arms"]["shuffled_long"]["heldout_curve"][1]
    assert "## Learning curves" in (out / "learning.md").read_text()
    # the attack suite, for the judges trained with and without adversarial twins
    assert set(s["attacks"]) == {"base_direct", "warm", "grpo", "grpo_adversarial"}
    for name in ("base_direct", "attacks/base_direct"):  # the untrained model, in the format it can answer
        folder = Path(s["judges"]["base_direct"]["eval_dir"]) if name == "base_direct" else out / name
        assert "format: pairwise_verdict_direct" in (folder / "config.yaml").read_text(), name
    for a in s["attacks"].values():
        assert set(a["asr"]) <= set(ATTACKS) and (Path(a["eval_dir"]) / "predictions.jsonl").is_file()
    assert "## Attack-success rates" in (out / "learning.md").read_text()
    adversarial = [
        json.loads(x) for x in next(out.glob("data_adversarial_*/train_adversarial_*.jsonl")).open()
    ]
    twins = [p for p in adversarial if "attack" in p["meta"]]
    train = (out / "data" / "train.jsonl").read_text().splitlines()
    assert twins and len(adversarial) == len(train) + len(twins)  # the training pairs and attacked twins
    assert set(s["targets"]) >= {
        "sanity_accuracy",
        "gain_over_warm",
        "gain_ci_lower",
        "over_best_baseline",
        "reward_slope_p",
        "control_gain",
        "budget_minutes",
    }
    for t in s["targets"].values():
        assert t["holds"] in (True, False)
    assert (out / "learning.md").read_text().startswith("# Learning benchmark")
    assert (out / "learning.png").stat().st_size > 1000
    # the control trains on shuffled labels, everything is judged on the true held-out pairs
    shuffled = [json.loads(x) for x in (out / "data" / "train_shuffled.jsonl").read_text().splitlines()]
    assert any(p["meta"]["label_shuffled"] for p in shuffled)
    held = {json.loads(x)["id"] for x in (out / "data" / "heldout.jsonl").read_text().splitlines()}
    trained_on = {
        json.loads(x)["pair_id"]
        for stage in ("warm", "arms/reference")
        for x in (out / stage / "sft_traces.jsonl").read_text().splitlines()
    }
    assert trained_on and not held & trained_on  # held-out pairs never reach training
    # a rerun with nothing changed trains and judges nothing again; a changed arm redoes that arm only
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("stage.json")}
    cfg.run_arms = ["grpo"]
    run(cfg)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("stage.json")} == stamps
    cfg.arms["grpo"].train["grpo"]["max_steps"] = 1
    run(cfg)
    changed = {
        p.parent.relative_to(out).as_posix()
        for p in out.rglob("stage.json")
        if p.stat().st_mtime_ns != stamps.get(p)
    }
    assert changed == {"arms/grpo", "eval/grpo", "eval/grpo_sampled", "attacks/grpo"}  # grpo is attacked too
    # a new arm leaves every cached stage valid: only its own stages run
    import copy

    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("stage.json")}
    cfg.arms["grpo_copy"] = copy.deepcopy(cfg.arms["grpo"])
    cfg.run_arms = ["grpo_copy"]
    run(cfg)
    changed = {
        p.parent.relative_to(out).as_posix()
        for p in out.rglob("stage.json")
        if p.stat().st_mtime_ns != stamps.get(p)
    }
    assert changed == {"arms/grpo_copy", "eval/grpo_copy"}
