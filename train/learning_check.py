"""The learning check: proof that j1's GRPO loop makes a small judge better, on a 2-core CPU in < 30 min.

Reads top to bottom: pairs from `j1 synth` on the embedded default (resumable, in `out/synth`) -> the
held-out pairs split off by prompt before anything is trained (the same split every stage makes) ->
judge them with the base model -> SFT warm start that teaches the output format (templated traces,
at most `max_warm_examples` <= 200 examples, one epoch) -> judge -> GRPO with the J1 rewards (both orders
in every batch, verdict + position-consistency rewards) until the time budget -> judge -> write
`learning_check.json`:

    {"base": {"consistent_accuracy": .., "parse_rate": .., ...}, "warm": {...}, "trained": {...},
     "reward_curve": [per-step mean reward], "targets": {...}, "timing_s": {...}, "data": {...}}

The pairs come first and are not on the clock (`j1 synth` is resumable and its output is reused by
reruns); `budget_minutes` covers what the issue times: the evaluations, the warm start and GRPO.

Every judge is scored by `j1 eval` itself: the held-out pairs, their responses cut to the training prompt
budget exactly as training cuts them, are written to `heldout.jsonl` and judged with the `pairs`
benchmark (greedy, both orders, beside the length and random baselines). Metrics are percentages:
`consistent_accuracy` (the benchmark's score, right in both orders), per-order accuracy, parse rate, flip
and tie rates. The figures are whatever the run gives.

`reference_epochs: N` (0 = off) adds, after the budgeted stages and off the clock, a supervised reference:
the warm start's recipe with traces that take the label's verdict (`label_policy: correct`) for N epochs,
judged the same way (`"reference"` in the result). It is what this model learns from these pairs when it
is told every answer: a GRPO run far below it is GRPO's shortfall; a reference near chance (25%) says the
pairs and the model leave nothing for GRPO to find either.

    python -m j1.train.learning_check [--recipe train/recipes/learning_check.yaml] [--set k=v ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any

from j1 import J1Error
from j1.config import build, load_config, to_dict
from j1.manifest import RunManifest
from j1.models import DEFAULT_MODEL, resolve_model
from j1.train.callbacks import read_metrics
from j1.train.config import DataConfig, TrainConfig
from j1.train.evaluate import BASELINES, evaluate
from j1.train.examples import load_pairs, split_heldout
from j1.train.session import load_judge_tokenizer

log = logging.getLogger(__name__)
MAX_WARM_EXAMPLES = 200  # the cap on the format warm start


@dataclass
class LearningCheckConfig:
    out: str = "runs/learning-check"
    model: str = DEFAULT_MODEL
    pairs: str | None = None  # a pairs file; None = run `j1 synth` on the embedded default into out/synth
    synth: list[str] = field(default_factory=list)  # --set overrides for that synth run
    seed: int = 0
    budget_minutes: float = 29.0  # evaluations + warm start + GRPO; GRPO gets what the others leave
    eval_reserve_minutes: float = 2.0  # kept for the last evaluation and writing the judge
    heldout_size: int = 16
    data: DataConfig = field(default_factory=DataConfig)
    eval_backend: str = "hf"
    eval_max_tokens: int = 128
    eval_baselines: list[str] = field(default_factory=lambda: list(BASELINES))
    warm: dict[str, Any] = field(default_factory=dict)  # TrainConfig keys of the SFT stage
    grpo: dict[str, Any] = field(default_factory=dict)  # TrainConfig keys of the GRPO stage
    reference_epochs: float = 0  # > 0: the supervised reference (label's traces, off the clock)


def synth_pairs(cfg: LearningCheckConfig, out: Path) -> Path:
    from importlib.resources import files

    from j1.data_synthesis.run import SynthConfig
    from j1.data_synthesis.run import run as synth

    recipe = files("j1.data_synthesis") / "recipes" / "default.yaml"
    scfg = load_config(SynthConfig, str(recipe), [f"out={out / 'synth'}", f"seed={cfg.seed}", *cfg.synth])
    return synth(scfg, command="j1 synth (learning check)") / "pairs.jsonl"


def stage_config(
    cfg: LearningCheckConfig, section: dict[str, Any], model: str, pairs: Path, out: Path
) -> TrainConfig:
    data = {**to_dict(cfg.data), "path": str(pairs), "heldout_size": cfg.heldout_size}
    base = {
        "model": model,
        "seed": cfg.seed,
        "out": str(out),
        "data": data,
        "heldout_eval": {"enabled": False},
    }
    return build(TrainConfig, {**base, **section}, source="learning check")


def reference_config(cfg: LearningCheckConfig, model: str, pairs: Path, out: Path) -> TrainConfig:
    """The warm start's recipe told the answers: label's verdicts in its traces (and learned: never masked),
    on every training pair (no example cap), `reference_epochs` epochs."""
    # every training pair (max_examples: the warm start's cap is the format check's, not the reference's)
    traces = {
        **cfg.warm.get("traces", {}),
        "label_policy": "correct",
        "mask_decision": False,
        "max_examples": None,
    }
    sft = {**cfg.warm.get("sft", {}), "num_train_epochs": cfg.reference_epochs}
    return stage_config(cfg, {"algo": "sft", **cfg.warm, "traces": traces, "sft": sft}, model, pairs, out)


def check_stages(
    cfg: LearningCheckConfig, pairs: Path, out: Path
) -> tuple[str, TrainConfig, TrainConfig | None, str]:
    """Every stage's config built and validated before any compute, synth included: returns (the base
    model's path, warm, reference or None, the judge format scored). The GRPO stage is checked as it will
    run, on the base model's config with the whole budget (names, rewards for its format, batch geometry,
    trainable layers)."""
    from j1.train.grpo import grpo_args
    from j1.train.session import check_names, check_trainable_layers
    from j1.train.sft import check_traces

    for key, section in (("warm", cfg.warm), ("grpo", cfg.grpo)):
        if "data" in section or "model" in section:
            raise J1Error(f"learning check: set data/model at the top level, not under {key}")
    if cfg.reference_epochs < 0:
        raise J1Error(f"reference_epochs={cfg.reference_epochs}: 0 (off) or a number of epochs")
    base_model = resolve_model(cfg.model)
    warm = stage_config(cfg, {"algo": "sft", **cfg.warm}, base_model, pairs, out / "warm")
    ref = reference_config(cfg, base_model, pairs, out / "reference") if cfg.reference_epochs else None
    if warm.traces.max_examples is None or warm.traces.max_examples > MAX_WARM_EXAMPLES:
        raise J1Error(
            f"the format warm start is capped at {MAX_WARM_EXAMPLES} examples (warm.traces.max_examples)"
        )
    if warm.sft.get("num_train_epochs", 1) > 1:
        raise J1Error("the format warm start trains at most one epoch (warm.sft.num_train_epochs <= 1)")
    grpo = stage_config(
        cfg,
        {"algo": "grpo", "time_limit_minutes": cfg.budget_minutes, **cfg.grpo},
        base_model,
        pairs,
        out / "grpo",
    )
    fmt = grpo.format
    if fmt == "multitask":
        raise J1Error("the learning check scores one judge format with j1 eval; set grpo.format to one")
    for stage in (warm, grpo, *([ref] if ref else [])):
        check_names(stage)
        check_traces(stage.traces)
    grpo_args(grpo, str(out / "grpo" / "checkpoints"))
    check_trainable_layers(grpo, base_model)
    return base_model, warm, ref, fmt


def reward_rises(curve: list[float]) -> bool | None:
    """Mean reward of the last third of the steps above the first third's."""
    if len(curve) < 3:
        return None
    k = len(curve) // 3
    return mean(curve[-k:]) > mean(curve[:k])


def run(cfg: LearningCheckConfig, command: str = "python -m j1.train.learning_check") -> Path:
    from j1.train.run import run as train

    out = Path(cfg.out)
    pairs = Path(cfg.pairs) if cfg.pairs else out / "synth" / "pairs.jsonl"
    base_model, warm_cfg, ref_cfg, fmt = check_stages(cfg, pairs, out)
    # a rerun starts the stages afresh (synth output is reused)
    for stage in ("warm", "grpo", "reference", "eval"):
        if (out / stage).exists():
            log.info("removing %s of a previous learning check", out / stage)
            shutil.rmtree(out / stage)
    with RunManifest(out, command, cfg) as manifest:
        timing: dict[str, float] = {}
        t = time.time()
        if not cfg.pairs:
            pairs = synth_pairs(cfg, out)
        timing["synth"] = time.time() - t
        t0 = time.time()  # the clock of the budget starts once the pairs exist
        deadline = t0 + 60 * cfg.budget_minutes
        manifest.add_model("base", base_model)
        manifest.add_data("pairs", pairs)
        all_pairs = load_pairs(pairs, skip_bad=cfg.data.skip_bad)
        train_pairs, held = split_heldout(all_pairs, size=cfg.heldout_size, seed=cfg.seed)
        tokenizer = load_judge_tokenizer(base_model)
        fitting: dict[str, Any] = {}
        manifest.counts.update(pairs=len(all_pairs), train_pairs=len(train_pairs), heldout_pairs=len(held))

        def judge(name: str, model: str) -> dict[str, Any]:
            t = time.time()
            m = evaluate(
                model, held, {fmt: 1.0}, tokenizer, cfg.data, out / "eval" / name, seed=cfg.seed,
                backend=cfg.eval_backend, max_tokens=cfg.eval_max_tokens, baselines=cfg.eval_baselines,
                counts=fitting if name == "base" else None,
            )  # fmt: skip
            timing[f"eval_{name}"] = time.time() - t
            return m

        result: dict[str, Any] = {"base": judge("base", base_model)}
        t = time.time()
        warm_dir = train(warm_cfg, command="j1 train (learning check: warm start)") / "judge"
        timing["warm_start"] = time.time() - t
        result["warm"] = judge("warm", str(warm_dir))
        left = (deadline - time.time()) / 60 - cfg.eval_reserve_minutes
        if left < 1:
            raise J1Error(
                f"no time left for GRPO within budget_minutes={cfg.budget_minutes} ({left:.1f} min)"
            )
        grpo_cfg = stage_config(
            cfg, {"algo": "grpo", "time_limit_minutes": left, **cfg.grpo}, str(warm_dir), pairs, out / "grpo"
        )
        t = time.time()
        grpo_out = train(grpo_cfg, command="j1 train (learning check: GRPO)")
        timing["grpo"] = time.time() - t
        result["trained"] = judge("trained", str(grpo_out / "judge"))
        curve = [r["reward"] for r in read_metrics(grpo_out / "metrics.jsonl") if r.get("reward") is not None]
        trained, warm = (
            result["trained"]["consistent_accuracy"] or 0.0,
            result["warm"]["consistent_accuracy"] or 0.0,
        )
        result["reward_curve"] = curve
        result["targets"] = {
            "trained_consistent_accuracy_ge_60": trained >= 60,
            "gain_over_warm_ge_10_points": trained - warm >= 10,
            "reward_rises": reward_rises(curve),
        }
        timing["budgeted"] = time.time() - t0
        if ref_cfg is not None:
            t = time.time()
            ref_dir = train(ref_cfg, command="j1 train (learning check: supervised reference)") / "judge"
            timing["reference_train"] = time.time() - t
            result["reference"] = {"epochs": cfg.reference_epochs, **judge("reference", str(ref_dir))}
        result["timing_s"] = {k: round(v, 1) for k, v in timing.items()}
        result["data"] = {
            "pairs": str(pairs),
            "train_pairs": len(train_pairs),
            "heldout_pairs": len(held),
            "heldout_fit": fitting,
            "grpo_steps": len(curve),
        }
        (out / "learning_check.json").write_text(json.dumps(result, indent=2) + "\n")
        manifest.extra["learning_check"] = result
        log.info(
            "consistent accuracy: base %s, warm %s, trained %s; %d GRPO steps in %.0f s",
            result["base"]["consistent_accuracy"],
            warm,
            trained,
            len(curve),
            timing["grpo"],
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m j1.train.learning_check", description=__doc__)
    parser.add_argument("--recipe", "-r", default=None)
    parser.add_argument("--set", "-s", action="append", default=[], dest="overrides")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(LearningCheckConfig, args.recipe, args.overrides)
        out = run(
            cfg, command=shlex.join(["python", "-m", "j1.train.learning_check", *(argv or sys.argv[1:])])
        )
    except J1Error as e:
        log.error("%s", e)
        return 2
    print((out / "learning_check.json").read_text())  # the CLI result, not library logging
    return 0


if __name__ == "__main__":
    sys.exit(main())
