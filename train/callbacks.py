"""Per-step metrics of every trainer: a JSONL log, a compact console line, TensorBoard.

TRL's trainers already compute the numbers (rewards per function, KL, entropy, completion lengths, and the
judge metrics our rewards report through `log_metric`); these callbacks only route each `on_log` record.
`metrics.jsonl` has one object per logging step, `{"step": .., "epoch": .., <metric>: ..}`, plus this
process's memory (`memory/rss_gb` now, `memory/peak_rss_gb` so far; with a colocated vLLM engine that
includes the engine and its CPU KV cache), so growth over a run shows step by step. On resume,
records after the checkpoint's step (written by the run that died) are dropped first, so the file reads
as one uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import math
import resource
import sys
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from j1 import J1Error

log = logging.getLogger(__name__)

# (key in the logs, short name on the console line); keys a trainer does not log are skipped.
CONSOLE = (
    ("reward", "reward"),
    ("rewards/verdict/mean", "verdict"),
    ("rewards/position_consistency/mean", "consistency"),
    ("rewards/pointwise_pair/mean", "pointwise"),
    ("judge/accuracy_ab", "acc_ab"),
    ("judge/accuracy_ba", "acc_ba"),
    ("judge/parse_rate_pairwise", "parse"),
    ("judge/parse_rate_pointwise", "parse_pt"),
    ("completions/mean_length", "len"),
    ("kl", "kl"),
    ("entropy", "entropy"),
    ("loss", "loss"),
    ("rewards/accuracies", "dpo_acc"),
    ("mean_token_accuracy", "tok_acc"),
    ("memory/rss_gb", "rss_gb"),
)


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far (getrusage: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def memory_gb() -> dict[str, float]:
    """Resident memory of this process now and its peak so far, in GiB."""
    import psutil

    return {
        "memory/rss_gb": round(psutil.Process().memory_info().rss / 2**30, 3),
        "memory/peak_rss_gb": round(peak_rss_bytes() / 2**30, 3),
    }


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def truncate_metrics(path: Path, last_step: int) -> None:
    """Drop records past `last_step` (a resumed run continues from its checkpoint)."""
    if not path.is_file():
        return
    kept = [
        ln
        for ln in path.read_text().splitlines()
        if ln.strip() and json.loads(ln).get("step", 0) <= last_step
    ]
    path.write_text("".join(ln + "\n" for ln in kept))


class MetricsCallback(TrainerCallback):
    def __init__(
        self, path: Path, resume_step: int | None = None, stage: str = "", step_offset: int = 0
    ) -> None:
        self.path = Path(path)
        self.stage = stage
        self.step_offset = step_offset  # trainers run back to back (semi-online rounds) continue the count
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None:
            truncate_metrics(self.path, resume_step)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        if not state.is_world_process_zero or not logs:
            return
        record = {"step": self.step_offset + state.global_step, "epoch": _clean(state.epoch)}
        if self.stage:
            record["stage"] = self.stage
        record |= {k: _clean(v) for k, v in logs.items()} | memory_gb()
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        parts = [
            f"{short} {v:.3g}" for key, short in CONSOLE if isinstance(v := record.get(key), int | float)
        ]
        if parts:
            log.info("step %d  %s", record["step"], "  ".join(parts))


class DeadlineCallback(TrainerCallback):
    """Stop training once the wall clock passes `deadline` (the trainer then saves as after its last step)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if time.time() >= self.deadline:
            log.info("time limit reached after step %d: stopping", state.global_step)
            control.should_training_stop = True
            control.should_save = True


class PrecisionCallback(TrainerCallback):
    """What the first optimizer step held, written to `record["precision"]` (the manifest's counts): the
    dtypes of the weights the optimizer updates and of its states, and the compute dtype; a run shows that
    its master weights and AdamW moments are float32 while it computes in bf16."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        import torch

        optimizer = kw.get("optimizer")
        if "precision" in self.record or optimizer is None:
            return
        opt = getattr(optimizer, "optimizer", optimizer)  # under accelerate's AcceleratedOptimizer

        def names(tensors: Any) -> list[str]:
            return sorted({str(t.dtype).removeprefix("torch.") for t in tensors})

        params = [p for g in opt.param_groups for p in g["params"]]
        states = [t for st in opt.state.values() for t in st.values() if torch.is_tensor(t) and t.dim() > 0]
        self.record["precision"] = {
            "weights": names(params),
            "optimizer_states": names(states),
            "compute": "bf16" if args.bf16 else "fp16" if args.fp16 else "float32",
            "distributed": _distributed_type(),
        }


def _distributed_type() -> str:
    from accelerate import PartialState

    state = PartialState()
    return f"{state.distributed_type.value} x {state.num_processes}"


def tensorboard_callback(log_dir: Path) -> TrainerCallback:
    """transformers' TensorBoard callback writing to `log_dir` (not the trainer's output_dir/runs)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        raise J1Error(
            "TensorBoard logging is on but tensorboard is not installed: `pip install tensorboard`, or set "
            "tensorboard=false"
        ) from e
    from transformers.integrations import TensorBoardCallback

    return TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(log_dir)))


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    p = Path(path)
    if not p.is_file():
        return []
    return [json.loads(ln) for ln in p.read_text().splitlines() if ln.strip()]
