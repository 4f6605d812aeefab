"""`j1 train`: a thinking judge from preference pairs (GRPO, SFT, DPO or semi-online DPO).

Reads top to bottom: load the config -> `check` (every stage's settings, before compute) -> the warm start
(`warm_start`: an SFT stage in `out/warm`, reused when finished) -> `prepare` (names, pairs, held-out split, both-order examples,
token budget, resume state: every bad input fails here, before compute) -> the algorithm from the registry
(TRL's trainer does the work; checkpoints in `out/checkpoints`, per-step metrics in `out/metrics.jsonl`
and `out/tensorboard`) -> the judge saved as an HF folder `out/judge` -> greedy held-out evaluation, both
orders -> model card + manifest.

Under `accelerate launch` every process runs this; only rank 0 writes the manifest, card and evaluation.

    j1 train --data runs/synth/pairs.jsonl --out runs/judge     # warm start + GRPO
    j1 train --recipe train/recipes/cpu_default.yaml
    j1 train --algo sft --out runs/warm                          # a warm start alone
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

from j1 import J1Error
from j1.config import to_dict
from j1.lock import folder_lock
from j1.manifest import RunManifest, fingerprint, read_manifest
from j1.models import resolve_model
from j1.train.callbacks import read_metrics
from j1.train.config import GRPO_DEFAULTS, TrainConfig, WarmStartConfig
from j1.train.modelcard import save_judge, write_card
from j1.train.session import (
    Session,
    TrainResult,
    check_names,
    check_trainable_layers,
    free_trainer,
    is_main_process,
    prepare,
)

__all__ = ["ALGORITHMS", "TrainConfig", "run"]

log = logging.getLogger(__name__)

ALGORITHMS: dict[str, str] = {
    "grpo": "j1.train.grpo:train",
    "sft": "j1.train.sft:train",
    "dpo": "j1.train.dpo:train_offline",
    "semi-online-dpo": "j1.train.dpo:train_semi_online",
}


def algorithm(name: str) -> Callable[[Session], TrainResult]:
    module, _, fn = ALGORITHMS[name].partition(":")
    return getattr(importlib.import_module(module), fn)


class _NoManifest:
    """Stands in for RunManifest on ranks other than 0."""

    def __init__(self) -> None:
        self.counts: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}

    def __enter__(self) -> _NoManifest:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def add_model(self, *a: Any) -> None:
        return None

    def add_data(self, *a: Any) -> None:
        return None

    def write(self, *a: Any, **k: Any) -> None:
        return None


def completion_budget(cfg: TrainConfig) -> int:
    if cfg.heldout_eval.max_tokens is not None:
        return cfg.heldout_eval.max_tokens
    if cfg.algo == "grpo":
        return int({**GRPO_DEFAULTS, **cfg.grpo}["max_completion_length"])
    return cfg.traces.max_tokens


def heldout_metrics(session: Session, judge_dir: Path) -> dict[str, Any] | None:
    from j1.train.evaluate import evaluate

    cfg = session.cfg
    if not cfg.heldout_eval.enabled:
        return None
    if not session.heldout_pairs:
        log.warning("no held-out pairs (data.heldout_fraction=0): the judge is not evaluated")
        return None
    pairs = (
        session.heldout_pairs[: cfg.heldout_eval.limit] if cfg.heldout_eval.limit else session.heldout_pairs
    )
    return evaluate(
        str(judge_dir),
        pairs,
        cfg.mixture_of_formats(),
        session.tokenizer,
        cfg.data,
        session.out / "heldout_eval",
        seed=cfg.seed,
        backend=cfg.heldout_eval.backend,
        max_tokens=completion_budget(cfg),
        options=cfg.heldout_eval.options,
    )


def last_step_metrics(out: Path) -> dict[str, Any]:
    """The last logged values of the judge metrics and rewards (for the card)."""
    last: dict[str, Any] = {}
    for rec in read_metrics(out / "metrics.jsonl"):
        for k, v in rec.items():
            if v is not None and (
                k.startswith(("judge/", "rewards/")) or k in ("reward", "kl", "loss", "step")
            ):
                last[k] = v
    return last


def previous_data(out: Path) -> str | None:
    """The pairs fingerprint recorded by the run a `--resume` continues (None if unknown)."""
    m = read_manifest(out) or {}
    return m.get("data", {}).get("pairs", {}).get("fingerprint")


def check(cfg: TrainConfig, model_path: str) -> None:
    """Every setting the stage reads, validated before any compute: names, layers, traces and the trainer
    section (built into its TRL config)."""
    from j1.train.plan import check_fits, check_precision
    from j1.train.sft import check_traces

    check_names(cfg)
    check_trainable_layers(cfg, model_path)
    check_traces(cfg.traces)
    check_precision(cfg)
    checkpoints = str(Path(cfg.out) / "checkpoints")
    if cfg.algo == "grpo":
        from j1.train.grpo import grpo_args

        grpo_args(cfg, checkpoints)
    elif cfg.algo == "sft":
        from trl import SFTConfig

        from j1.train.config import SFT_DEFAULTS, trainer_args

        trainer_args(SFTConfig, cfg, "sft", SFT_DEFAULTS, checkpoints)
    else:
        from j1.train.dpo import check_dpo

        check_dpo(cfg, checkpoints)
    check_fits(cfg, model_path)  # on GPUs: the memory plan for the machine it was launched on


def warm_start_config(cfg: TrainConfig) -> TrainConfig:
    """The warm start's own `j1 train` config: SFT with `warm_start.traces` and `warm_start.sft` into
    `out/warm`, on the same pairs and split, no held-out evaluation of its own."""
    w = cfg.warm_start
    return replace(
        cfg,
        algo="sft",
        out=str(Path(cfg.out) / "warm"),
        traces=w.traces,
        sft=w.sft,
        warm_start=WarmStartConfig(enabled=False),
        heldout_eval=replace(cfg.heldout_eval, enabled=False),
        time_limit_minutes=None,
        resume=cfg.resume and (Path(cfg.out) / "warm" / "checkpoints").is_dir(),
    )


def finished(cfg: TrainConfig) -> bool:
    """`cfg.out` holds a finished run of this config (whether it was resumed on the way aside)."""
    m = read_manifest(cfg.out)
    if m is None:
        return False
    done, want = m.get("config") or {}, json.loads(json.dumps(to_dict(cfg)))
    return m.get("status") == "ok" and {**done, "resume": None} == {**want, "resume": None}


def run(cfg: TrainConfig, command: str = "j1 train") -> Path:
    check_names(cfg)
    model_path = resolve_model(cfg.model)
    warm = cfg.warm_start.enabled and cfg.algo != "sft"
    warm_cfg = warm_start_config(cfg) if warm else None
    # one writer for the whole run (warm start included): a second `j1 train` on this folder stops here,
    # before the checks below import the trainers and read the model (tens of seconds on a CPU)
    with folder_lock(cfg.out, command) if is_main_process() else nullcontext():
        for stage in (warm_cfg, cfg):
            if stage is not None:
                check(stage, model_path)  # every stage, before the first spends a second
        return _stages(cfg, warm_cfg, command)


def _stages(cfg: TrainConfig, warm_cfg: TrainConfig | None, command: str) -> Path:
    warm = warm_cfg is not None
    if warm_cfg is not None:
        if finished(warm_cfg):
            log.info("warm start: reusing the finished one in %s", warm_cfg.out)
        else:
            run(warm_cfg, command=f"{command} (warm start)")
        main_checkpoints = Path(cfg.out) / "checkpoints"
        cfg = replace(
            cfg,
            model=str(Path(warm_cfg.out) / "judge"),
            resume=cfg.resume and main_checkpoints.is_dir(),  # a run stopped in its warm start
        )
    out = Path(cfg.out)
    main = is_main_process()
    before = previous_data(out) if cfg.resume else None
    if before and Path(cfg.data.path).is_file() and before != fingerprint(cfg.data.path):
        raise J1Error(f"--resume: {cfg.data.path} is not the pairs file the run in {out} was trained on")
    with RunManifest(out, command, cfg) if main else _NoManifest() as manifest:
        session = prepare(cfg, manifest.counts, write=main)
        manifest.add_model("base", session.model_path)
        if warm:
            manifest.extra["warm_start"] = str(Path(cfg.out) / "warm")
        manifest.add_data("pairs", cfg.data.path)
        manifest.write("running")
        result = algorithm(cfg.algo)(session)
        judge_dir = save_judge(result.trainer, session.tokenizer, out / "judge", merge_lora=bool(cfg.lora))
        free_trainer(result)  # before the held-out evaluation starts its own engine
        if main:
            heldout = heldout_metrics(session, judge_dir)
            train_metrics = {**result.metrics, **last_step_metrics(out)}
            write_card(judge_dir, cfg, session.model_path, manifest.counts, train_metrics, heldout)
            manifest.extra.update(judge=str(judge_dir), train_metrics=train_metrics, heldout_metrics=heldout)
            log.info("judge saved to %s", judge_dir)
    return out
