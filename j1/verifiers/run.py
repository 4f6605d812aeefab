"""`j1 verify`: verify a JSONL file of (question, response, reference) rows, streaming and resumable.

Output: the JSONL file `out`, one row per good input row, in input order: the input row plus `correct`
(true / false / null = unverifiable), `reason` and `extracted`. The run's `manifest.json` and resolved
`config.yaml` go in the output's parent folder (the convention of every j1 stage: one folder per run), so
give each verify output its own folder; a folder holding another run's manifest is refused rather than
overwritten. Counts: rows, correct, incorrect, unverifiable, skipped_bad, resumed.

Rows are read and verified `chunk_size` at a time and appended (fsynced) after each chunk, so a big file
never sits in memory and a killed run resumes: the rows already in `out` are skipped (after checking that
the last of them matches its input row), and a torn last line is dropped. `resume: false` starts over.
Bad input (invalid JSON, a missing or non-string field) fails naming file, line and field, or with
`skip_bad` is counted and left out.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from j1 import J1Error
from j1.io import JsonlAppender, read_jsonl
from j1.lock import folder_lock
from j1.manifest import RunManifest
from j1.progress import progress_bar
from j1.verifiers import VerifyItem, check_verifier, make_verifier

log = logging.getLogger(__name__)

ADDED = ("correct", "reason", "extracted")


@dataclass
class FieldsConfig:
    question: str = "question"  # "" = the rows have no question (degeneracy checks that need it are skipped)
    response: str = "response"
    reference: str = "reference"


@dataclass
class VerifyConfig:
    input: str | None = None  # JSONL rows with a question, a response and a reference answer
    out: str = "runs/verify/verified.jsonl"
    verifier: str = "rule"  # rule | model | hybrid
    options: dict[str, Any] = field(default_factory=dict)  # verifier keyword arguments
    skip_bad: bool = False  # count malformed rows in the manifest instead of failing
    fields: FieldsConfig = field(default_factory=FieldsConfig)
    chunk_size: int = 512  # rows per verifier call and per append
    resume: bool = True  # keep rows already in `out` and continue after them


class BadRow(J1Error):
    pass


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any] | BadRow]]:
    """Like `read_jsonl`, but a bad line is yielded as an error so the caller may skip it and go on."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield lineno, BadRow(f"{path}:{lineno}: not UTF-8 (byte {e.start})")
                continue
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                yield lineno, BadRow(f"{path}:{lineno}: invalid JSON: {e.msg} (column {e.colno})")
                continue
            if not isinstance(obj, dict):
                yield lineno, BadRow(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
                continue
            yield lineno, obj


def _text(row: dict[str, Any], name: str, where: str, numbers_ok: bool = False) -> str:
    if name not in row or row[name] is None:
        raise BadRow(f"{where}: missing field {name!r} (set fields.* to map your column names)")
    value = row[name]
    if numbers_ok and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise BadRow(f"{where}: field {name!r} must be a string, got {type(value).__name__}")
    return value


def to_item(row: dict[str, Any], fields: FieldsConfig, where: str) -> VerifyItem:
    question = _text(row, fields.question, where) if fields.question else ""
    return VerifyItem(
        question, _text(row, fields.response, where), _text(row, fields.reference, where, numbers_ok=True)
    )


def rows(cfg: VerifyConfig, counts: dict[str, Any]) -> Iterator[tuple[dict[str, Any], VerifyItem]]:
    """Good (row, item) pairs in file order; bad rows raise, or are counted when `skip_bad`."""
    path = Path(str(cfg.input))
    source = _lines(path) if cfg.skip_bad else read_jsonl(path)
    for lineno, obj in source:
        try:
            if isinstance(obj, BadRow):
                raise obj
            yield obj, to_item(obj, cfg.fields, f"{path}:{lineno}")
        except BadRow as e:
            if not cfg.skip_bad:
                raise
            counts["skipped_bad"] += 1
            log.warning("skipped: %s", e)


def _done_rows(out: Path, counts: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows already verified in `out` (a torn last line is cut off), tallied into `counts`; only the last
    row is kept, to check it against the input."""
    if not out.is_file():
        return []
    data = out.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(out, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)
    last: list[dict[str, Any]] = []
    for lineno, row in read_jsonl(out):
        if not all(k in row for k in ADDED):
            raise J1Error(
                f"{out}:{lineno}: not a verify output row; choose another --out or set resume=false"
            )
        _tally(counts, row["correct"])
        counts["resumed"] += 1
        last = [row]
    return last


def _tally(counts: dict[str, Any], correct: bool | None) -> None:
    counts["rows"] += 1
    counts["correct" if correct else "unverifiable" if correct is None else "incorrect"] += 1


def _check_folder(folder: Path, out: Path) -> None:
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return
    try:
        body = json.loads(manifest.read_text(encoding="utf-8"))
        theirs = Path(str((body.get("config") or {}).get("out", ""))).resolve()
    except (OSError, ValueError, AttributeError):
        theirs = None
    if theirs != out.resolve():
        raise J1Error(
            f"{folder} already holds the manifest of another run ({manifest}); "
            "write the verify output into a folder of its own"
        )


def run(cfg: VerifyConfig, command: str = "j1 verify") -> Path:
    if not cfg.input:
        raise J1Error("j1 verify needs an input file (--in rows.jsonl with question, response, reference)")
    if cfg.chunk_size < 1:
        raise J1Error(f"chunk_size must be >= 1, got {cfg.chunk_size}")
    if not Path(cfg.input).is_file():
        raise J1Error(f"{cfg.input}: no such file")
    out = Path(cfg.out)
    _check_folder(out.parent, out)
    check_verifier(cfg.verifier, cfg.options)  # a bad name or option fails before any write
    with folder_lock(out.parent, command):  # its manifest's folder: one writer, before the first unlink
        # started once the folder is ours: a second writer is turned away before sympy and the workers load
        verifier = make_verifier(cfg.verifier, **cfg.options)
        return _verify(cfg, out, verifier, command)


def _verify(cfg: VerifyConfig, out: Path, verifier: Any, command: str) -> Path:
    counts: dict[str, Any] = dict(rows=0, correct=0, incorrect=0, unverifiable=0, skipped_bad=0, resumed=0)
    if not cfg.resume and out.exists():
        out.unlink()
    last_done = _done_rows(out, counts)
    to_skip = counts["resumed"]
    with verifier, RunManifest(out.parent, command, cfg) as manifest:
        manifest.add_data("input", cfg.input)
        manifest.counts = counts
        total = max(_count_lines(Path(cfg.input)) - counts["resumed"], 0)
        with JsonlAppender(out) as writer, progress_bar("verifying", total=total) as bar:
            chunk: list[tuple[dict[str, Any], VerifyItem]] = []
            for pair in rows(cfg, counts):
                if to_skip:
                    to_skip -= 1
                    if to_skip == 0:
                        _check_resume(pair[0], last_done, out, cfg.input)
                    continue
                chunk.append(pair)
                if len(chunk) >= cfg.chunk_size:
                    _flush(chunk, verifier, writer, counts)
                    bar.advance(len(chunk))
                    manifest.write("running")
                    chunk = []
            if to_skip:
                raise J1Error(f"{out} holds more rows than {cfg.input} has: set resume=false to start over")
            _flush(chunk, verifier, writer, counts)
            bar.advance(len(chunk))
            if isinstance(getattr(verifier, "model_calls", None), int):
                counts["model_calls"] = verifier.model_calls  # hybrid: items the model was asked about
        log.info("verified %d rows: %s", counts["rows"], counts)
    return out


def _count_lines(path: Path) -> int:
    """Lines in the file (a progress total; blank lines make it an upper bound), without parsing."""
    n = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            n += block.count(b"\n")
    return n


def _check_resume(row: dict[str, Any], done: list[dict[str, Any]], out: Path, src: str) -> None:
    theirs = {k: v for k, v in done[-1].items() if k not in ADDED}
    mine = {k: v for k, v in row.items() if k not in ADDED}
    if theirs != mine:
        raise J1Error(
            f"{out} was written from other input than {src}: set resume=false or choose another --out"
        )


def _flush(
    chunk: list[tuple[dict[str, Any], VerifyItem]], verifier: Any, writer: JsonlAppender, counts: dict
) -> None:
    if not chunk:
        return
    verdicts = verifier.verify([item for _, item in chunk])
    records = []
    for (row, _), v in zip(chunk, verdicts, strict=True):
        records.append({**row, "correct": v.correct, "reason": v.reason, "extracted": v.extracted})
        _tally(counts, v.correct)
    writer.write_many(records)
