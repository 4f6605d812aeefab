"""The GPU smoke test: every stage of j1 once on one CUDA GPU, offline, in about ten minutes.

    make gpu-smoke          # = python -m bench.gpu_smoke [--out runs/gpu-smoke] [--port 8766]

On the first GPU machine, before a paper-scale recipe spends its hours: the embedded default model (no hub,
no network: HF_HUB_OFFLINE=1), `j1 synth` (vLLM when installed, else `hf`), `j1 train` (label-free warm
start, then a few GRPO steps with vLLM colocated rollouts when vLLM is installed; bf16 compute, float32
master weights), the held-out `j1 eval` it runs, and `j1 serve` answering one request. Each stage is the
command a user types, run in its own process; one failing stage is recorded and the rest still run. The
last line is one JSON object: each stage's status, seconds and throughput, and the machine.

On a machine without a CUDA GPU it stops at once (exit 2) and says so.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path
from typing import Any

STAGE_TIMEOUT_S = 900


def gpu() -> dict[str, Any] | None:
    import torch

    if not torch.cuda.is_available():
        return None
    p = torch.cuda.get_device_properties(0)
    return {"name": p.name, "memory_gb": round(p.total_memory / 1e9, 1), "count": torch.cuda.device_count()}


def j1(args: list[str], env: dict[str, str], log: Path) -> tuple[bool, float, str]:
    """Run `j1 ARGS`; (ok, seconds, last lines of its output)."""
    print(f"$ j1 {shlex.join(args)}", flush=True)
    t = time.time()
    with open(log, "w") as f:
        try:
            proc = subprocess.run([sys.executable, "-m", "j1", *args], env=env, stdout=f, stderr=subprocess.STDOUT,
                                  timeout=STAGE_TIMEOUT_S, check=False)  # fmt: skip
            ok = proc.returncode == 0
        except subprocess.TimeoutExpired:
            ok = False
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-5:])
    return ok, round(time.time() - t, 1), tail


def smoke(out: Path, port: int) -> dict[str, Any]:
    from j1.manifest import read_manifest
    from j1.train.callbacks import read_metrics

    machine = gpu()
    if machine is None:
        return {"status": "no_gpu", "message": "no CUDA GPU here: the GPU smoke test needs one (torch.cuda)"}
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    vllm = find_spec("vllm") is not None
    backend = "vllm" if vllm else "hf"
    stages: dict[str, Any] = {}

    def stage(name: str, args: list[str]) -> bool:
        ok, seconds, tail = j1(args, env, out / f"{name}.log")
        stages[name] = {"status": "ok" if ok else "failed", "seconds": seconds}
        if not ok:
            stages[name]["error"] = tail
        return ok

    import j1.data_synthesis

    recipe = Path(j1.data_synthesis.__file__).parent / "recipes" / "cpu_quick.yaml"
    synth, train = out / "synth", out / "train"
    if stage("models", ["models", "pull", "smollm2-135m"]) and stage(
        "synth",
        [
            "synth",
            "--recipe",
            str(recipe),
            "--out",
            str(synth),
            "--set",
            f"generator.name={backend}",
            "--set",
            "math.procedural_count=120",
        ],  # fmt: skip
    ):
        pairs = sum(1 for ln in (synth / "pairs.jsonl").read_text().splitlines() if ln.strip())
        stages["synth"]["pairs"] = pairs
        stages["synth"]["pairs_per_s"] = round(pairs / max(stages["synth"]["seconds"], 1e-9), 2)
    rollouts = ["--set", "grpo.use_vllm=true", "--set", "grpo.vllm_mode=colocate",
                "--set", "grpo.vllm_gpu_memory_utilization=0.3"] if vllm else []  # fmt: skip
    if stages.get("synth", {}).get("status") == "ok" and stage(
        "train",
        [
            "train",
            "--data",
            str(synth / "pairs.jsonl"),
            "--out",
            str(train),
            "--set",
            "grpo.max_steps=5",
            "--set",
            "warm_start.traces.max_examples=32",
            "--set",
            f"heldout_eval.backend={backend}",
            "--set",
            "grpo.bf16=true",
            *rollouts,
        ],  # fmt: skip
    ):
        m = read_manifest(train) or {}
        times = [r["step_time"] for r in read_metrics(train / "metrics.jsonl") if "step_time" in r]
        stages["train"].update(
            steps=len(times),
            s_per_step=round(sum(times) / len(times), 2) if times else None,
            precision=m.get("counts", {}).get("precision"),
            heldout=(m.get("heldout_metrics") or {}).get("pairwise_verdict"),
        )
        stages["eval"] = {"status": "ok" if m.get("heldout_metrics") else "failed"}
    if stages.get("train", {}).get("status") == "ok":
        stages["serve"] = serve(train / "judge", port, backend, env)
    ok = all(s.get("status") == "ok" for s in stages.values())
    return {"status": "ok" if ok else "failed", "gpu": machine, "vllm": vllm, "stages": stages}


def serve(judge: Path, port: int, engine: str, env: dict[str, str]) -> dict[str, Any]:
    from j1.client import JudgeClient
    from j1.server.process import ServerProcess

    t = time.time()
    try:
        args = ["--judge", str(judge), "--engine", engine]
        with ServerProcess(args, port=port, env=env, startup_timeout=600, command=[sys.executable, "-m", "j1", "serve"]) as srv:  # fmt: skip
            started = time.time()
            with JudgeClient(srv.url, timeout=120) as client:
                verdict = client.pairwise(
                    "What is 7 times 8?", "7 x 8 = 56.", "7 x 8 = 54.", both_orders=True
                )
            return {"status": "ok", "start_s": round(started - t, 1), "request_s": round(time.time() - started, 2),
                    "verdict": verdict.get("verdict")}  # fmt: skip
    except Exception as e:  # noqa: BLE001 - recorded, the smoke test reports every stage
        return {"status": "failed", "seconds": round(time.time() - t, 1), "error": f"{type(e).__name__}: {e}"}


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.gpu_smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/gpu-smoke", type=Path)
    parser.add_argument("--port", default=8766, type=int)
    args = parser.parse_args(argv)
    t = time.time()
    result = smoke(args.out, args.port)
    if result["status"] == "no_gpu":
        print(result["message"], file=sys.stderr)
    result["seconds"] = round(time.time() - t, 1)
    print(json.dumps(result))
    return {"ok": 0, "no_gpu": 2}.get(result["status"], 1)


if __name__ == "__main__":
    sys.exit(main())
