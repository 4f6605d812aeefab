"""j1 train on the tiny model: the both-orders batch property in a real GRPOTrainer, GRPO/SFT/DPO runs end to
end (judge folder, card, metrics, TensorBoard, manifest), resume, bad input before compute, shipped recipes."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from j1 import J1Error
from j1.config import load_config
from j1.train.config import MULTITASK, TrainConfig
from j1.train.run import run

A, B = "<think>x</think><answer>[[A]]</answer>", "<think>x</think><answer>[[B]]</answer>"
RECIPES = sorted((Path(__file__).resolve().parents[1] / "train" / "recipes").glob("*.yaml"))
FAST = [
    "grpo.use_cpu=true",
    "grpo.bf16=false",
    "sft.use_cpu=true",
    "sft.bf16=false",
    "dpo.use_cpu=true",
    "dpo.bf16=false",
    "grpo.max_steps=2",
    "grpo.max_completion_length=8",
    "grpo.num_generations=2",
    "grpo.per_device_train_batch_size=4",
    "grpo.save_steps=1",
    "heldout_eval.max_tokens=4",
    "data.heldout_size=2",
    "warm_start.enabled=false",  # tested on its own (test_warm_start_then_grpo)
]


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
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
    path = tmp_path_factory.mktemp("pairs") / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def config(model: Path, pairs: Path, out: Path, *overrides: str) -> TrainConfig:
    return load_config(
        TrainConfig, None, [f"model={model}", f"data.path={pairs}", f"out={out}", *FAST, *overrides]
    )


def metrics(out: Path) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("advantage_group", ["order", "pair"])
def test_grpo_batches_hold_both_orders_of_every_pair(
    tiny_model_dir: Path, pairs_file: Path, tmp_path: Path, advantage_group: str
) -> None:
    """A real TRL GRPO run (2 optimizer steps, 2 pairs per generation batch): every reward call sees, for
    each pair in it, G rollouts of `ab` followed by G rollouts of `ba`. The reward is that of a judge stuck on
    one position (1 on `ab`, 0 on `ba`): TRL's per-prompt groups (`order`) give it advantage 0 everywhere,
    the pair's group (`pair`) a positive advantage on `ab` and a negative one on `ba`."""
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import GRPOConfig

    from j1.train.examples import assign_formats, build_examples, load_pairs
    from j1.train.grpo import PairGRPOTrainer
    from j1.train.rewards import position_consistency, verdict

    rows = [e.row() for e in build_examples(assign_formats(load_pairs(pairs_file), {"pairwise_verdict": 1}))]
    calls: list[list[tuple[str, str]]] = []

    def recorder(prompts: list, completions: list, pair_id: list, order: list, **_: Any) -> list[float]:
        calls.append(list(zip(pair_id, order, strict=True)))
        return [1.0 if o == "ab" else 0.0 for o in order]

    g = 2
    args = GRPOConfig(
        output_dir=str(tmp_path / "ckpt"),
        use_cpu=True,
        bf16=False,
        num_generations=g,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,  # steps_per_generation 2: a generation batch of 8 rollouts = 2 pairs
        max_completion_length=8,
        max_steps=2,
        report_to="none",
        save_strategy="no",
        gradient_checkpointing=False,
        reward_weights=[0.0, 0.0, 1.0],
    )
    tok = AutoTokenizer.from_pretrained(tiny_model_dir, padding_side="left")
    trainer = PairGRPOTrainer(
        model=str(tiny_model_dir),
        reward_funcs=[verdict, position_consistency, recorder],
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tok,
        advantage_group=advantage_group,
    )
    advantages: list[list[float]] = []
    score = trainer._generate_and_score_completions

    def spy(*a: Any, **k: Any) -> dict[str, Any]:
        out = score(*a, **k)
        advantages.append(out["advantages"].tolist())
        return out

    trainer._generate_and_score_completions = spy
    trainer.train()
    assert len(calls) == 2 and len(advantages) == 2
    for call, adv in zip(calls, advantages, strict=True):
        ab = [a for (_, o), a in zip(call, adv, strict=True) if o == "ab"]
        ba = [a for (_, o), a in zip(call, adv, strict=True) if o == "ba"]
        if advantage_group == "order":
            assert all(a == 0 for a in adv)
        else:
            assert all(a > 0.8 for a in ab) and all(a < -0.8 for a in ba)  # 0.5 / std([1, 1, 0, 0])
    for call in calls:
        assert len(call) == 8
        by_pair: dict[str, list[str]] = defaultdict(list)
        for pid, order in call:
            by_pair[pid].append(order)
        assert len(by_pair) == 2
        assert all(orders == ["ab"] * g + ["ba"] * g for orders in by_pair.values())
    assert not set(p for p, _ in calls[0]) & set(p for p, _ in calls[1])


def test_grpo_run_end_to_end_then_resume(tiny_model_dir: Path, pairs_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run(config(tiny_model_dir, pairs_file, out))
    judge = out / "judge"
    assert (judge / "config.json").is_file() and (judge / "model.safetensors").is_file()
    assert (judge / "chat_template.jinja").is_file() or "chat_template" in (
        judge / "tokenizer_config.json"
    ).read_text()
    meta = json.loads((judge / "j1_judge.json").read_text())
    assert meta["format"] == "pairwise_verdict" and meta["data_fingerprint"].startswith("sha256:")
    card = (judge / "README.md").read_text()
    assert "base_model:" in card and "consistent_accuracy" in card and "## Recipe (resolved)" in card
    recs = metrics(out)
    steps = [r["step"] for r in recs if "loss" in r]
    assert steps == [1, 2]
    for key in ("rewards/verdict/mean", "rewards/position_consistency/mean", "judge/accuracy_ab",
                "judge/accuracy_ba", "judge/consistent_accuracy", "judge/parse_rate_pairwise",
                "completions/mean_length", "kl", "entropy"):  # fmt: skip
        assert key in recs[0], key
    assert 0 < recs[0]["memory/rss_gb"] <= recs[-1]["memory/peak_rss_gb"]
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["counts"]["heldout_pairs"] == 2
    assert manifest["heldout_metrics"]["n_pairs"] == 2
    report = json.loads((out / "heldout_eval" / "report.json").read_text())  # scored by j1 eval itself
    assert report["benchmarks"]["pairs"]["score"] == manifest["heldout_metrics"]["consistent_accuracy"]
    assert set(manifest["heldout_metrics"]["baselines"]) == {"longer", "shorter", "random"}
    assert "baseline shorter" in card
    assert len((out / "heldout.jsonl").read_text().splitlines()) == 2
    assert sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*")) == [
        "checkpoint-1",
        "checkpoint-2",
    ]

    with pytest.raises(J1Error, match="pass --resume"):
        run(config(tiny_model_dir, pairs_file, out))
    run(config(tiny_model_dir, pairs_file, out, "resume=true", "grpo.max_steps=3"))
    state = json.loads((out / "checkpoints" / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    assert [r["step"] for r in metrics(out) if "loss" in r] == [1, 2, 3]
    # killed after its last checkpoint (while the judge was saved): the rerun trains no step past max_steps
    shutil.rmtree(out / "judge")
    run(config(tiny_model_dir, pairs_file, out, "resume=true", "grpo.max_steps=3"))
    assert [r["step"] for r in metrics(out) if "loss" in r] == [1, 2, 3]
    assert (
        not (out / "checkpoints" / "checkpoint-4").exists()
        and (out / "judge" / "model.safetensors").is_file()
    )
    other = tmp_path / "other.jsonl"
    other.write_text(pairs_file.read_text().replace("What is", "Compute"))
    with pytest.raises(J1Error, match="is not the pairs file"):
        run(config(tiny_model_dir, other, out, "resume=true", "grpo.max_steps=4"))
    with pytest.raises(J1Error, match="no checkpoint"):
        run(config(tiny_model_dir, pairs_file, tmp_path / "fresh", "resume=true"))


def test_multitask_grpo_run(tiny_model_dir: Path, pairs_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "mt"
    run(
        config(
            tiny_model_dir,
            pairs_file,
            out,
            f"format={MULTITASK}",
            "rewards={verdict: 1.0, position_consistency: 1.0, pointwise_pair: 1.0}",
            "grpo.max_steps=1",
            "heldout_eval.enabled=false",
        )
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["counts"]["examples_by_format"]) == {"pairwise_verdict", "pointwise"}
    assert "rewards/pointwise_pair/mean" in metrics(out)[0]


def test_grpo_with_lora_saves_a_merged_judge(tiny_model_dir: Path, pairs_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("peft")
    from transformers import AutoModelForCausalLM

    out = tmp_path / "lora"
    lora = "lora={r: 4, lora_alpha: 8, target_modules: [q_proj, v_proj]}"
    run(config(tiny_model_dir, pairs_file, out, lora, "grpo.max_steps=1", "heldout_eval.enabled=false"))
    assert not (out / "judge" / "adapter_config.json").exists()
    model = AutoModelForCausalLM.from_pretrained(out / "judge")
    assert not any("lora" in n for n, _ in model.named_parameters())


def test_trainable_layers_trains_only_the_top_layers(
    tiny_model_dir: Path, pairs_file: Path, tmp_path: Path
) -> None:
    """SFT with `trainable_layers=1` on the short verdict format: the saved judge differs from the base
    model in its top layer only (embeddings, tied head and the lower layer unchanged)."""
    from safetensors.torch import load_file

    out = tmp_path / "top"
    overrides = ["algo=sft", "format=pairwise_verdict_short", "trainable_layers=1", "sft.learning_rate=1e-2"]
    run(
        config(
            tiny_model_dir, pairs_file, out, *overrides, "traces.max_examples=4", "heldout_eval.enabled=false"
        )
    )
    base, judge = (
        load_file(tiny_model_dir / "model.safetensors"),
        load_file(out / "judge" / "model.safetensors"),
    )
    changed = {n for n in base if not base[n].equal(judge[n])}
    assert changed and all(n.startswith(("model.layers.1.", "model.norm.")) for n in changed), changed
    assert json.loads((out / "judge" / "j1_judge.json").read_text())["format"] == "pairwise_verdict_short"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        (["format=pairwise_vote"], "unknown judge format 'pairwise_vote'; valid formats: pairwise_verdict"),
        (["rewards={verdict: 1, accuracy: 1}"], "unknown reward 'accuracy'; valid rewards"),
        (["algo=ppo"], "algo must be one of grpo, sft, dpo, semi-online-dpo, got 'ppo'"),
        (["format=pointwise"], "pointwise examples of this run get no judging reward"),
        (["format=pairwise_verdict_direct"], "pairwise_verdict_direct is the judge that does not think"),
        (
            ["format=multitask", "mixture={pairwise_verdict: 1, pairwise_verdict_direct: 1}"],
            "j1 train trains thinking judges",
        ),
        (["grpo.per_device_train_batch_size=6"], "not a multiple of 2 x num_generations"),
        (["grpo.reward_weights=[1, 1]"], "grpo.reward_weights is set by j1"),
        (["data.path=/nonexistent/pairs.jsonl"], "pairs file not found"),
        (["traces.source=teacher", "algo=sft"], "source must be one of template, judge, got 'teacher'"),
        (["algo=sft", "traces.own_answer=oracle"], "own_answer must be one of none, response, model"),
        (
            ["algo=sft", "traces.own_answer_form=equation"],
            "own_answer_form: equation needs traces.own_answer",
        ),
        (
            ["algo=sft", "traces.source=judge", "traces.own_answer=model"],
            "own_answer: model writes template traces",
        ),
        (["algo=dpo"], "dpo needs sampled traces"),
        (["algo=sft", "sft.num_train_epoch=1"], "sft section .SFTConfig.: .*num_train_epoch"),
        (["trainable_layers=0"], "trainable_layers must be >= 1"),
        (["trainable_layers=3"], "trainable_layers=3, but .* has 2 decoder layers"),
        (["trainable_layers=1", "lora={r: 4}"], "trainable_layers and lora both choose what trains"),
    ],
)
def test_bad_input_fails_before_compute(
    tiny_model_dir: Path, pairs_file: Path, tmp_path: Path, overrides: list[str], error: str, monkeypatch
) -> None:
    import transformers

    def no_model(*a: Any, **k: Any) -> None:
        raise AssertionError("a model was loaded before the input was validated")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_model)
    with pytest.raises(J1Error, match=error):
        run(config(tiny_model_dir, pairs_file, tmp_path / "bad", *overrides))
    assert not (tmp_path / "bad" / "checkpoints").exists()


def test_warm_start_then_grpo_in_one_command(tiny_model_dir: Path, pairs_file: Path, tmp_path: Path) -> None:
    """`j1 train`'s default: an SFT warm start in out/warm (label-free traces with the model's own answers),
    then GRPO from out/warm/judge on the same split, judged on the held-out pairs. A rerun with --resume
    reuses the finished warm start; a bad GRPO setting is refused before the warm start spends a second."""
    out = tmp_path / "judge"
    warm = ["warm_start.enabled=true", "warm_start.traces.max_examples=4", "warm_start.traces.max_tokens=8"]
    warm += ["warm_start.sft.max_steps=1", "warm_start.sft.use_cpu=true", "warm_start.sft.bf16=false"]
    with pytest.raises(J1Error, match="not a multiple of 2 x num_generations"):
        run(config(tiny_model_dir, pairs_file, out, *warm, "grpo.per_device_train_batch_size=6"))
    assert not (out / "warm").exists()
    run(config(tiny_model_dir, pairs_file, out, *warm))
    w = json.loads((out / "warm" / "manifest.json").read_text())
    assert (
        w["status"] == "ok" and w["config"]["algo"] == "sft" and w["counts"]["own_answers"]["questions"] == 2
    )
    m = json.loads((out / "manifest.json").read_text())
    assert m["models"]["base"]["ref"] == str(out / "warm" / "judge") and m["warm_start"] == str(out / "warm")
    assert [r["step"] for r in metrics(out) if "reward" in r] == [1, 2]
    assert (out / "heldout_eval" / "report.json").is_file()
    held = {json.loads(x)["id"] for x in (out / "heldout.jsonl").read_text().splitlines()}
    assert held == {json.loads(x)["id"] for x in (out / "warm" / "heldout.jsonl").read_text().splitlines()}
    stamp = (out / "warm" / "manifest.json").stat().st_mtime_ns
    run(config(tiny_model_dir, pairs_file, out, *warm, "resume=true"))
    assert (out / "warm" / "manifest.json").stat().st_mtime_ns == stamp  # reused, not redone


def test_sft_warm_start_with_template_traces(tiny_model_dir: Path, pairs_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "sft"
    run(config(tiny_model_dir, pairs_file, out, "algo=sft",
               "traces.max_examples=6", "traces.max_tokens=8", "sft.per_device_train_batch_size=2"))  # fmt: skip
    traces = [json.loads(ln) for ln in (out / "sft_traces.jsonl").read_text().splitlines()]
    assert len(traces) == 6 and {t["order"] for t in traces} == {"ab", "ba"}
    by_pair = defaultdict(dict)
    for t in traces:
        by_pair[t["pair_id"]][t["order"]] = t["completion"][0]["content"]
    for orders in by_pair.values():  # restate both answers, then decide; the verdict follows the chosen one
        assert orders["ab"].endswith("<answer>[[A]]</answer>") and orders["ba"].endswith(
            "<answer>[[B]]</answer>"
        )
        assert "Response A says:" in orders["ab"] and "Response B says:" in orders["ab"]
    steps = [r for r in metrics(out) if "loss" in r]
    assert len(steps) == 3 and steps[0]["stage"] == "sft"  # 6 examples, batch 2, one epoch
    assert (out / "judge" / "README.md").is_file()


def test_sft_traces_open_with_the_models_own_answers(tiny_model_dir, pairs_file, tmp_path) -> None:
    """`own_answer: model`: the model solves each math question itself (hf backend here, greedy) and
    the traces open with its answer; how often that answer is right is counted, not used."""
    out = tmp_path / "sft-own"
    run(config(tiny_model_dir, pairs_file, out, "algo=sft", "sft.max_steps=1", "traces.max_examples=4",
               "traces.max_tokens=8", "traces.own_answer=model",
               "traces.label_policy=random_pair"))  # fmt: skip
    traces = [
        json.loads(ln)["completion"][0]["content"]
        for ln in (out / "sft_traces.jsonl").read_text().splitlines()
    ]
    assert len(traces) == 4 and all(t.startswith("<think>My own answer: ") for t in traces)
    own = json.loads((out / "manifest.json").read_text())["counts"]["own_answers"]
    assert own["questions"] == 2 and 0 <= own["right"] <= 2


def scripted(examples: list, *_: Any, **__: Any) -> list[list[str]]:
    """A judge that samples one right and one wrong trace for every prompt."""
    return [[A, B] if e.label == "A" else [B, A] for e in examples]


def test_sft_from_judge_keeps_right_traces(tiny_model_dir, pairs_file, tmp_path, monkeypatch) -> None:
    import j1.train.sft as sft

    monkeypatch.setattr(
        sft, "judge_samples", lambda session, examples: [list(reversed(s)) for s in scripted(examples)]
    )
    out = tmp_path / "sft-judge"
    run(config(tiny_model_dir, pairs_file, out, "algo=sft", "sft.max_steps=1",
               "traces.source=judge", "traces.max_examples=4"))  # fmt: skip
    for t in (json.loads(ln) for ln in (out / "sft_traces.jsonl").read_text().splitlines()):
        assert t["completion"][0]["content"] == (A if t["order"] == "ab" else B)


@pytest.mark.parametrize("algo", ["dpo", "semi-online-dpo"])
def test_dpo_runs(tiny_model_dir, pairs_file, tmp_path, monkeypatch, algo: str) -> None:
    import j1.train.dpo as dpo

    monkeypatch.setattr(dpo, "judge_samples", lambda session, examples: scripted(examples))
    monkeypatch.setattr(dpo, "generate_with_model", lambda model, tok, examples, *a, **k: scripted(examples))
    out = tmp_path / algo
    run(config(tiny_model_dir, pairs_file, out, f"algo={algo}",
               "dpo.max_steps=2", "dpo.per_device_train_batch_size=2", "traces.source=judge", "traces.max_examples=4",
               "semi_online.rounds=2", "semi_online.sync_steps=1", "semi_online.pairs_per_round=1"))  # fmt: skip
    steps = [r["step"] for r in metrics(out) if "loss" in r]
    assert steps == [1, 2]
    manifest = json.loads((out / "manifest.json").read_text())
    if algo == "dpo":
        rows = [json.loads(ln) for ln in (out / "dpo_pairs.jsonl").read_text().splitlines()]
        assert len(rows) == 4 and all(r["chosen"] != r["rejected"] for r in rows)
    else:
        assert [r["pairs"] for r in manifest["counts"]["semi_online_rounds"]] == [2, 2]


def recipe_configs(recipe: Path) -> list[TrainConfig]:
    """The TrainConfigs a recipe runs: its warm start (when it has one), then the recipe itself."""
    from j1.train.run import warm_start_config

    cfg = load_config(TrainConfig, recipe)
    warm = cfg.warm_start.enabled and cfg.algo != "sft"
    return [warm_start_config(cfg), cfg] if warm else [cfg]


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_shipped_recipes_load_and_validate(recipe: Path, monkeypatch) -> None:
    import dataclasses

    from trl import DPOConfig, GRPOConfig, SFTConfig

    from j1.formats import get_format
    from j1.train.config import DPO_DEFAULTS, GRPO_DEFAULTS, SFT_DEFAULTS
    from j1.train.plan import check_precision
    from j1.train.rewards import reward_functions
    from j1.train.session import check_names

    first = recipe.read_text().splitlines()[0]
    assert first.startswith("# ") and f"train/recipes/{recipe.name}" in first
    assert "j1 train" in first or "-m j1.train" in first
    sections = {
        "grpo": (GRPOConfig, GRPO_DEFAULTS),
        "sft": (SFTConfig, SFT_DEFAULTS),
        "dpo": (DPOConfig, DPO_DEFAULTS),
    }
    for cfg in recipe_configs(recipe):
        check_names(cfg)
        check_precision(cfg)  # no shipped recipe updates 16-bit weights at a learning rate they cannot hold
        for name, (cls, defaults) in sections.items():
            valid = {f.name for f in dataclasses.fields(cls)}
            assert not set({**defaults, **getattr(cfg, name)}) - valid, f"{recipe.name}: unknown {name} keys"
        if cfg.algo == "grpo":
            reward_functions(cfg.rewards, {get_format(f).kind for f in cfg.mixture_of_formats()})
            g = {**GRPO_DEFAULTS, **cfg.grpo}
            spg = g.get("steps_per_generation", g.get("gradient_accumulation_steps", 1))
            assert g["per_device_train_batch_size"] * spg % (2 * g["num_generations"]) == 0
        if "cpu" in recipe.name:  # GPU recipes' trainer sections (bf16 on CUDA) cannot be built here
            from j1.train import run as train_run

            monkeypatch.setattr(train_run, "check_trainable_layers", lambda *a: None)  # no SmolLM2 needed
            train_run.check(cfg, "unused")


@pytest.mark.slow
def test_grpo_under_accelerate_launch_two_cpu_processes(tiny_model_dir, pairs_file, tmp_path, j1_env) -> None:
    """2 CPU processes (gloo) x 1 pair each per generation batch: each process's reward call must see both
    orders of its pair (position_consistency raises otherwise); rank 0 alone writes the outputs."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "ddp"
    # advantage_group=pair: each process takes its own slice of the pair-centred advantages
    sets = [f"model={tiny_model_dir}", f"data.path={pairs_file}", f"out={out}", *FAST, "advantage_group=pair"]
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(root / "train/accelerate/cpu_2proc.yaml"),
    ]
    cmd += ["-m", "j1.train", *(x for s in sets for x in ("--set", s))]
    proc = subprocess.run(cmd, env=j1_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (
        "16 rollouts per generation batch" in proc.stderr or "8 rollouts per generation batch" in proc.stderr
    )
    assert [r["step"] for r in metrics(out) if "loss" in r] == [1, 2]
    assert json.loads((out / "manifest.json").read_text())["status"] == "ok"
    assert len(list((out / "tensorboard").glob("events.*"))) == 1
    assert (out / "judge" / "model.safetensors").is_file()


@pytest.mark.slow
def test_resume_continues_with_the_same_data_order(tiny_model_dir, pairs_file, tmp_path) -> None:
    """3 steps straight vs 2 steps + resume: step 3 trains on the same pairs."""
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import GRPOConfig

    from j1.train.examples import assign_formats, build_examples, load_pairs
    from j1.train.grpo import PairGRPOTrainer

    rows = [e.row() for e in build_examples(assign_formats(load_pairs(pairs_file), {"pairwise_verdict": 1}))]

    def train(out: Path, steps: int, resume: bool) -> list[list[str]]:
        seen: list[list[str]] = []

        def recorder(prompts: list, completions: list, pair_id: list, **_: Any) -> list[float]:
            seen.append(sorted(set(pair_id)))
            return [0.0] * len(prompts)

        args = GRPOConfig(output_dir=str(out), use_cpu=True, bf16=False, num_generations=2, per_device_train_batch_size=4,
                          max_completion_length=4, max_steps=steps, report_to="none", save_steps=1,
                          gradient_checkpointing=False, num_train_epochs=1)  # fmt: skip
        tok = AutoTokenizer.from_pretrained(tiny_model_dir, padding_side="left")
        trainer = PairGRPOTrainer(model=str(tiny_model_dir), reward_funcs=[recorder], args=args,
                                  train_dataset=Dataset.from_list(rows), processing_class=tok)  # fmt: skip
        trainer.train(resume_from_checkpoint=str(out / "checkpoint-2") if resume else None)
        return seen

    straight = train(tmp_path / "a", 3, False)
    train(tmp_path / "b", 2, False)
    resumed = train(tmp_path / "b", 3, True)
    assert len(straight) == 3 and len({tuple(s) for s in straight}) > 1
    assert resumed == straight[2:]


@pytest.mark.slow
def test_master_weights_stay_float32_and_a_1e6_step_moves_them(
    tiny_model_dir, pairs_file, tmp_path, j1_env
) -> None:
    """2 CPU processes (data parallel), bf16 compute, lr 1e-6: the optimizer holds float32 weights and
    float32 AdamW moments (the manifest's `precision`, read off the optimizer at the first step), and one
    step changes the trainable weights. (On CPU accelerate runs an FSDP or ZeRO config as plain data
    parallelism, so their sharded float32 masters are checked on GPUs only; the recipes load float32.)"""
    launch = "cpu_2proc.yaml"
    import subprocess
    import sys

    from safetensors.torch import load_file

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "run"
    # SFT: its loss moves every step whatever the tiny model writes (GRPO's advantages are 0 when no
    # rollout parses); the optimizer, accelerate and precision path is the one GRPO uses
    sets = [f"model={tiny_model_dir}", f"data.path={pairs_file}", f"out={out}", *FAST, "algo=sft",
            "sft.bf16=true", "sft.learning_rate=1e-6", "sft.max_steps=1", "sft.per_device_train_batch_size=2",
            "heldout_eval.enabled=false"]  # fmt: skip
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(root / "train/accelerate" / launch),
    ]
    cmd += ["-m", "j1.train", *(x for s in sets for x in ("--set", s))]
    proc = subprocess.run(cmd, env=j1_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["precision"] == {
        "weights": ["float32"], "optimizer_states": ["float32"], "compute": "bf16", "distributed": "MULTI_CPU x 2"
    }  # fmt: skip
    before, after = (
        load_file(tiny_model_dir / "model.safetensors"),
        load_file(out / "judge" / "model.safetensors"),
    )
    moved = [k for k in before if k in after and not torch_equal(before[k], after[k])]
    assert moved, "a step of lr 1e-6 left every weight as it was"
    assert all(after[k].dtype == before[k].dtype for k in moved)


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a.float(), b.float()))


def test_resume_before_the_first_checkpoint_starts_over(tmp_path: Path, caplog) -> None:
    """A run killed after its trainer made `checkpoints/` but before the first save: `--resume` starts again
    from step 0 (the crash harness's rerun), and the stopped run's metrics records are dropped; `--resume` on
    a folder no run has trained in is still an error."""
    from j1.train.callbacks import truncate_metrics
    from j1.train.session import resume_checkpoint

    with pytest.raises(J1Error, match="no checkpoint in"):
        resume_checkpoint(tmp_path / "fresh" / "checkpoints", resume=True)
    (tmp_path / "killed" / "checkpoints").mkdir(parents=True)
    with caplog.at_level("WARNING"):
        assert resume_checkpoint(tmp_path / "killed" / "checkpoints", resume=True) is None
    assert "starting again from step 0" in caplog.text
    log = tmp_path / "killed" / "metrics.jsonl"
    log.write_text('{"step": 1, "loss": 0.5}\n{"step": 0, "precision": {}}\n')
    truncate_metrics(log, 0)
    assert log.read_text() == '{"step": 0, "precision": {}}\n'
