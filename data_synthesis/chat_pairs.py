"""Chat pairs from noisy instructions: for instruction x the generator writes a related but different
instruction x' (prompt `noisy_instruction_v1`), then answers both; the answer to x is `chosen`, the answer
to x' is `rejected` (a fine answer to the wrong question).

Dropped and counted: an x' that is empty, under three words, equal to x, a refusal, truncated, or an answer instead of an
instruction (far longer than x); answers that are empty, truncated or refusals; identical answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from j1.backends import Backend, SamplingParams
from j1.data_synthesis.filters import clean_instruction, first_failure, normalize
from j1.data_synthesis.sources import Item, SourceConfig
from j1.pairs import Pair
from j1.templates import render


@dataclass
class ChatConfig:
    enabled: bool = True
    sources: list[SourceConfig] = field(default_factory=lambda: [SourceConfig(name="embedded-instructions")])
    noisy_prompt: str = "noisy_instruction_v1"
    noisy_temperature: float = 0.7
    noisy_max_tokens: int = 96
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 160
    max_length_ratio: float = (
        4.0  # x' longer than this many times x (+200 chars) is an answer, not an instruction
    )
    response_checks: list[str] = field(default_factory=lambda: ["empty", "truncated", "refusal"])
    noisy_checks: list[str] = field(default_factory=lambda: ["truncated", "refusal"])  # on the x' rewrite
    max_pairs: int | None = None  # stop at this many pairs, instructions taken in a seeded order (a mix cap)


def _reject(item: Item, reason: str, **extra: Any) -> dict[str, Any]:
    return {"key": item.key, "stage": "chat", "reason": reason, "prompt": item.text, **extra}


def process_chunk(
    items: list[Item], backend: Backend, cfg: ChatConfig, seed: int, generator: str
) -> tuple[list[Pair], list[dict[str, Any]], dict[str, int]]:
    rejects: list[dict[str, Any]] = []
    noisy_params = SamplingParams(
        n=1, temperature=cfg.noisy_temperature, max_tokens=cfg.noisy_max_tokens, seed=seed
    )
    convs = [[{"role": "user", "content": render(cfg.noisy_prompt, instruction=it.text)}] for it in items]
    rewrites = backend.generate(convs, noisy_params)
    counts = {"output_tokens": sum(g.output_tokens for g in rewrites)}
    kept: list[tuple[Item, str]] = []
    for item, gen in zip(items, rewrites, strict=True):
        sample = gen.samples[0]
        noisy = clean_instruction(sample.text)
        reason = first_failure(sample, cfg.noisy_checks)
        if not reason and not noisy:
            reason = "empty"
        if not reason and len(noisy.split()) < 3:
            reason = "too_short"
        if not reason and normalize(noisy) == normalize(item.text):
            reason = "same_as_original"
        if not reason and len(noisy) > cfg.max_length_ratio * len(item.text) + 200:
            reason = "not_an_instruction"
        if reason:
            rejects.append(_reject(item, f"noisy_{reason}", noisy_instruction=sample.text))
        else:
            kept.append((item, noisy))
    pairs: list[Pair] = []
    if not kept:
        return pairs, rejects, counts
    params = SamplingParams(
        n=1, temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=cfg.max_tokens, seed=seed
    )
    answer_convs = [
        [{"role": "user", "content": text}] for item, noisy in kept for text in (item.text, noisy)
    ]
    answers = backend.generate(answer_convs, params)
    counts["output_tokens"] += sum(g.output_tokens for g in answers)
    for k, (item, noisy) in enumerate(kept):
        chosen, rejected = answers[2 * k].samples[0], answers[2 * k + 1].samples[0]
        reason = first_failure(chosen, cfg.response_checks)
        side = "chosen"
        if not reason:
            reason, side = first_failure(rejected, cfg.response_checks), "rejected"
        if not reason and normalize(chosen.text) == normalize(rejected.text):
            reason, side = "identical_answers", "both"
        if reason:
            rejects.append(_reject(item, f"{side}_{reason}", noisy_instruction=noisy))
            continue
        meta = {
            "item": item.key,
            "generator": generator,
            "noisy_instruction": noisy,
            "sampling": {
                "temperature": cfg.temperature,
                "top_p": cfg.top_p,
                "max_tokens": cfg.max_tokens,
                "noisy_temperature": cfg.noisy_temperature,
            },
            "seed": seed,
        }
        pairs.append(Pair("chat", item.text, chosen.text.strip(), rejected.text.strip(), meta=meta))
    return pairs, rejects, counts
