"""One writer per output folder: a second run fails at once, naming the first; a killed holder frees it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from j1.lock import LOCK_NAME, FolderBusy, acquire, folder_lock, release
from j1.manifest import fingerprint

HOLD = """
import os, sys, time
from j1.lock import acquire
acquire(sys.argv[1], "j1 synth --out " + sys.argv[1])
if sys.argv[2] == "fork":
    child = os.fork()
    if child == 0:
        time.sleep(60)
        os._exit(0)
    print(child, flush=True)
print("held", flush=True)
time.sleep(60)
"""


def hold(folder: Path, fork: bool = False) -> tuple[subprocess.Popen, int | None]:
    """A process that holds `folder` (and, with fork, has a child forked after it took the lock)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder), "fork" if fork else "-"], stdout=subprocess.PIPE, text=True
    )
    child = int(proc.stdout.readline()) if fork else None
    assert proc.stdout.readline().strip() == "held"
    return proc, child


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def free_in_subprocess(folder: Path) -> bool:
    code = "import sys\nfrom j1.lock import acquire, FolderBusy\ntry:\n acquire(sys.argv[1], 't')\nexcept FolderBusy:\n sys.exit(3)"
    return subprocess.run([sys.executable, "-c", code, str(folder)], timeout=60).returncode == 0


def test_second_writer_fails_naming_the_holder_and_sigkill_frees_it(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc, _ = hold(out)
    try:
        with pytest.raises(FolderBusy) as e:
            acquire(out, "j1 synth")
        assert f"pid {proc.pid}" in str(e.value) and f"j1 synth --out {out}" in str(e.value)
        assert str(out.resolve()) in str(e.value)
    finally:
        kill(proc)
    with folder_lock(out, "j1 synth"):  # the kernel dropped the dead holder's lock: no stale lock
        assert json.loads((out / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert free_in_subprocess(out)


def test_a_forked_child_does_not_keep_the_folder_locked(tmp_path: Path) -> None:
    """An engine process forked by the command outlives a SIGKILLed parent: the folder must still be free."""
    out = tmp_path / "run"
    proc, child = hold(out, fork=True)
    try:
        assert not free_in_subprocess(out)
        kill(proc)
        os.kill(child, 0)  # the child is still alive
        assert free_in_subprocess(out)
    finally:
        os.kill(child, signal.SIGKILL)


def test_lock_is_reentrant_within_a_process_and_released_by_the_last_exit(tmp_path: Path) -> None:
    out = tmp_path / "run"
    acquire(out, "j1 train")
    acquire(out, "j1 train (manifest)")
    release(out)
    assert not free_in_subprocess(out)
    release(out)
    assert free_in_subprocess(out)


def test_lock_file_is_not_part_of_a_folder_fingerprint(tmp_path: Path) -> None:
    """Fingerprinting a locked folder neither counts the lock file nor reads it (which would drop the lock)."""
    out = tmp_path / "judge"
    out.mkdir()
    (out / "w.bin").write_bytes(b"weights")
    before = fingerprint(out)
    with folder_lock(out, "j1 train"):
        assert fingerprint(out) == before
        assert not free_in_subprocess(out)


def write_pairs(path: Path) -> Path:
    rows = [
        {"id": f"p{i}", "prompt": f"{i}+{i}?", "chosen": f"{2 * i} because", "rejected": "7"}
        for i in range(4)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("command", ["eval", "verify"])
def test_cli_refuses_a_busy_folder_and_writes_nothing(
    tmp_path: Path, j1_env: dict[str, str], command: str
) -> None:
    """The real command, while another process writes its folder: exit 1 at once, the folder untouched."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "kept.jsonl").write_text('{"id": "p0"}\n')  # what was in the folder before: kept as it was
    if command == "eval":
        args = ["eval", "--judge", "longer", "--benchmark", f"pairs={write_pairs(tmp_path / 'p.jsonl')}"]
        args += ["--out", str(out)]
    else:
        rows = tmp_path / "rows.jsonl"
        rows.write_text(json.dumps({"question": "1+1?", "response": "2", "reference": "2"}) + "\n")
        args = ["verify", "--in", str(rows), "--out", str(out / "verified.jsonl")]
    proc, _ = hold(out)
    try:
        t = time.time()
        done = subprocess.run(
            [sys.executable, "-m", "j1", *args], capture_output=True, text=True, env=j1_env, timeout=120
        )
        assert done.returncode != 0
        text = " ".join((done.stdout + done.stderr).split())
        assert (
            f"pid {proc.pid}" in text and "being written by another run" in text and "Traceback" not in text
        )
        assert time.time() - t < 60
        assert sorted(p.name for p in out.iterdir()) == sorted([LOCK_NAME, "kept.jsonl"])
        assert (out / "kept.jsonl").read_text() == '{"id": "p0"}\n'
    finally:
        kill(proc)
    again = subprocess.run(
        [sys.executable, "-m", "j1", *args], capture_output=True, text=True, env=j1_env, timeout=120
    )
    assert again.returncode == 0, again.stderr
