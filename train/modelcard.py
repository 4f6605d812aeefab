"""The trained judge as a plain HF folder (`judge/`) that `j1 eval` and `j1 serve` load directly.

Weights + tokenizer + chat template, LoRA adapters merged in, plus `j1_judge.json` (format, base model,
data fingerprint) and a model card `README.md`: base model, data fingerprint, algorithm, the resolved
recipe, training and held-out metrics.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import yaml

from j1 import __version__
from j1.config import to_dict
from j1.manifest import fingerprint

log = logging.getLogger(__name__)

JUDGE_META = "j1_judge.json"


def save_judge(trainer: Any, tokenizer: Any, folder: Path, merge_lora: bool) -> Path:
    """Save the trainer's model as a loadable folder; collective under FSDP/ZeRO-3 (all ranks call)."""
    folder.mkdir(parents=True, exist_ok=True)
    model = trainer.accelerator.unwrap_model(trainer.model)
    # trainers switch the KV cache off for training (SFT does); a judge that generates needs it back on
    for m in (model, getattr(model, "base_model", None)):
        if m is not None and getattr(m, "config", None) is not None:
            m.config.use_cache = True
    if merge_lora:
        if trainer.accelerator.is_main_process:
            model.merge_and_unload().save_pretrained(str(folder), safe_serialization=True)
    else:
        trainer.save_model(str(folder))
    if trainer.accelerator.is_main_process:
        tokenizer.save_pretrained(str(folder))
    trainer.accelerator.wait_for_everyone()
    return folder


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_card(
    folder: Path,
    cfg: Any,
    base_model: str,
    counts: dict[str, Any],
    train_metrics: dict[str, Any],
    heldout: dict[str, Any] | None,
) -> Path:
    data_fp = fingerprint(cfg.data.path)
    meta = {
        "j1_version": __version__,
        "format": cfg.format,
        "formats": cfg.mixture_of_formats(),
        "algo": cfg.algo,
        "base_model": base_model,
        "base_model_fingerprint": fingerprint(base_model),
        "data": cfg.data.path,
        "data_fingerprint": data_fp,
        "rewards": cfg.rewards,
    }
    (folder / JUDGE_META).write_text(json.dumps(meta, indent=2) + "\n")
    front = {"library_name": "transformers", "base_model": base_model, "tags": ["j1", "llm-judge", cfg.algo]}
    lines = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", ""]
    lines += [f"# j1 judge ({cfg.algo}, format `{cfg.format}`)", ""]
    lines += [
        f"A thinking LLM judge trained with j1 {__version__} the way J1 does (Whitehouse et al., 2025).",
        "",
        f"- base model: `{base_model}` ({meta['base_model_fingerprint']})",
        f"- data: `{cfg.data.path}` ({data_fp}); {counts.get('train_pairs')} training pairs, "
        f"{counts.get('heldout_pairs')} held-out pairs (split by prompt, seed {cfg.seed})",
        f"- judge format(s): {', '.join(cfg.mixture_of_formats())}; rewards: {cfg.rewards}",
        "",
    ]
    if heldout:
        lines += [
            "## Held-out pairs (`j1 eval` pairs benchmark: greedy, both orders, percent)",
            "",
            "| metric | value |",
            "|---|---|",
        ]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in heldout.items() if not isinstance(v, dict)]
        lines += [
            f"| baseline {k} (consistent_accuracy) | {_fmt(v)} |"
            for k, v in heldout.get("baselines", {}).items()
        ]
        lines += [""]
    if train_metrics:
        lines += ["## Training", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in train_metrics.items()]
        lines += [""]
    lines += [
        "## Recipe (resolved)",
        "",
        "```yaml",
        yaml.safe_dump(to_dict(cfg), sort_keys=False).strip(),
        "```",
    ]
    path = folder / "README.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
