"""Train a policy with TRL's GRPO, rewarded by a served j1 judge.

The judge ranks each group of G rollouts by comparing them with each other (`j1.group`: a schedule of
pairwise comparisons, every one in both orders; win rate or Bradley-Terry), so no reference answer is
needed. On math prompts a rule verifier checks the same rollouts, and the run logs how often the judge's
ranking agrees with it (`judge/verifier_agreement`): whether the judge could stand in where no verifier
exists. Every step's reward, judge calls per rollout and judge seconds go to `OUT/metrics.jsonl`.

    j1 serve --judge runs/train/judge &
    python examples/policy_grpo.py --recipe examples/policy_grpo.yaml --judge-url http://127.0.0.1:8000

A rerun on the same `--out` continues from the last checkpoint.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from j1.config import load_config
from j1.group import cached, client_judge, group_reward

log = logging.getLogger("policy_grpo")
RECIPE = Path(__file__).with_suffix(".yaml")


@dataclass
class Prompts:
    math: int = 48  # procedural problems with exact answers
    math_levels: list[int] = field(default_factory=lambda: [1])
    math_system: str | None = "synth_math_brief_v1"  # a j1 prompt template asking for a short boxed answer
    chat: int = 16  # embedded chat instructions
    seed: int = 0


@dataclass
class Reward:
    schedule: str = "regular"
    k: int = 2
    scoring: str = "winrate"
    verifier: str | None = "rule"  # measured only (judge/verifier_agreement)
    batch_size: int = 32
    timeout: float = 300.0
    api_key: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # per-request judge options, e.g. max_tokens


@dataclass
class PolicyRun:
    out: str = "runs/policy"
    policy: str = "smollm2-135m"
    judge_url: str = "http://127.0.0.1:8000"
    prompts: Prompts = field(default_factory=Prompts)
    reward: Reward = field(default_factory=Reward)
    grpo: dict[str, Any] = field(default_factory=dict)  # trl.GRPOConfig keys


def prompt_rows(p: Prompts) -> list[dict[str, Any]]:
    """Math problems (with their reference answer, seen only by the verifier) interleaved with chat
    instructions (reference None)."""
    from j1.data_synthesis.embedded_instructions import instruction_rows
    from j1.data_synthesis.procedural import generate_problems
    from j1.templates import render

    system = [{"role": "system", "content": render(p.math_system)}] if p.math_system else []
    math = [
        {"prompt": [*system, {"role": "user", "content": r["question"]}], "reference_answer": r["answer"]}
        for r in generate_problems(p.math, seed=p.seed, levels=p.math_levels)
    ] if p.math else []  # fmt: skip
    chat = [
        {"prompt": [{"role": "user", "content": r["instruction"]}], "reference_answer": None}
        for r in instruction_rows()[: p.chat]
    ]
    rows = []
    for n in range(max(len(math), len(chat))):
        rows += math[n : n + 1] + chat[n : n + 1]
    return rows


def run(cfg: PolicyRun, command: str) -> Path:
    from datasets import Dataset
    from transformers.trainer_utils import get_last_checkpoint
    from trl import GRPOConfig, GRPOTrainer

    from j1.client import JudgeClient
    from j1.manifest import RunManifest
    from j1.models import resolve_model
    from j1.train.callbacks import MetricsCallback
    from j1.train.config import resolve_bf16
    from j1.train.session import checkpoint_step
    from j1.train.vllm_sync import close_colocated, cpu_colocate

    out = Path(cfg.out)
    client = JudgeClient(cfg.judge_url, api_key=cfg.reward.api_key, timeout=cfg.reward.timeout)
    judge = cached(client_judge(client, batch_size=cfg.reward.batch_size, **cfg.reward.options))
    r = cfg.reward  # its names are checked here, the judge's health next: both before any compute
    reward = group_reward(judge, r.schedule, r.scoring, r.k, verifier=r.verifier)
    log.info("judge at %s: %s", cfg.judge_url, client.health())
    rows = prompt_rows(cfg.prompts)
    policy = resolve_model(cfg.policy)
    args = {"logging_steps": 1, "report_to": [], "seed": cfg.prompts.seed, **cfg.grpo}
    resolve_bf16(args)
    with RunManifest(out, command, cfg) as manifest:  # one writer per folder: a second run fails at once
        manifest.add_model("policy", policy)
        checkpoints = out / "checkpoints"
        last = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None  # a rerun continues
        targs = GRPOConfig(output_dir=str(checkpoints), **args)
        with cpu_colocate(targs) as finish:  # vLLM rollouts on CPU need j1's engine settings; on GPUs TRL's
            trainer = GRPOTrainer(
                model=policy,
                reward_funcs=[reward],
                args=targs,
                train_dataset=Dataset.from_list(rows),
                callbacks=[
                    MetricsCallback(
                        out / "metrics.jsonl", resume_step=checkpoint_step(last) if last else None
                    )
                ],
            )
        finish(trainer)
        trainer.train(resume_from_checkpoint=last)
        trainer.save_model(str(out / "policy"))
        close_colocated(trainer)
        steps = [r for r in trainer.state.log_history if "reward" in r]
        manifest.counts.update({"prompts": len(rows), "steps": trainer.state.global_step})
        manifest.extra["summary"] = summary(steps)
    client.close()
    return out


def summary(steps: list[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    """The run in a few numbers: reward per step, judge calls and seconds, the verifier's correct rate per
    step, and the judge's agreement with the verifier pooled over steps (weighted by the rollout pairs the
    verifier separated), with a 95% bootstrap CI over steps."""
    import random

    def pooled(rows: list[dict[str, Any]]) -> float | None:
        n = sum(r.get("judge/verifier_pairs", 0) for r in rows)
        agree = sum(r.get("judge/verifier_agreement", 0) * r.get("judge/verifier_pairs", 0) for r in rows)
        return agree / n if n else None

    pairs = sum(s.get("judge/verifier_pairs", 0) for s in steps)
    rng, measured = random.Random(seed), [s for s in steps if s.get("judge/verifier_pairs")]
    boots = sorted(
        v for _ in range(2000) if (v := pooled(rng.choices(measured, k=len(measured)))) is not None
    )
    ci = (
        [round(boots[int(0.025 * len(boots))], 4), round(boots[int(0.975 * len(boots)) - 1], 4)]
        if boots
        else None
    )
    return {
        "reward_per_step": [None if s["reward"] is None else round(s["reward"], 4) for s in steps],
        "judge_calls_per_rollout": round(sum(s.get("judge/calls_per_rollout", 0) for s in steps) / max(len(steps), 1), 2),
        "judge_seconds": round(sum(s.get("judge/seconds", 0) for s in steps), 1),
        "verifier_correct_rate": [s.get("verifier/correct_rate") for s in steps],
        "verifier_pairs": int(pairs),
        "verifier_agreement": None if (a := pooled(steps)) is None else round(a, 4),
        "verifier_agreement_ci95": ci,
        "steps_with_pairs": len(measured),
    }  # fmt: skip


def main(
    recipe: Annotated[Path, typer.Option(help="The run's YAML recipe.")] = RECIPE,
    judge_url: Annotated[str | None, typer.Option(help="The served judge (overrides the recipe).")] = None,
    out: Annotated[str | None, typer.Option(help="Output folder (overrides the recipe).")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="Recipe override, e.g. grpo.max_steps=2.")] = [],  # noqa: B006
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    overrides = [*set_, *([f"judge_url={judge_url}"] if judge_url else []), *([f"out={out}"] if out else [])]
    cfg = load_config(PolicyRun, recipe, overrides)
    folder = run(cfg, command=f"python examples/policy_grpo.py --recipe {recipe}")
    print(json.dumps(json.loads((folder / "manifest.json").read_text())["summary"]))


if __name__ == "__main__":
    typer.run(main)
