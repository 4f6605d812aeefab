"""SIGKILL at random points of the long commands, then rerun: the outputs equal an uninterrupted run's.

The harness times a clean run, then starts the real command, SIGKILLs it after a seeded delay (one early,
during the first writes; one near the end; the rest random), checks that no process it started is left
behind, and restarts it on the same folder, killing the restarts too (crashes during recovery), until ten
kills have landed; each folder is run to the end and its outputs compared with the clean run's:
byte-identical where the command is deterministic, else the same ids with none lost and none twice.
(Disk and file faults: test_faults.py.)
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

J1 = [sys.executable, "-m", "j1"]
# kills per command (the fault-tolerance target: at least ten)
KILLS = int(os.environ.get("J1_CRASH_KILLS", "10"))


def descendants(pid: int) -> set[int]:
    """Every live process whose parent chain reaches `pid` (read from /proc)."""
    parents: dict[int, int] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                stat = (p / "stat").read_text()
                parents[int(p.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
            except (OSError, ValueError):
                continue
    out, frontier = set(), {pid}
    while frontier:
        frontier = {c for c, par in parents.items() if par in frontier} - out
        out |= frontier
    return out


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "zombie" not in status


def kill(proc: subprocess.Popen, delay: float) -> bool:
    """SIGKILL `proc` after `delay` s unless it has exited by then (True: the kill landed); assert that no
    process it started outlives it."""
    try:
        code = proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        pass
    else:
        assert code == 0, f"exited with {code} before the kill at {delay:.1f} s"
        return False
    children = descendants(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(alive(c) for c in children):
        time.sleep(0.2)
    assert not any(alive(c) for c in children), f"children of the killed run left behind after {delay:.1f} s"
    return True


def crash_and_rerun(
    cmd: Callable[[Path], list[str]],
    outputs: Callable[[Path], dict[str, object]],
    tmp: Path,
    env: dict[str, str],
    seed: int,
    kills: int = KILLS,
) -> list[float]:
    """Run the harness for one command; returns the delays of the kills that landed.

    Kills come in chains on one folder: the command is started, killed, restarted (it resumes), killed
    again... up to half the kills, or until a restart finishes before its kill; then it is run to the end
    and its outputs compared with the clean run's, and the next chain starts on a fresh folder. The first chain's first kill is early
    (the interpreter and the first write), the second chain's first kill late (the last write); the others
    are seeded uniform delays. A kill during a resume is a crash during recovery."""
    t = time.monotonic()
    subprocess.run(cmd(tmp / "clean"), check=True, capture_output=True, env=env, timeout=600)
    clean_s = time.monotonic() - t
    expected = outputs(tmp / "clean")
    rng = random.Random(seed)
    early, late = min(2.5, clean_s * 0.2), clean_s * 0.9
    per_chain = max(kills // 2, 1)
    landed: list[float] = []
    chain = 0
    while len(landed) < kills:
        out, in_chain = tmp / f"killed{chain}", 0
        delay = early if chain == 0 else late if chain == 1 else rng.uniform(early, late)
        while len(landed) < kills and in_chain < per_chain:
            proc = subprocess.Popen(cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            if not kill(proc, delay):
                break
            landed.append(delay)
            in_chain += 1
            delay = rng.uniform(early, late)
        done = subprocess.run(cmd(out), capture_output=True, text=True, env=env, timeout=600)
        assert done.returncode == 0, (chain, done.stderr[-2000:])
        assert outputs(out) == expected, f"outputs differ after the kills of chain {chain}"
        chain += 1
    return landed


def jsonl_ids(path: Path, key: str) -> list[str]:
    ids = [json.loads(ln)[key] for ln in path.read_text().splitlines() if ln.strip()]
    assert len(ids) == len(set(ids)), f"{path}: an id written twice"
    return sorted(ids)


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    return dict(
        os.environ, HF_HUB_OFFLINE="1", J1_HOME=str(tmp_path / "home"), TOKENIZERS_PARALLELISM="false"
    )


@pytest.mark.slow
def test_synth_killed_anywhere_resumes_to_the_same_files(
    tmp_path: Path, env: dict[str, str], tiny_model_dir: Path
) -> None:
    """Math and chat pairs from the tiny model (the hf backend seeds per chunk): byte-identical files."""

    def cmd(out: Path) -> list[str]:
        sets = ["math.procedural_count=24", "math.samples=2", "math.max_tokens=24", "chunk_size=4",
                "chat.sources=[{name: e, limit: 12}]", "chat.max_tokens=12", "chat.noisy_max_tokens=12",
                "chat.response_checks=[]", "chat.noisy_checks=[]", "generator.options.dtype=float32"]  # fmt: skip
        return [*J1, "synth", "--backend", "hf", "--model", str(tiny_model_dir), "--out", str(out),
                *(x for s in sets for x in ("--set", s))]  # fmt: skip

    def outputs(out: Path) -> dict[str, object]:
        return {name: (out / name).read_bytes() for name in ("pairs.jsonl", "rejects.jsonl")}

    crash_and_rerun(cmd, outputs, tmp_path, env, seed=5)
    assert all((tmp_path / "clean" / name).read_text() for name in ("pairs.jsonl", "rejects.jsonl"))


@pytest.mark.slow
def test_verify_killed_anywhere_resumes_to_the_same_file(tmp_path: Path, env: dict[str, str]) -> None:
    rows = tmp_path / "rows.jsonl"
    with open(rows, "w") as f:
        for i in range(40_000):
            answer = str(i * 7) if i % 3 else str(i * 7 + 1)
            f.write(
                json.dumps(
                    {"question": f"What is {i} x 7?", "response": f"It is {i * 7}.", "reference": answer}
                )
                + "\n"
            )

    def cmd(out: Path) -> list[str]:
        return [
            *J1,
            "verify",
            "--in",
            str(rows),
            "--out",
            str(out / "verified.jsonl"),
            "--set",
            "chunk_size=500",
        ]

    def outputs(out: Path) -> dict[str, object]:
        return {"verified": (out / "verified.jsonl").read_bytes()}  # deterministic: byte-identical

    crash_and_rerun(cmd, outputs, tmp_path, env, seed=1)


@pytest.mark.slow
def test_generate_and_eval_killed_anywhere_lose_and_repeat_nothing(
    tmp_path: Path, env: dict[str, str], tiny_model_dir: Path
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        "".join(json.dumps({"id": f"c{i}", "prompt": f"What is {i} + {i}?"}) + "\n" for i in range(48))
    )

    def gen(out: Path) -> list[str]:
        return [*J1, "generate", "--in", str(src), "--out", str(out), "--backend", "hf", "--model", str(tiny_model_dir),
                "--set", "sampling.n=2", "--set", "sampling.max_tokens=16", "--set", "chunk_size=4",
                "--set", "backend.options.dtype=float32"]  # fmt: skip

    crash_and_rerun(
        gen, lambda out: {"ids": jsonl_ids(out / "generations.jsonl", "id")}, tmp_path / "gen", env, seed=2
    )

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"What is {i} + {i}?", "chosen": f"{2 * i}",
                                         "rejected": f"{2 * i + 1}"}) + "\n" for i in range(24)))  # fmt: skip

    def ev(out: Path) -> list[str]:
        return [*J1, "eval", "--judge", str(tiny_model_dir), "--backend", "hf", "--benchmark", f"pairs={pairs}",
                "--out", str(out), "--max-tokens", "8", "--set", "judge.options={dtype: float32}"]  # fmt: skip

    def ev_outputs(out: Path) -> dict[str, object]:
        report = json.loads((out / "report.json").read_text())["benchmarks"]["pairs"]
        return {"ids": jsonl_ids(out / "predictions.jsonl", "key"), "n": report["n"]}

    crash_and_rerun(ev, ev_outputs, tmp_path / "eval", env, seed=3)


@pytest.mark.slow
def test_train_killed_anywhere_resumes_with_the_same_steps(
    tmp_path: Path, env: dict[str, str], tiny_model_dir: Path
) -> None:
    """A GRPO run (tiny model, 4 steps, a checkpoint every step) killed and rerun with --resume: the same
    number of steps, each step's metrics once, a saved judge."""
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"What is {i} + {i}?", "chosen": f"{2 * i}",
                                        "rejected": f"{2 * i + 1}"}) + "\n" for i in range(12)))  # fmt: skip

    def cmd(out: Path) -> list[str]:
        sets = [f"model={tiny_model_dir}", "grpo.use_cpu=true", "grpo.bf16=false", "grpo.max_steps=4",
                "grpo.max_completion_length=8", "grpo.num_generations=2", "grpo.per_device_train_batch_size=4",
                "grpo.save_steps=1", "heldout_eval.enabled=false", "data.heldout_size=2", "warm_start.enabled=false",
                "tensorboard=false"]  # fmt: skip
        resume = ["--resume"] if (out / "checkpoints").is_dir() else []
        return [
            *J1,
            "train",
            "--data",
            str(data),
            "--out",
            str(out),
            *resume,
            *(x for s in sets for x in ("--set", s)),
        ]

    def outputs(out: Path) -> dict[str, object]:
        steps = [json.loads(ln)["step"] for ln in (out / "metrics.jsonl").read_text().splitlines()
                 if ln.strip() and "loss" in json.loads(ln)]  # fmt: skip
        return {"steps": steps, "judge": (out / "judge" / "model.safetensors").is_file(),
                "status": json.loads((out / "manifest.json").read_text())["status"]}  # fmt: skip

    crash_and_rerun(cmd, outputs, tmp_path, env, seed=4)
