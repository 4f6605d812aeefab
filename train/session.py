"""Everything a training algorithm needs, prepared and validated before any compute.

`prepare` resolves the model, loads its tokenizer (no weights), reads and validates the pairs, splits
off the held-out pairs (by prompt, seeded, written to `heldout.jsonl`), assigns formats (multitask),
renders both examples of every pair within the token budget, and checks the resume state. Any problem
raises a `J1Error` here, before a model is loaded or a token generated.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from j1 import J1Error
from j1.models import resolve_model
from j1.pairs import Pair
from j1.train.callbacks import (
    DeadlineCallback,
    MetricsCallback,
    PrecisionCallback,
    tensorboard_callback,
    truncate_metrics,
)
from j1.train.config import ALGOS, MULTITASK, TrainConfig
from j1.train.examples import (
    JudgeExample,
    TokenBudget,
    assign_formats,
    build_examples,
    load_pairs,
    split_heldout,
)

log = logging.getLogger(__name__)


@dataclass
class Session:
    cfg: TrainConfig
    out: Path
    model_path: str
    tokenizer: Any
    train_pairs: list[Pair]
    heldout_pairs: list[Pair]
    examples: list[JudgeExample]
    counts: dict[str, Any] = field(default_factory=dict)
    resume_from: str | None = None
    started: float = field(default_factory=time.time)

    @property
    def checkpoints(self) -> Path:
        return self.out / "checkpoints"

    @property
    def pairs_by_id(self) -> dict[str, Pair]:
        return {p.id: p for p in self.train_pairs}

    def rows(self) -> list[dict[str, Any]]:
        return [e.row() for e in self.examples]

    def callbacks(self, stage: str = "", step_offset: int = 0) -> list[Any]:
        step = checkpoint_step(self.resume_from) if self.resume_from else None
        metrics = MetricsCallback(
            self.out / "metrics.jsonl", resume_step=step, stage=stage, step_offset=step_offset
        )
        cbs: list[Any] = [metrics, PrecisionCallback(self.counts)]
        if self.cfg.time_limit_minutes is not None:
            cbs.append(DeadlineCallback(self.started + 60 * self.cfg.time_limit_minutes))
        if self.cfg.tensorboard and is_main_process():  # one event file, written by rank 0
            cbs.append(tensorboard_callback(self.out / "tensorboard"))
        return cbs

    def past_deadline(self) -> bool:
        """`time_limit_minutes` has run out (algorithms with their own loop check it between rounds)."""
        limit = self.cfg.time_limit_minutes
        return limit is not None and time.time() > self.started + 60 * limit

    def train(self, trainer: Any) -> dict[str, Any]:
        """`trainer.train()`, resumed from the last checkpoint when there is one. A run stopped after its
        last step (killed while its judge was saved or evaluated) is not trained again: resumed at
        `max_steps`, transformers takes one step past it; the checkpoint's weights are loaded instead."""
        done = checkpoint_step(self.resume_from) if self.resume_from else 0
        if self.resume_from and 0 < trainer.args.max_steps <= done:
            log.info("resume: %s already holds the last step (%d); loading it", self.resume_from, done)
            trainer._load_from_checkpoint(self.resume_from)
            return {}
        return dict(trainer.train(resume_from_checkpoint=self.resume_from).metrics)

    def freeze(self, model: Any) -> Any:
        """Apply `trainable_layers` to a loaded model (before its trainer builds the optimizer)."""
        if self.cfg.trainable_layers is not None:
            freeze_lower_layers(model, self.cfg.trainable_layers)
        return model

    def peft_config(self) -> Any:
        if not self.cfg.lora:
            return None
        try:
            from peft import LoraConfig
        except ImportError as e:
            raise J1Error("lora is set but peft is not installed: `pip install peft`") from e
        return LoraConfig(**{"task_type": "CAUSAL_LM", **self.cfg.lora})


@dataclass
class TrainResult:
    """What an algorithm hands back: its (last) trainer, whose model is the judge, and final metrics."""

    trainer: Any
    metrics: dict[str, Any] = field(default_factory=dict)


def free_trainer(result: TrainResult) -> None:
    """Hand the trainer's memory back once its judge is saved, so the held-out evaluation's own engine
    (vLLM at most of a GPU) does not start beside the model, its optimizer states and TRL's colocated
    vLLM engine (`trainer.llm`)."""
    import gc

    import torch

    trainer, result.trainer = result.trainer, None
    if trainer is not None:
        for name in ("llm", "model", "ref_model", "optimizer", "lr_scheduler", "model_wrapped"):
            if hasattr(trainer, name):
                setattr(trainer, name, None)
        accelerator = getattr(trainer, "accelerator", None)
        if accelerator is not None:
            accelerator.free_memory()
    del trainer
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def decoder_layers(model: Any) -> tuple[str, int]:
    """(parameter-name prefix, count) of the model's stack of decoder layers: the module list as long as
    `config.num_hidden_layers` (Llama-like `model.layers`, GPT-2 `transformer.h`, ...)."""
    import torch

    n = getattr(model.config, "num_hidden_layers", None)
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n:
            return name, n
    raise J1Error(f"{type(model).__name__}: no list of {n} decoder layers found; unset trainable_layers")


def freeze_lower_layers(model: Any, trainable: int) -> dict[str, int]:
    """Train only the top `trainable` decoder layers and the norms above them (the final norm); freeze the
    embeddings (and a head tied to them) and every lower layer. The backward pass then stops at the lowest
    trainable layer, so a step costs less; the optimizer holds only the trainable parameters."""
    prefix, n = decoder_layers(model)  # 1 <= trainable <= n: checked by `check_trainable_layers`
    top = tuple(f"{prefix}.{i}." for i in range(n - trainable, n))
    counts = {"trainable": 0, "frozen": 0}
    for name, param in model.named_parameters():
        in_stack = name.startswith(prefix + ".")
        keep = name.startswith(top) or (not in_stack and "norm" in name.rsplit(".", 2)[-2])
        param.requires_grad_(keep)
        counts["trainable" if keep else "frozen"] += param.numel()
    log.info(
        "trainable_layers=%d: %.1fM parameters train, %.1fM frozen",
        trainable,
        counts["trainable"] / 1e6,
        counts["frozen"] / 1e6,
    )
    return counts


def is_main_process() -> bool:
    """Rank 0 under torchrun / accelerate launch (which set RANK), or a single process."""
    return int(os.environ.get("RANK", "0")) == 0


def checkpoint_step(path: str) -> int:
    state = Path(path) / "trainer_state.json"
    return int(json.loads(state.read_text())["global_step"]) if state.is_file() else 0


def load_judge_tokenizer(model_path: str, padding_side: str = "left") -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path, padding_side=padding_side)
    if not getattr(tok, "chat_template", None):
        raise J1Error(f"{model_path}: the tokenizer has no chat template; a judge needs one")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def resume_checkpoint(checkpoints: Path, resume: bool) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    if resume and last is None:
        if checkpoints.is_dir():  # the run was stopped after its trainer started, before its first save
            log.warning("--resume: %s holds no checkpoint yet: starting again from step 0", checkpoints)
            return None
        raise J1Error(f"--resume: no checkpoint in {checkpoints} to continue from")
    if not resume and last is not None:
        raise J1Error(
            f"{checkpoints} holds checkpoints of an earlier run: pass --resume to continue it, or use another --out"
        )
    return last


def write_pairs(path: Path, pairs: list[Pair]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(json.dumps(p.to_dict(), ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8"
    )


def check_names(cfg: TrainConfig) -> None:
    """Unknown algorithm, format or reward names fail first, with the valid ones."""
    from j1.formats import get_format
    from j1.train.rewards import get_reward

    if cfg.algo not in ALGOS:
        raise J1Error(f"unknown algorithm {cfg.algo!r}; valid algorithms: {', '.join(ALGOS)}")
    if cfg.format != MULTITASK:
        get_format(cfg.format)
    for name in cfg.mixture_of_formats():
        if get_format(name).prefill:
            raise J1Error(
                f"format {name} is the judge that does not think (its verdict is prefilled to come "
                "first): j1 train trains thinking judges; judge with it in j1 eval or j1 serve"
            )
    for name in cfg.rewards:
        get_reward(name)


def check_trainable_layers(cfg: TrainConfig, model_path: str) -> None:
    """`trainable_layers`: at least 1, at most the model's layers (read from its config, no weights), and
    not together with `lora`."""
    k = cfg.trainable_layers
    if k is None:
        return
    if cfg.lora:
        raise J1Error("trainable_layers and lora both choose what trains; set one of them")
    if k < 1:
        raise J1Error(f"trainable_layers must be >= 1 (or unset for all layers), not {k}")
    from transformers import AutoConfig

    n = getattr(AutoConfig.from_pretrained(model_path), "num_hidden_layers", None)
    if n is not None and k > n:
        raise J1Error(f"trainable_layers={k}, but {cfg.model} has {n} decoder layers")


def prepare(cfg: TrainConfig, counts: dict[str, Any], *, write: bool = True) -> Session:
    check_names(cfg)
    out = Path(cfg.out)
    resume_from = resume_checkpoint(out / "checkpoints", cfg.resume)
    if cfg.resume and resume_from is None and write:  # starting over: the stopped run's records go
        truncate_metrics(out / "metrics.jsonl", 0)
    model_path = resolve_model(cfg.model)
    tokenizer = load_judge_tokenizer(model_path)
    check_trainable_layers(cfg, model_path)
    pairs = load_pairs(cfg.data.path, skip_bad=cfg.data.skip_bad, counts=counts)
    train, heldout = split_heldout(
        pairs, fraction=cfg.data.heldout_fraction, size=cfg.data.heldout_size, seed=cfg.seed
    )
    if cfg.data.limit is not None and cfg.data.limit < len(train):
        chosen = set(p.id for p in random.Random(cfg.seed).sample(train, cfg.data.limit))
        train = [p for p in train if p.id in chosen]
    counts.update(train_pairs=len(train), heldout_pairs=len(heldout))
    if write:
        write_pairs(out / "heldout.jsonl", heldout)
    assigned = assign_formats(train, cfg.mixture_of_formats(), seed=cfg.seed)
    examples = build_examples(
        assigned,
        TokenBudget(tokenizer, cfg.data.truncate_side),
        cfg.data.max_prompt_tokens,
        cfg.data.overlong,
        counts,
    )
    by_format: dict[str, int] = {}
    for e in examples:
        by_format[e.format] = by_format.get(e.format, 0) + 1
    counts["examples_by_format"] = by_format
    log.info(
        "%d training pairs -> %d judge examples %s; %d held-out pairs",
        len(train),
        len(examples),
        by_format,
        len(heldout),
    )
    return Session(cfg, out, model_path, tokenizer, train, heldout, examples, counts, resume_from)
