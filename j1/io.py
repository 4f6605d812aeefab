"""JSONL reading and writing with errors that name the file and line, and appends that survive crashes."""

from __future__ import annotations

import errno
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from j1 import J1Error

log = logging.getLogger(__name__)


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; a bad line raises naming file:line."""
    path = Path(path)
    if not path.is_file():
        raise J1Error(f"{path}: no such file")
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise J1Error(f"{path}:{lineno}: not UTF-8 (byte {e.start})") from e
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise J1Error(f"{path}:{lineno}: invalid JSON: {e.msg} (column {e.colno})") from e
            if not isinstance(obj, dict):
                raise J1Error(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


def read_done_ids(path: str | Path, key: str = "id") -> set[str]:
    """Ids already written to an output JSONL. A torn last line (a crash mid-write) is dropped from the
    file so that appends resume on a clean line boundary."""
    path = Path(path)
    if not path.is_file():
        return set()
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        log.warning(
            "%s: dropped a torn last line (%d bytes) left by an interrupted write", path, len(data) - cut
        )
        with open(path, "r+b") as f:
            f.truncate(cut)
        data = data[:cut]
    done = set()
    for lineno, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            done.add(str(json.loads(line)[key]))
        except (ValueError, KeyError, TypeError) as e:  # a complete line that is not a record: never reused
            raise J1Error(
                f"{path}:{lineno}: not a record of this output ({type(e).__name__}: {e}); the file is damaged: "
                "delete the line (or the file) to resume, or write to a new output folder"
            ) from e
    return done


class JsonlAppender:
    """Append records, flushed and fsynced per batch, so a killed run loses at most the batch in flight."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed by close/__exit__)
        self._failed = False

    def write_many(self, records: list[dict[str, Any]]) -> None:
        try:
            self._f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
            self._f.flush()
            os.fsync(self._f.fileno())
        except OSError as e:
            self._failed = True
            if e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
                raise J1Error(
                    f"{self.path}: the disk is full ({e.strerror}): this batch of {len(records)} records was not "
                    "(fully) written; what was written before it is kept. Free space and rerun the same command "
                    "to resume (a torn last line is dropped)."
                ) from e
            raise

    def close(self) -> None:
        try:
            self._f.close()
        except OSError:
            if not self._failed:  # after a failed write the buffered rest cannot go either: already reported
                raise

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
