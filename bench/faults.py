"""How fast a second writer is turned away: each long command started on a folder another process holds.

For `j1 synth`, `generate`, `verify`, `eval` and `train`, a holder process takes the output folder's lock
(`j1.lock`, as a running command does) and the command is started on the same folder `--repeats` times;
each run must exit non-zero naming the holder's pid, and the folder must be left as it was. Beside them,
`j1 --help` is timed the same way: the floor any command pays to start Python and the CLI.

    .venv/bin/python bench/faults.py [--repeats 5]

The last line is one JSON object: per command the median and max seconds from process start to exit,
`refused_max_s` (target < 1.0, issue #23) and `refused_vs_cli_start` (median refusal time over the
median `j1 --help` time, the cost of reaching the lock beyond starting the CLI).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOLD = "import sys, time\nfrom j1.lock import acquire\nacquire(sys.argv[1], 'holder')\nprint('held', flush=True)\ntime.sleep(600)\n"


def commands(tmp: Path, out: Path) -> dict[str, list[str]]:
    pairs = tmp / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"{i}+{i}?", "chosen": str(2 * i),
                                         "rejected": str(2 * i + 1)}) + "\n" for i in range(4)))  # fmt: skip
    rows = tmp / "rows.jsonl"
    rows.write_text(json.dumps({"question": "1+1?", "response": "2", "reference": "2"}) + "\n")
    prompts = tmp / "prompts.jsonl"
    prompts.write_text(json.dumps({"prompt": "Say hi."}) + "\n")
    return {
        "synth": ["synth", "--out", str(out)],
        "generate": ["generate", "--in", str(prompts), "--out", str(out)],
        "verify": ["verify", "--in", str(rows), "--out", str(out / "verified.jsonl")],
        "eval": ["eval", "--judge", "longer", "--benchmark", f"pairs={pairs}", "--out", str(out)],
        "train": ["train", "--data", str(pairs), "--out", str(out)],
    }


def timed(args: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "j1", *args], capture_output=True, text=True, timeout=300)
    return time.perf_counter() - t, done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        out = tmp / "busy"
        out.mkdir()
        holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "held"
        try:
            before = sorted(p.name for p in out.iterdir())
            start = [timed(["--help"])[0] for _ in range(args.repeats)]
            result: dict[str, dict[str, float]] = {}
            for name, argv in commands(tmp, out).items():
                times = []
                for _ in range(args.repeats):
                    seconds, done = timed(argv)
                    text = done.stdout + done.stderr
                    if done.returncode == 0 or f"pid {holder.pid}" not in " ".join(text.split()):
                        raise SystemExit(
                            f"{name}: not refused as expected (exit {done.returncode}): {text[-400:]}"
                        )
                    times.append(seconds)
                result[name] = {"median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3)}
                print(
                    f"{name:9} refused in {result[name]['median_s']:.3f} s (max {result[name]['max_s']:.3f})",
                    flush=True,
                )
            if sorted(p.name for p in out.iterdir()) != before:
                raise SystemExit(
                    f"the busy folder changed: {before} -> {sorted(p.name for p in out.iterdir())}"
                )
        finally:
            holder.kill()
    cli = statistics.median(start)
    worst = max(r["max_s"] for r in result.values())
    median = statistics.median(r["median_s"] for r in result.values())
    print(json.dumps({"commands": result, "cli_start_s": round(cli, 3), "refused_max_s": worst,
                      "refused_vs_cli_start": round(median / cli, 3), "target_s": 1.0, "holds": worst < 1.0}))  # fmt: skip


if __name__ == "__main__":
    main()
