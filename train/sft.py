"""SFT warm start through `trl.SFTTrainer`: teach a base model the judge's output format before GRPO.

Examples are whole pair groups (both orders / both roles), chosen with a seeded draw when
`traces.max_examples` caps them. Traces come from `traces.py` (templated, or sampled from a judge and kept
only when their verdict is right = rejection sampling) and are cached in `out/sft_traces.jsonl`, so a
resumed run trains on the same data. Loss is on the judge's answer only (prompt-completion data).
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import Any

from j1 import J1Error
from j1.io import read_jsonl
from j1.train.config import SFT_DEFAULTS, TraceConfig, trainer_args
from j1.train.examples import JudgeExample
from j1.train.session import Session, TrainResult
from j1.train.traces import (
    final_value,
    mark_samples,
    sample_with_backend,
    solve_questions,
    template_traces,
)
from j1.verifiers.mathcheck import quick_equal

log = logging.getLogger(__name__)


def pick_groups(examples: list[JudgeExample], max_examples: int | None, seed: int) -> list[JudgeExample]:
    """At most `max_examples` examples, whole groups only, a seeded choice of groups (in data order)."""
    if max_examples is None or max_examples >= len(examples):
        return list(examples)
    groups: dict[str, list[JudgeExample]] = {}
    for e in examples:
        groups.setdefault(e.group, []).append(e)
    keys = list(groups)
    keep = set(random.Random(seed).sample(keys, max(1, max_examples // 2)))
    return [e for k in keys if k in keep for e in groups[k]]


def check_traces(tc: TraceConfig) -> None:
    """What the config's types cannot say (each key's values are checked when the config is built)."""
    if tc.samples < 1 or tc.max_tokens < 1:
        raise J1Error("traces.samples and traces.max_tokens must be >= 1")
    if tc.own_answer != "none" and tc.source != "template":
        raise J1Error(f"traces.own_answer: {tc.own_answer} writes template traces (traces.source: template)")
    if tc.own_answer_form != "value" and tc.own_answer == "none":
        raise J1Error(
            f"traces.own_answer_form: {tc.own_answer_form} needs traces.own_answer (response or model)"
        )


def judge_samples(session: Session, examples: list[JudgeExample]) -> list[list[str]]:
    tc = session.cfg.traces
    model = tc.judge.model or session.model_path
    log.info(
        "sampling %d traces for each of %d judge prompts with %s (%s)",
        tc.samples,
        len(examples),
        model,
        tc.judge.name,
    )
    return sample_with_backend(
        examples,
        tc.judge.name,
        model,
        tc.judge.options,
        tc.samples,
        tc.temperature,
        tc.max_tokens,
        session.cfg.seed,
    )


def own_solutions(session: Session, examples: list[JudgeExample]) -> dict[str, str]:
    """The judge model's own answers to the math questions of `examples` (traces.judge backend, greedy)."""
    tc = session.cfg.traces
    pairs = [session.pairs_by_id[e.pair_id] for e in examples]
    questions = [p.prompt for p in pairs if p.source == "math"]
    if not questions:
        return {}
    model = tc.judge.model or session.model_path
    log.info(
        "solving %d math questions with %s (%s): the judge's own answers",
        len(set(questions)),
        model,
        tc.judge.name,
    )
    own = solve_questions(
        questions, tc.judge.name, model, tc.judge.options, session.cfg.seed, tc.own_answer_form
    )
    right = [
        p.reference_answer is not None and quick_equal(p.reference_answer, final_value(own[p.prompt])) is True
        for p in {p.prompt: p for p in pairs if p.source == "math"}.values()
    ]
    session.counts["own_answers"] = {"questions": len(right), "right": sum(right)}  # measured, never used
    return own


def sft_rows(session: Session) -> list[dict[str, Any]]:
    """The SFT rows, made once: under data parallelism the main process samples or writes the traces (its
    trace judge alone on the GPUs) and the other processes read them from its cache."""
    from accelerate import PartialState

    state = PartialState()
    with state.main_process_first():
        if not state.is_main_process:
            return read_rows(session.out / "sft_traces.jsonl")
        return _sft_rows(session)


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [row for _, row in read_jsonl(path)]


def _sft_rows(session: Session) -> list[dict[str, Any]]:
    cfg, tc = session.cfg, session.cfg.traces
    check_traces(tc)
    cache = session.out / "sft_traces.jsonl"
    if session.resume_from and cache.is_file():
        return read_rows(cache)
    examples = pick_groups(session.examples, tc.max_examples, cfg.seed)
    if tc.source == "template":
        own_answers = own_solutions(session, examples) if tc.own_answer == "model" else None
        traces = template_traces(
            examples, session.pairs_by_id, tc.label_policy, cfg.seed, tc.own_answer, own_answers,
            tc.own_answer_form,
        )  # fmt: skip
        kept = list(zip(examples, traces, strict=True))
    else:
        samples = judge_samples(session, examples)
        marks = mark_samples(examples, samples)
        kept = [
            (e, next(s for s, ok in zip(ss, ms, strict=True) if ok))
            for e, ss, ms in zip(examples, samples, marks, strict=True)
            if any(ms)
        ]
        session.counts["sft_rejection_sampling"] = {"prompts": len(examples), "kept": len(kept)}
        if not kept:
            raise J1Error(
                f"no sampled trace had the right verdict ({len(examples)} prompts x {tc.samples}): nothing to train on"
            )
    rows = []
    for e, trace in kept:
        rows.append(
            {
                "prompt": e.row()["prompt"],
                "completion": [{"role": "assistant", "content": trace}],
                "pair_id": e.pair_id,
                "order": e.order,
                "role": e.role,
            }
        )
    write_rows(cache, rows)
    session.counts["sft_examples"] = len(rows)
    return rows


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def train(session: Session) -> TrainResult:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    check_traces(session.cfg.traces)
    args = trainer_args(SFTConfig, session.cfg, "sft", SFT_DEFAULTS, str(session.checkpoints))
    rows = sft_rows(session)
    dataset = Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in rows])
    trainer = SFTTrainer(
        model=session.model_path,
        args=args,
        train_dataset=dataset,
        processing_class=session.tokenizer,
        callbacks=session.callbacks("sft"),
        peft_config=session.peft_config(),
    )
    session.freeze(trainer.model)
    log.info("SFT on %d judge traces (%s)", len(dataset), session.cfg.traces.source)
    return TrainResult(trainer, session.train(trainer))
