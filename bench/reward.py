"""Group rewards through `j1 serve` against the same judge called in process: what the server costs.

P prompts (embedded arithmetic problems) with G rollouts each (worked answers, some right, some off by a
little) are scored by `j1.group.score_batch` in every schedule — `round_robin`, `regular` (k=2), `swiss`
(k=2), `anchor` — once with the served judge (`client_judge`: `j1 serve`, its in-process engine, HTTP
batches) and once with the same model in this process (`backend_judge`: the same engine kind, format,
greedy decoding and output budget), legs alternated `--repeats` times in one run.

    .venv/bin/python bench/reward.py [--model smollm2-135m] [--engine vllm] [--prompts 8] [--group 4]

The last line is one JSON object: per schedule the rollouts scored per second through the server and in
process, their ratio, and the judge calls per rollout; `ratio_vs_engine` is the smallest ratio (target
>= 0.85, issue #21).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from typing import Any

from j1.backends import make_backend
from j1.client import JudgeClient
from j1.data_synthesis.procedural import generate_problems
from j1.group import backend_judge, client_judge, score_batch
from j1.models import resolve_model
from j1.server.process import ServerProcess

SCHEDULES = ("round_robin", "regular", "swiss", "anchor")


def rollouts(prompts: int, group: int, seed: int = 0) -> tuple[list[str], list[str], list[str]]:
    """(prompt per rollout, completion per rollout, anchor per rollout: the right worked answer)."""
    rng = random.Random(seed)
    ps, cs, anchors = [], [], []
    for row in generate_problems(prompts, seed=seed, levels=[1]):
        right = int(row["answer"])
        for _ in range(group):
            value = right if rng.random() < 0.5 else right + rng.choice([-2, -1, 1, 2])
            ps.append(row["question"])
            cs.append(f"Working it out, the result is {value}. The answer is {value}.")
            anchors.append(f"Working it out, the result is {right}. The answer is {right}.")
    return ps, cs, anchors


def timed(judge: Any, schedule: str, ps: list[str], cs: list[str], anchors: list[str]) -> tuple[float, int]:
    t = time.perf_counter()
    result = score_batch(judge, ps, cs, schedule, "winrate", 2, anchors if schedule == "anchor" else None)
    return time.perf_counter() - t, result.calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--engine", default="vllm", help="vllm | hf (the server's engine and the local backend)")
    ap.add_argument("--format", default="pairwise_verdict_short")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    model = resolve_model(args.model)
    env = dict(os.environ) | {"VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2")}
    os.environ.update(env)
    ps, cs, anchors = rollouts(args.prompts, args.group)
    server = ServerProcess(["--judge", model, "--engine", args.engine, "--format", args.format,
                            "--max-tokens", str(args.max_tokens), "--log-level", "warning"], env=env,
                           startup_timeout=600).start()  # fmt: skip
    try:
        with JudgeClient(server.url, timeout=600) as client, make_backend(args.engine, model) as backend:
            legs = {
                "server": client_judge(client, batch_size=64),
                "engine": backend_judge(backend, args.format, args.max_tokens),
            }
            timed(legs["server"], "regular", ps[: args.group], cs[: args.group], anchors)  # warm both up
            timed(legs["engine"], "regular", ps[: args.group], cs[: args.group], anchors)
            seconds: dict[str, dict[str, list[float]]] = {s: {"server": [], "engine": []} for s in SCHEDULES}
            calls: dict[str, int] = {}
            for _ in range(args.repeats):
                for schedule in SCHEDULES:
                    for leg, judge in legs.items():
                        t, calls[schedule] = timed(judge, schedule, ps, cs, anchors)
                        seconds[schedule][leg].append(t)
                        print(
                            f"{schedule:11} {leg:6} {len(cs) / t:7.2f} rollouts/s ({calls[schedule]} calls)",
                            flush=True,
                        )
    finally:
        server.stop()
    out: dict[str, Any] = {"model": args.model, "engine": args.engine, "rollouts": len(cs), "schedules": {}}
    for schedule in SCHEDULES:
        rate = {leg: len(cs) / statistics.median(v) for leg, v in seconds[schedule].items()}
        out["schedules"][schedule] = {
            "server_rollouts_per_s": round(rate["server"], 3),
            "engine_rollouts_per_s": round(rate["engine"], 3),
            "ratio": round(rate["server"] / rate["engine"], 3),
            "calls_per_rollout": round(calls[schedule] / len(cs), 2),
        }
    out["ratio_vs_engine"] = min(s["ratio"] for s in out["schedules"].values())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
