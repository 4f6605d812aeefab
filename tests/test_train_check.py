"""Smoke versions of the learning check and the training bench on the tiny model (tiny budgets)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from j1.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def pairs_file(tmp_path: Path) -> Path:
    rows = [
        {
            "source": "math",
            "prompt": f"What is {a} + {b}?",
            "chosen": f"{a} + {b} = {a + b}.",
            "rejected": f"{a} + {b} = {a + b + 1}.",
        }
        for a in range(1, 5)
        for b in range(1, 4)
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_learning_check_smoke(tiny_model_dir: Path, tmp_path: Path) -> None:
    from j1.formats import get_format
    from j1.train.learning_check import LearningCheckConfig, run

    out = tmp_path / "lc"
    cfg = load_config(
        LearningCheckConfig,
        ROOT / "train" / "recipes" / "learning_check.yaml",
        [
            f"out={out}",
            f"model={tiny_model_dir}",
            f"pairs={pairs_file(tmp_path)}",
            "heldout_size=2",
            "data.max_prompt_tokens=2048",  # the tiny tokenizer spends ~4x the tokens of a real one
            "warm.sft.max_length=2200",
            "eval_max_tokens=4",
            "eval_backend=hf",
            "budget_minutes=20",
            "warm.sft.max_steps=1",
            "warm.sft.bf16=false",
            "warm.traces.max_tokens=8",
            "grpo.grpo.max_steps=2",
            "grpo.grpo.bf16=false",
            "grpo.grpo.use_vllm=false",  # vLLM rollouts have their own (slow) tests: test_train_vllm.py
            "grpo.grpo.max_completion_length=8",
            "grpo.grpo.num_generations=2",
            "grpo.trainable_layers=1",  # the tiny model has 2 layers
            "grpo.grpo.per_device_train_batch_size=4",
            "reference_epochs=1",
            "warm.traces.mask_decision=true",
            "warm.traces.max_examples=4",
        ],
    )
    run(cfg)
    result = json.loads((out / "learning_check.json").read_text())
    for stage in ("base", "warm", "trained", "reference"):
        assert {"consistent_accuracy", "parse_rate", "accuracy_ab", "accuracy_ba"} <= set(result[stage])
        assert result[stage]["n_pairs"] == 2
        report = json.loads((out / "eval" / stage / "report.json").read_text())  # j1 eval's own report
        assert report["benchmarks"]["pairs"]["score"] == result[stage]["consistent_accuracy"]
    assert result["reference"]["epochs"] == 1 and "reference_train" in result["timing_s"]
    # the supervised reference is told every answer; the warm start's traces follow a coin
    parse = get_format("pairwise_verdict_short").parse  # the judge format's own parser
    for stage, told in (("reference", True), ("warm", False)):
        rows = [json.loads(ln) for ln in (out / stage / "sft_traces.jsonl").read_text().splitlines()]
        # the warm start's example cap is not the reference's: it trains on both orders of every pair
        assert len(rows) == (2 * result["data"]["train_pairs"] if told else 4)
        right = ["A" if r["order"] == "ab" else "B" for r in rows]
        said = [parse(r["completion"][0]["content"]).verdict for r in rows]
        assert (said == right) is told
        assert all(("masked" in r) is not told for r in rows)  # the reference learns its decisions
    assert len(result["reward_curve"]) == 2 and result["data"]["heldout_pairs"] == 2
    assert set(result["targets"]) == {
        "trained_consistent_accuracy_ge_60",
        "gain_over_warm_ge_10_points",
        "reward_rises",
    }
    held = {json.loads(ln)["id"] for ln in (out / "warm" / "heldout.jsonl").read_text().splitlines()}
    assert held == {json.loads(ln)["id"] for ln in (out / "grpo" / "heldout.jsonl").read_text().splitlines()}
    trained_on = {
        json.loads(ln)["pair_id"]
        for stage in ("warm", "reference")
        for ln in (out / stage / "sft_traces.jsonl").read_text().splitlines()
    }
    assert not held & trained_on  # held-out pairs never reach training


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        (["reference_epochs=-1"], "reference_epochs=-1"),
        (["grpo.format=pointwise"], "pointwise examples of this run get no judging reward"),
        (["warm.traces.max_examples=500"], "capped at 200 examples"),
        (["warm.sft.num_train_epochs=2"], "at most one epoch"),
        (["grpo.grpo.per_device_train_batch_size=12"], "not a multiple of 2 x num_generations"),
        (["warm.traces.label_policy=oracle"], "unknown traces.label_policy 'oracle'"),
        (["grpo.rewards={verdict: 1, accuracy: 1}"], "unknown reward 'accuracy'"),
        (["grpo.trainable_layers=3"], "trainable_layers=3, but .* has 2 decoder layers"),
    ],
)
def test_learning_check_refuses_bad_stages_before_any_compute(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch, overrides: list[str], error: str
) -> None:
    """Every stage is validated before synth, the base judge's evaluation or the warm start spend a second."""
    import j1.train.learning_check as lc
    from j1 import J1Error

    def no_compute(*a, **k):
        raise AssertionError("compute started before the stages were validated")

    monkeypatch.setattr(lc, "synth_pairs", no_compute)
    monkeypatch.setattr(lc, "evaluate", no_compute)
    out = tmp_path / "lc"
    cfg = load_config(
        lc.LearningCheckConfig,
        ROOT / "train" / "recipes" / "learning_check.yaml",
        [f"out={out}", f"model={tiny_model_dir}", "grpo.trainable_layers=1", *overrides],
    )
    with pytest.raises(J1Error, match=error):
        lc.run(cfg)
    assert not out.exists()  # refused before any stage (or synth) starts


@pytest.mark.slow
def test_bench_train_smoke() -> None:
    """bench/train.py on the tiny model: both legs run and the last line is the JSON verdict."""
    import subprocess
    import sys

    cmd = [sys.executable, str(ROOT / "bench" / "train.py"), "--tiny", "--steps", "2", "--repeats", "1"]
    cmd += ["--max-completion-length", "8", "--generations", "2", "--batch", "4", "--pairs", "8"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert last["step_time_ratio_vs_trl"] > 0 and last["j1_peak_rss_mb"] > 0 and last["trl_peak_rss_mb"] > 0
