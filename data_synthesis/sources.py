"""Where problems and instructions come from: local files (JSONL / JSON / Parquet), Hugging Face dataset
ids, or the project's embedded sets. A source yields `Item`s with a stable key, so resumed runs can skip
what was done.

Field mapping is configurable (`fields: {question: problem, answer: solution}`), and `answer_format` says
how to read the reference answer from the answer field: `raw`, `boxed` (the last \\boxed{} of a MATH
solution) or `gsm8k` (the number after `####`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from j1 import J1Error
from j1.io import read_jsonl


@dataclass
class SourceConfig:
    name: str = "embedded"  # a label in pairs' meta and in manifest counts
    path: str | None = None  # local file; none = `hub` or the embedded set
    hub: str | None = None  # Hugging Face dataset id, e.g. "openai/gsm8k"
    hub_config: str | None = None
    split: str = "train"
    fields: dict[str, str] = field(default_factory=dict)  # our name -> the file's name
    answer_format: str = "raw"  # raw | boxed | gsm8k
    limit: int | None = None  # the first N rows
    sample: int | None = None  # a seeded random N of the rows (after `limit`): the paper's mix, not a prefix


@dataclass
class Item:
    key: str  # stable: source name + content hash
    text: str  # the problem or instruction
    reference: str | None = None  # math reference answer
    meta: dict[str, Any] = field(default_factory=dict)


class BadRow(J1Error):
    """A row that cannot be used; `--skip-bad` counts these instead of stopping."""


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}), with balanced braces."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0:
        return None
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1 : j].strip()
    return None


def gsm8k_answer(text: str) -> str | None:
    m = re.search(r"####\s*(.+?)\s*$", text.strip())
    return m.group(1).replace(",", "").strip() if m else None


ANSWER_FORMATS: dict[str, Callable[[str], str | None]] = {
    "raw": lambda s: s.strip() or None,
    "boxed": last_boxed,
    "gsm8k": gsm8k_answer,
}


def _rows_from_file(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(location, row) pairs; location is `file:line` for JSONL and `file[#i]` otherwise."""
    if not path.exists():
        raise J1Error(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise J1Error(f"{path}: the file is empty")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        for lineno, obj in read_jsonl(path):
            yield f"{path}:{lineno}", obj
    elif suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise J1Error(f"{path}: not a valid UTF-8 JSON file ({e})") from e
        rows = data if isinstance(data, list) else data.get("data") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise J1Error(f"{path}: expected a JSON list of rows (or {{'data': [...]}})")
        for i, obj in enumerate(rows):
            yield f"{path}[#{i}]", obj
    elif suffix == ".parquet":
        import datasets

        for i, obj in enumerate(datasets.Dataset.from_parquet(str(path))):
            yield f"{path}[#{i}]", obj
    else:
        raise J1Error(f"{path}: unknown file type {suffix!r} (use .jsonl, .json or .parquet)")


def _rows_from_hub(cfg: SourceConfig) -> Iterator[tuple[str, dict[str, Any]]]:
    import datasets

    try:
        ds = datasets.load_dataset(cfg.hub, cfg.hub_config, split=cfg.split)
    except Exception as e:  # the hub's errors are many; name the dataset in ours
        raise J1Error(f"could not load the dataset {cfg.hub!r} (split {cfg.split!r}): {e}") from e
    for i, obj in enumerate(ds):
        yield f"{cfg.hub}[{cfg.split}#{i}]", obj


def raw_rows(
    cfg: SourceConfig, embedded: Callable[[], list[dict[str, Any]]]
) -> Iterator[tuple[str, dict[str, Any]]]:
    if cfg.path:
        yield from _rows_from_file(Path(cfg.path))
    elif cfg.hub:
        yield from _rows_from_hub(cfg)
    else:
        for i, obj in enumerate(embedded()):
            yield f"embedded:{cfg.name}[#{i}]", obj


def _field(row: dict[str, Any], name: str, cfg: SourceConfig, where: str, defaults: tuple[str, ...]) -> Any:
    candidates = (cfg.fields[name],) if name in cfg.fields else defaults
    for key in candidates:
        value: Any = row
        for part in key.split("."):  # "turns.0.content" style paths
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                value = None
        if value is not None:
            return value
    raise BadRow(f"{where}: missing field {name!r} (looked for {', '.join(candidates)}; set fields.{name})")


def _key(cfg: SourceConfig, text: str) -> str:
    return f"{cfg.name}:{hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]}"


QUESTION_FIELDS = ("question", "problem", "prompt", "instruction")
ANSWER_FIELDS = ("answer", "reference", "solution", "expected_answer")


def math_items(
    cfg: SourceConfig, embedded: Callable[[], list[dict[str, Any]]], on_bad: Callable[[BadRow], None]
) -> Iterator[Item]:
    if cfg.answer_format not in ANSWER_FORMATS:
        raise J1Error(
            f"source {cfg.name}: unknown answer_format {cfg.answer_format!r}; valid: {', '.join(ANSWER_FORMATS)}"
        )
    count = 0
    for where, row in raw_rows(cfg, embedded):
        if cfg.limit is not None and count >= cfg.limit:
            return
        try:
            if not isinstance(row, dict):
                raise BadRow(f"{where}: expected an object, got {type(row).__name__}")
            question = _field(row, "question", cfg, where, QUESTION_FIELDS)
            answer = _field(row, "answer", cfg, where, ANSWER_FIELDS)
            if not isinstance(question, str) or not question.strip():
                raise BadRow(f"{where}: field 'question' is empty or not a string")
            reference = ANSWER_FORMATS[cfg.answer_format](str(answer))
            if not reference:
                raise BadRow(
                    f"{where}: no reference answer in {str(answer)[:60]!r} (answer_format={cfg.answer_format})"
                )
        except BadRow as e:
            on_bad(e)
            continue
        count += 1
        meta = {k: row[k] for k in ("level", "type", "difficulty") if k in row}
        yield Item(key=_key(cfg, question), text=question.strip(), reference=reference, meta=meta)


def instruction_items(
    cfg: SourceConfig, embedded: Callable[[], list[dict[str, Any]]], on_bad: Callable[[BadRow], None]
) -> Iterator[Item]:
    count = 0
    defaults = (*QUESTION_FIELDS, "turns.0.content", "conversation.0.content")
    for where, row in raw_rows(cfg, embedded):
        if cfg.limit is not None and count >= cfg.limit:
            return
        try:
            if not isinstance(row, dict):
                raise BadRow(f"{where}: expected an object, got {type(row).__name__}")
            text = _field(row, "instruction", cfg, where, defaults)
            if not isinstance(text, str) or not text.strip():
                raise BadRow(f"{where}: the instruction is empty or not a string")
            extra = row.get("input") if "input" in row and isinstance(row.get("input"), str) else ""
            if not extra and isinstance(row.get("instances"), list) and row["instances"]:
                extra = str(row["instances"][0].get("input") or "")
            if extra.strip():
                text = f"{text.strip()}\n\n{extra.strip()}"
        except BadRow as e:
            on_bad(e)
            continue
        count += 1
        yield Item(key=_key(cfg, text), text=text.strip())
