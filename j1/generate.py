"""`j1 generate`: batch chat generation with any backend, resumable, with a manifest.

The smallest end-to-end use of the foundation (model resolution, backends, config, manifest), and the
tool for one-off sampling: judge traces from a stronger model, answers to a prompt set. Input is a JSONL
file whose rows carry `messages` (a chat) or `prompt` (one user turn) and optionally `id`; output is
`generations.jsonl` (one row per input: id, rendered prompt, n samples with token counts) beside the
resolved `config.yaml` and `manifest.json`. Rerunning the same command skips ids already written.
With no input it judges a few built-in pairs in both orders with the J1 pairwise prompt (the demo).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from j1 import J1Error
from j1.backends import SamplingParams, make_backend
from j1.backends.base import check_conversation
from j1.io import JsonlAppender, read_done_ids, read_jsonl
from j1.lock import folder_lock
from j1.manifest import RunManifest
from j1.models import DEFAULT_MODEL, resolve_model
from j1.progress import progress_bar

log = logging.getLogger(__name__)


@dataclass
class BackendConfig:
    name: str = "vllm"  # hf | vllm | openai
    model: str = DEFAULT_MODEL  # alias, local folder or hub id (openai: the served model name)
    options: dict[str, Any] = field(default_factory=dict)  # backend keyword arguments (engine options)


@dataclass
class GenerateConfig:
    input: str | None = None  # JSONL of {"messages": [...]} or {"prompt": "..."}; none = built-in demo
    out: str = "runs/generate"
    backend: BackendConfig = field(default_factory=BackendConfig)
    sampling: SamplingParams = field(
        default_factory=lambda: SamplingParams(n=1, temperature=0.0, max_tokens=256)
    )
    limit: int | None = None
    chunk_size: int = 64  # conversations per engine call; output is written after each chunk


def _row_id(conv: list[dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps(conv, sort_keys=True).encode()).hexdigest()[:16]


def load_conversations(path: str | None, limit: int | None) -> list[tuple[str, list[dict[str, str]]]]:
    if path is None:
        from j1.demo import demo_conversations

        rows = demo_conversations()
    else:
        rows = []
        for lineno, obj in read_jsonl(path):
            if "messages" in obj:
                conv = obj["messages"]
            elif isinstance(obj.get("prompt"), str):
                conv = [{"role": "user", "content": obj["prompt"]}]
            else:
                raise J1Error(f"{path}:{lineno}: needs a 'messages' list or a 'prompt' string")
            try:
                conv = check_conversation(conv, lineno)
            except J1Error as e:
                raise J1Error(f"{path}:{lineno}: {e}") from e
            rows.append((str(obj.get("id") or _row_id(conv)), conv))
    seen: set[str] = set()
    for rid, _ in rows:
        if rid in seen:
            raise J1Error(f"{path or 'demo'}: duplicate id {rid!r}")
        seen.add(rid)
    return rows[:limit] if limit is not None else rows


def run(cfg: GenerateConfig, command: str = "j1 generate") -> Path:
    out = Path(cfg.out)
    rows = load_conversations(cfg.input, cfg.limit)
    with folder_lock(out, command):  # held before the resume scan, which may repair a torn last line
        return _generate(cfg, out, rows, command)


def _generate(
    cfg: GenerateConfig, out: Path, rows: list[tuple[str, list[dict[str, str]]]], command: str
) -> Path:
    out_file = out / "generations.jsonl"
    done = read_done_ids(out_file)
    todo = [(rid, conv) for rid, conv in rows if rid not in done]
    log.info("%d conversations, %d already done", len(rows), len(rows) - len(todo))
    with RunManifest(out, command, cfg) as manifest:
        if cfg.backend.name != "openai":
            manifest.add_model("generator", resolve_model(cfg.backend.model))
        if cfg.input:
            manifest.add_data("input", cfg.input)
        counts = manifest.counts
        counts.update(
            conversations=len(rows), skipped_done=len(rows) - len(todo), generated=0, output_tokens=0
        )
        if todo:
            t0 = time.time()
            with (
                make_backend(cfg.backend.name, cfg.backend.model, **cfg.backend.options) as backend,
                JsonlAppender(out_file) as writer,
                progress_bar("generating", total=len(todo)) as bar,
            ):
                counts["engine_start_s"] = round(time.time() - t0, 2)
                t1 = time.time()
                for start in range(0, len(todo), cfg.chunk_size):
                    chunk = todo[start : start + cfg.chunk_size]
                    gens = backend.generate([c for _, c in chunk], cfg.sampling)
                    records = [
                        {
                            "id": rid,
                            "messages": conv,
                            "prompt": g.prompt,
                            "prompt_tokens": g.prompt_tokens,
                            "samples": [vars(s) for s in g.samples],
                        }
                        for (rid, conv), g in zip(chunk, gens, strict=True)
                    ]
                    writer.write_many(records)
                    counts["generated"] += len(records)
                    counts["output_tokens"] += sum(g.output_tokens for g in gens)
                    bar.advance(len(chunk))
                    manifest.write("running")
                gen_s = time.time() - t1
                counts["generate_s"] = round(gen_s, 2)
                counts["output_tokens_per_s"] = round(counts["output_tokens"] / max(gen_s, 1e-9), 1)
    return out
