"""Benchmark j1's GRPO step against a bare `trl.GRPOTrainer` on the same model, data, rewards and settings.

Both legs run in this one invocation, each in its own subprocess (so each has its own peak memory), one
after the other, `--repeats` times alternating (machine drift hits both): `j1` is `j1.train.run.run`
(pair sampler, registry rewards, metrics JSONL callback); `trl` is the stock GRPOTrainer with TRL's
RepeatSampler on the very same rendered judge prompts and the same reward functions (the consistency
reward scores 0 where TRL's sampler split a pair's orders, since it cannot pair them). Step time is TRL's
own `step_time` metric, averaged over the steps after the first (warm-up). The last line printed is one
JSON object with `step_time_ratio_vs_trl` (j1 / trl, target <= 1.05) and the peak RSS of both legs.

    .venv/bin/python bench/train.py                       # SmolLM2-135M, 6 steps x 2 repeats
    .venv/bin/python bench/train.py --tiny --steps 3      # a tiny model built in code (smoke)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

LEGS = ("j1", "trl")


def make_pairs(path: Path, n: int) -> Path:
    rows = []
    for i in range(n):
        a, b = 11 + 7 * i % 80, 3 + 5 * i % 60
        rows.append(
            {
                "source": "math",
                "prompt": f"What is {a} + {b}?",
                "chosen": f"{a} + {b} = {a + b}.",
                "rejected": f"{a} + {b} = {a + b + 1 + i % 9}.",
            }  # fmt: skip
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def settings(args: argparse.Namespace, model: str, pairs: Path, out: Path) -> list[str]:
    return [
        f"model={model}",
        f"data.path={pairs}",
        f"out={out}",
        "data.heldout_fraction=0",
        "tensorboard=false",
        "heldout_eval.enabled=false",
        "grpo.use_cpu=true",
        f"grpo.bf16={str(args.bf16).lower()}",
        f"grpo.max_steps={args.steps}",
        f"grpo.num_generations={args.generations}",
        f"grpo.per_device_train_batch_size={args.batch}",
        f"grpo.max_completion_length={args.max_completion_length}",
        "grpo.save_strategy='no'",  # quoted: YAML reads a bare no as false
        "grpo.shuffle_dataset=true",
    ]


def lenient_consistency(prompts: list, completions: list, **cols: Any) -> list[float | None]:
    """position_consistency where both orders happen to be in the batch, 0 elsewhere (TRL's sampler)."""
    from j1 import J1Error
    from j1.train.rewards import position_consistency

    try:
        return position_consistency(prompts, completions, **cols)
    except J1Error:
        return [0.0] * len(prompts)


lenient_consistency.__name__ = "position_consistency"


def child(leg: str, overrides: list[str]) -> dict[str, Any]:
    from j1.config import load_config
    from j1.train.callbacks import peak_rss_bytes, read_metrics
    from j1.train.run import TrainConfig
    from j1.train.run import run as j1_run

    cfg = load_config(TrainConfig, None, overrides)
    if leg == "j1":
        out = j1_run(cfg, command="bench/train.py")
        times = [
            r["step_time"] for r in read_metrics(out / "metrics.jsonl") if r.get("step_time") is not None
        ]
    else:
        times = bare_trl(cfg)
    peak_mb = peak_rss_bytes() / 2**20
    return {"leg": leg, "step_times": times, "peak_rss_mb": round(peak_mb, 1)}


def bare_trl(cfg: Any) -> list[float]:
    """Stock TRL on the examples j1 would train on: same prompts, rewards, GRPOConfig, metrics log."""
    from datasets import Dataset
    from trl import GRPOTrainer

    from j1.train.callbacks import MetricsCallback, read_metrics
    from j1.train.grpo import grpo_args
    from j1.train.rewards import verdict
    from j1.train.session import prepare

    session = prepare(cfg, {}, write=False)
    args, _ = grpo_args(cfg, str(Path(cfg.out) / "checkpoints"))
    trainer = GRPOTrainer(
        model=session.model_path,
        reward_funcs=[verdict, lenient_consistency],
        args=args,
        train_dataset=Dataset.from_list(session.rows()),
        processing_class=session.tokenizer,
        callbacks=[MetricsCallback(Path(cfg.out) / "metrics.jsonl")],
    )
    trainer.train()
    return [
        r["step_time"]
        for r in read_metrics(Path(cfg.out) / "metrics.jsonl")
        if r.get("step_time") is not None
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--tiny", action="store_true", help="build a tiny model in code instead (smoke test)")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--pairs", type=int, default=48)
    p.add_argument("--generations", type=int, default=4)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--max-completion-length", type=int, default=64)
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--child", choices=LEGS, help=argparse.SUPPRESS)
    p.add_argument("--set", action="append", default=[], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.set)), flush=True)
        return
    with tempfile.TemporaryDirectory(prefix="j1-bench-train-") as tmp:
        work = Path(tmp)
        model = args.model
        if args.tiny:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
            from conftest import build_tiny_model

            model = str(build_tiny_model(work / "tiny"))
        pairs = make_pairs(work / "pairs.jsonl", args.pairs)
        results: dict[str, list[dict[str, Any]]] = {leg: [] for leg in LEGS}
        for rep in range(args.repeats):
            for leg in LEGS if rep % 2 == 0 else LEGS[::-1]:
                sets = settings(args, model, pairs, work / f"{leg}-{rep}")
                cmd = [sys.executable, __file__, "--child", leg, *(x for s in sets for x in ("--set", s))]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    sys.exit(f"{leg} leg failed:\n{proc.stderr[-3000:]}")
                res = json.loads(proc.stdout.strip().splitlines()[-1])
                results[leg].append(res)
                print(json.dumps({"repeat": rep, **res}), flush=True)

    def step_time(leg: str) -> float:
        return statistics.mean(t for r in results[leg] for t in r["step_times"][1:] or r["step_times"])

    j1_t, trl_t = step_time("j1"), step_time("trl")
    print(
        json.dumps(
            {
                "model": model if not args.tiny else "tiny",
                "steps": args.steps,
                "repeats": args.repeats,
                "rollouts_per_step": args.batch,
                "j1_step_time_s": round(j1_t, 3),
                "trl_step_time_s": round(trl_t, 3),
                "j1_peak_rss_mb": max(r["peak_rss_mb"] for r in results["j1"]),
                "trl_peak_rss_mb": max(r["peak_rss_mb"] for r in results["trl"]),
                "step_time_ratio_vs_trl": round(j1_t / trl_t, 3),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
