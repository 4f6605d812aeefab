"""DPO on judge traces through `trl.DPOTrainer`: offline, and semi-online (Lanchantin et al. 2025).

A DPO pair is two traces for the same judge prompt: one whose verdict is right (chosen) and one whose
verdict is wrong (rejected), as EvalPlanner builds them; right and wrong are decided by the GRPO rewards
(`traces.mark_samples`). Prompts whose samples are all right or all wrong give no pair and are counted.

- offline (`dpo`): sample once with `traces.judge` (default: the model itself), then one DPOTrainer run;
  pairs cached in `out/dpo_pairs.jsonl` so `--resume` trains on the same data.
- semi-online (`semi-online-dpo`): every `semi_online.sync_steps` optimizer steps the *current* policy
  re-samples traces for the next `pairs_per_round` pair groups and the DPO pairs are rebuilt
  (`sync_steps=1` is online DPO). The reference model stays the initial model; the optimizer and LR
  schedule carry over rounds (one AdamW, one schedule over `rounds x sync_steps` steps); step numbers in
  `metrics.jsonl` run on across rounds. One process; no resume (a killed run restarts).
"""

from __future__ import annotations

import json
import logging
import random
from typing import Any

from j1 import J1Error
from j1.train.config import DPO_DEFAULTS, TrainConfig, trainer_args
from j1.train.examples import JudgeExample
from j1.train.session import Session, TrainResult
from j1.train.sft import check_traces, judge_samples, pick_groups, write_rows
from j1.train.traces import generate_with_model, mark_samples

log = logging.getLogger(__name__)


def dpo_rows(
    examples: list[JudgeExample], samples: list[list[str]], marks: list[list[bool]], seed: int
) -> list[dict[str, Any]]:
    rows = []
    for e, ss, ms in zip(examples, samples, marks, strict=True):
        right = [s for s, ok in zip(ss, ms, strict=True) if ok]
        wrong = [s for s, ok in zip(ss, ms, strict=True) if not ok]
        if right and wrong:
            rng = random.Random(f"{seed}:{e.group}:{e.order}{e.role}")
            rows.append(
                {
                    "prompt": e.row()["prompt"],
                    "chosen": [{"role": "assistant", "content": rng.choice(right)}],
                    "rejected": [{"role": "assistant", "content": rng.choice(wrong)}],
                }
            )
    return rows


def _dataset(rows: list[dict[str, Any]]) -> Any:
    from datasets import Dataset

    return Dataset.from_list(rows)


def check_dpo(cfg: TrainConfig, output_dir: str) -> Any:
    """The DPOConfig of a dpo / semi-online-dpo run, every setting it reads validated first."""
    from trl import DPOConfig

    tc, so = cfg.traces, cfg.semi_online
    check_traces(tc)
    if cfg.algo == "dpo":
        if tc.source != "judge":
            raise J1Error(
                "dpo needs sampled traces (traces.source=judge): templated traces have no wrong verdicts to learn from"
            )
        return trainer_args(DPOConfig, cfg, "dpo", DPO_DEFAULTS, output_dir)
    if so.sync_steps < 1 or so.rounds < 1 or so.pairs_per_round < 1:
        raise J1Error("semi_online.sync_steps, rounds and pairs_per_round must be >= 1")
    if cfg.resume:
        raise J1Error("semi-online-dpo cannot resume from a checkpoint yet; start a new --out")
    if cfg.lora:
        raise J1Error("semi-online-dpo with lora is not supported yet; use algo=dpo or full fine-tuning")
    rounds = {"max_steps": so.sync_steps, "save_strategy": "no"}
    return trainer_args(DPOConfig, cfg, "dpo", DPO_DEFAULTS, output_dir, **rounds)


def train_offline(session: Session) -> TrainResult:
    from trl import DPOTrainer

    cfg, tc = session.cfg, session.cfg.traces
    args = check_dpo(cfg, str(session.checkpoints))
    cache = session.out / "dpo_pairs.jsonl"
    if session.resume_from and cache.is_file():
        rows = [json.loads(ln) for ln in cache.read_text().splitlines() if ln.strip()]
    else:
        examples = pick_groups(session.examples, tc.max_examples, cfg.seed)
        samples = judge_samples(session, examples)
        rows = dpo_rows(examples, samples, mark_samples(examples, samples), cfg.seed)
        session.counts["dpo"] = {"prompts": len(examples), "pairs": len(rows)}
        if not rows:
            raise J1Error(
                f"no judge prompt had both a right and a wrong trace ({len(examples)} prompts x {tc.samples}); "
                "raise traces.samples or traces.temperature"
            )
        write_rows(cache, rows)
    trainer = DPOTrainer(
        model=session.model_path,
        args=args,
        train_dataset=_dataset(rows),
        processing_class=session.tokenizer,
        callbacks=session.callbacks("dpo"),
        peft_config=session.peft_config(),
    )
    session.freeze(trainer.model)
    log.info("offline DPO on %d trace pairs", len(rows))
    return TrainResult(trainer, session.train(trainer))


def round_examples(session: Session, rnd: int, per_round: int) -> list[JudgeExample]:
    """The groups of round `rnd`: consecutive slices of a seeded permutation of groups, cycling."""
    groups: dict[str, list[JudgeExample]] = {}
    for e in session.examples:
        groups.setdefault(e.group, []).append(e)
    keys = list(groups)
    random.Random(session.cfg.seed).shuffle(keys)
    start = rnd * per_round
    picked = [keys[(start + i) % len(keys)] for i in range(min(per_round, len(keys)))]
    return [e for k in picked for e in groups[k]]


def train_semi_online(session: Session) -> TrainResult:
    import torch
    from transformers import AutoModelForCausalLM, get_scheduler
    from trl import DPOTrainer

    cfg, so, tc = session.cfg, session.cfg.semi_online, session.cfg.traces
    args = check_dpo(cfg, str(session.checkpoints))
    init = dict(args.model_init_kwargs or {})
    dtype = init.pop("dtype", "float32")
    init["dtype"] = getattr(torch, dtype) if isinstance(dtype, str) and dtype != "auto" else dtype
    model = session.freeze(AutoModelForCausalLM.from_pretrained(session.model_path, **init))
    ref = AutoModelForCausalLM.from_pretrained(session.model_path, **init).eval().requires_grad_(False)
    total = so.rounds * so.sync_steps
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=args.learning_rate, weight_decay=args.weight_decay)
    schedule = get_scheduler(args.lr_scheduler_type, optimizer, args.get_warmup_steps(total), total)
    trainer, stats, done = None, [], 0
    for rnd in range(so.rounds):
        if session.past_deadline():
            log.info("semi-online DPO: time_limit_minutes reached after %d rounds", rnd)
            break
        examples = round_examples(session, rnd, so.pairs_per_round)
        samples = generate_with_model(
            model, session.tokenizer, examples, tc.samples, tc.temperature, tc.max_tokens, cfg.seed + rnd
        )
        marks = mark_samples(examples, samples)
        rows = dpo_rows(examples, samples, marks, cfg.seed + rnd)
        right = sum(sum(m) for m in marks) / max(1, sum(len(m) for m in marks))
        stats.append({"round": rnd, "prompts": len(examples), "pairs": len(rows), "sample_accuracy": right})
        log.info(
            "semi-online round %d: %d prompts, %d DPO pairs, %.0f%% of samples right",
            rnd,
            len(examples),
            len(rows),
            100 * right,
        )
        if not rows:
            continue
        trainer = DPOTrainer(
            model=model,
            ref_model=ref,
            args=args,
            train_dataset=_dataset(rows),
            processing_class=session.tokenizer,
            callbacks=session.callbacks("semi-online-dpo", step_offset=done),
            optimizers=(optimizer, schedule),
        )
        trainer.train()
        done += trainer.state.global_step
    session.counts["semi_online_rounds"] = stats
    if trainer is None:
        raise J1Error("semi-online DPO: no round produced a DPO pair (all samples right or all wrong)")
    return TrainResult(trainer, {"optimizer_steps": done, "rounds": len(stats)})
