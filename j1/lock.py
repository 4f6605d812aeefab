"""One writer per output folder.

Every command that writes a run folder holds an exclusive lock on `FOLDER/.j1.lock` while it runs; a second
command on the same folder fails at once with the holder's pid and command line instead of interleaving its
writes with the first one's. The lock is a POSIX record lock (`fcntl.lockf`): the kernel drops it when the
holding process exits, however it exits (SIGKILL included), so a crash never leaves a stale lock, and a child
process (a vLLM engine forked by the command) does not inherit it, so a leftover child cannot keep the folder
locked after its parent died. The file's text (pid, command) is informational only; the kernel lock decides.

Within one process the lock is re-entrant (`j1 train` holds its folder across the warm start and the main
stage, and its manifest takes the same lock again). Reading commands (`j1 eval --compare`, reports) take no
lock. POSIX only (Linux, macOS), like the rest of j1's stack.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from j1 import J1Error

LOCK_NAME = ".j1.lock"
_held: dict[Path, list[int]] = {}  # folder -> [fd, depth]
_mutex = threading.Lock()


class FolderBusy(J1Error):
    """Another process is writing the folder."""


def _holder(fd: int) -> dict[str, object]:
    try:
        text = os.pread(fd, 1 << 16, 0).decode("utf-8", "replace")
        return json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}


def acquire(folder: str | Path, command: str) -> None:
    """Lock `folder` for this process (created if missing), or raise `FolderBusy` naming the holder."""
    path = Path(folder).resolve()
    with _mutex:
        if path in _held:
            _held[path][1] += 1
            return
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EACCES, errno.EAGAIN):
                os.close(fd)
                raise
            holder = _holder(fd)
            os.close(fd)
            raise FolderBusy(
                f"{path} is being written by another run (pid {holder.get('pid', '?')}: "
                f"{holder.get('command', '?')}, since {holder.get('started_at', '?')}). "
                "Wait for it to finish or stop it, or write to another output folder."
            ) from None
        body = {
            "pid": os.getpid(),
            "command": command,
            "argv": sys.argv,
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(body) + "\n").encode(), 0)
        _held[path] = [fd, 1]


def release(folder: str | Path) -> None:
    path = Path(folder).resolve()
    with _mutex:
        entry = _held.get(path)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del _held[path]
            os.close(entry[0])  # closing the descriptor drops the record lock


@contextmanager
def folder_lock(folder: str | Path, command: str) -> Iterator[Path]:
    """`with folder_lock(out, "j1 synth"):` — hold `out` for the duration of the block."""
    acquire(folder, command)
    try:
        yield Path(folder)
    finally:
        release(folder)
