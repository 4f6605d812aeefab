"""Disk and input faults in a run folder: a full disk fails with a clear error and resumes; a torn last line
is repaired; a damaged line is refused, never silently reused. (The folder lock: test_lock.py.)"""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest


def pairs(path: Path, n: int = 40) -> Path:
    rows = [
        {"id": f"p{i}", "prompt": f"What is {i} + {i}?", "rejected": f"{2 * i + 1}",
         "chosen": f"{i} + {i} = {2 * i}, because adding {i} twice gives {2 * i}. " * 3}
        for i in range(n)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def j1_eval(
    data: Path, out: Path, env: dict[str, str], max_file_bytes: int | None = None
) -> subprocess.CompletedProcess:
    def limit() -> None:  # a disk that fills up: writes past this size fail with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    cmd = [
        sys.executable,
        "-m",
        "j1",
        "eval",
        "--judge",
        "longer",
        "--benchmark",
        f"pairs={data}",
        "--out",
        str(out),
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300,
                          preexec_fn=limit if max_file_bytes else None)  # fmt: skip


def records(path: Path) -> list[str]:
    return sorted(path.read_text().splitlines())


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    import os

    tmp = tmp_path_factory.mktemp("clean")
    data = pairs(tmp / "pairs.jsonl")
    env = dict(os.environ, HF_HUB_OFFLINE="1", J1_HOME=str(tmp / "home"))
    assert j1_eval(data, tmp / "out", env).returncode == 0
    return data, records(tmp / "out" / "predictions.jsonl")


def test_full_disk_fails_clearly_keeps_what_was_written_and_resumes(clean, tmp_path, j1_env) -> None:
    data, expected = clean
    out = tmp_path / "out"
    full = j1_eval(data, out, j1_env, max_file_bytes=20_000)
    assert full.returncode == 1 and "Traceback" not in full.stderr
    assert "the disk is full" in full.stderr and "rerun the same command to resume" in " ".join(
        full.stderr.split()
    )
    written = (out / "predictions.jsonl").read_text()
    assert 0 < len(written) <= 20_000
    assert json.loads((out / "manifest.json").read_text())["status"] == "failed"
    again = j1_eval(data, out, j1_env)
    assert again.returncode == 0, again.stderr
    got = records(out / "predictions.jsonl")
    assert got == expected  # the same records, none lost, none twice


def test_torn_last_line_is_repaired_on_resume(clean, tmp_path, j1_env) -> None:
    data, expected = clean
    out = tmp_path / "out"
    out.mkdir()
    (out / "predictions.jsonl").write_text("\n".join(expected[:10]) + "\n" + expected[10][:25])
    again = j1_eval(data, out, j1_env)
    assert again.returncode == 0, again.stderr
    assert records(out / "predictions.jsonl") == expected


def test_a_damaged_line_is_refused_not_reused(clean, tmp_path, j1_env) -> None:
    data, expected = clean
    out = tmp_path / "out"
    out.mkdir()
    damaged = "\n".join([*expected[:3], '{"key": "x", "verd', *expected[3:6]]) + "\n"
    (out / "predictions.jsonl").write_text(damaged)
    again = j1_eval(data, out, j1_env)
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert "predictions.jsonl:4: not a record of this output" in " ".join(again.stderr.split())
    assert (out / "predictions.jsonl").read_text() == damaged  # untouched
