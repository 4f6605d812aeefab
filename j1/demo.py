"""The demo: built-in preference pairs for `j1 generate --demo` (a few pairs whose right answer is known,
each rendered with the J1 pairwise prompt in both orders: chosen shown first = `ab`, second = `ba`), and
`make demo`'s tour of j1 (`python -m j1.demo`, below)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from j1.manifest import read_manifest
from j1.templates import render

DEMO_PAIRS: list[tuple[str, str, str, str]] = [
    # (id, prompt, chosen, rejected)
    ("add-1", "What is 12 + 30?", "12 + 30 = 42.", "12 + 30 = 32."),
    ("mul-1", "What is 7 times 8?", "7 x 8 = 56.", "7 x 8 = 54."),
    (
        "cap-1",
        "What is the capital of Australia?",
        "The capital of Australia is Canberra.",
        "The capital of Australia is Sydney.",
    ),
    ("sort-1", "Sort these numbers in increasing order: 5, 2, 9, 1.", "1, 2, 5, 9", "9, 5, 2, 1"),
    (
        "haiku-1",
        "Write a haiku about rain.",
        "Soft rain on the roof\nthe garden drinks in silence\npuddles hold the sky",
        "Rain is water that falls from clouds. It is important for plants.",
    ),
    (
        "json-1",
        'Return a JSON object with key "ok" set to true and nothing else.',
        '{"ok": true}',
        'Sure! Here is the JSON you asked for: {"ok": "yes"}',
    ),
]


def demo_conversations() -> list[tuple[str, list[dict[str, str]]]]:
    rows = []
    for pid, prompt, chosen, rejected in DEMO_PAIRS:
        for order, (a, b) in (("ab", (chosen, rejected)), ("ba", (rejected, chosen))):
            text = render("pairwise_verdict_v1", prompt=prompt, response_a=a, response_b=b)
            rows.append((f"{pid}:{order}", [{"role": "user", "content": text}]))
    return rows


# ---- `make demo`: the user's tour, through the CLI a user types -------------------------------------------

TOUR_DOC = """python -m j1.demo [--out runs/demo] [--train-minutes 5] [--port 8765]: pull the embedded model,
`j1 synth` (the quick CPU recipe), `j1 train` (the default: warm start + GRPO, held-out split; a short
warm start and a time limit keep the tour short), `j1 eval` of the base model on the same held-out pairs
beside the trained judge, `j1 serve` with one JudgeClient call and one raw HTTP request, then a summary.
Each step is the command a user types (printed before it runs); a rerun skips finished steps."""
QUICK_SYNTH = "cpu_quick.yaml"  # data_synthesis/recipes/, package data of j1.data_synthesis
WARM_EXAMPLES = 32  # warm-start examples: ~2 minutes of SFT on 2 cores (the default, 200, takes ~13)


def _done(folder: Path) -> bool:
    return (read_manifest(folder) or {}).get("status") == "ok"


def _j1(args: list[str], console: Any) -> None:
    console.print(f"[bold cyan]$ j1 {shlex.join(args)}[/]")
    proc = subprocess.run([sys.executable, "-m", "j1", *args], check=False)
    if proc.returncode != 0:
        raise SystemExit(f"demo: `j1 {shlex.join(args)}` failed (exit {proc.returncode}); rerun to resume")


def _pairs_figures(folder: Path) -> dict[str, Any]:
    r = json.loads((folder / "report.json").read_text())
    b = r["benchmarks"]["pairs"]
    base = {name: v["benchmarks"]["pairs"]["score"] for name, v in r.get("baselines", {}).items()}
    return {"score": b["score"], "n": b["n"], "parse_fail_rate": b["parse_fail_rate"], "baselines": base}


def serve_and_ask(judge: Path, port: int, console: Any) -> dict[str, Any]:
    """`j1 serve` in the background (its log in a temp file), one JudgeClient call and one plain HTTP
    POST (what curl sends), then the server stopped."""
    import urllib.request

    from j1.client import JudgeClient
    from j1.server.process import ServerProcess

    args = ["--judge", str(judge)]
    console.print(f"[bold cyan]$ j1 serve {shlex.join(args)} --port {port} &[/]")
    question = ("What is 7 times 8?", "7 x 8 = 56.", "7 x 8 = 54.")
    command = [sys.executable, "-m", "j1", "serve"]
    with ServerProcess(args, port=port, startup_timeout=600, command=command) as server:
        with JudgeClient(server.url, timeout=120) as client:
            console.print(
                f"[bold cyan]>>> JudgeClient('{server.url}').pairwise(*{question!r}, both_orders=True)[/]"
            )
            by_client = client.pairwise(*question, both_orders=True)
            console.print(by_client)
        body = json.dumps(
            {"prompt": question[0], "response_a": question[1], "response_b": question[2], "both_orders": True}
        ).encode()
        url = f"{server.url}/v1/judge/pairwise"
        console.print(
            f"[bold cyan]$ curl -s {url} -H 'content-type: application/json' -d '{body.decode()}'[/]"
        )
        req = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=300) as resp:
            by_http = json.loads(resp.read())
        console.print(by_http)
    return {"client": by_client, "http": by_http}


def tour(out: Path, train_minutes: float, port: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    t0 = time.time()
    synth, train, base_eval = out / "synth", out / "train", out / "eval" / "base"
    _j1(["models", "pull", "smollm2-135m"], console)
    if not _done(synth):
        import j1.data_synthesis

        recipe = Path(j1.data_synthesis.__file__).parent / "recipes" / QUICK_SYNTH
        _j1(["synth", "--recipe", str(recipe), "--out", str(synth)], console)
    if not _done(train):
        resume = ["--resume"] if (train / "checkpoints").is_dir() else []
        _j1(["train", "--data", str(synth / "pairs.jsonl"), "--out", str(train),
             "--set", f"warm_start.traces.max_examples={WARM_EXAMPLES}",
             "--set", f"time_limit_minutes={train_minutes}", *resume], console)  # fmt: skip
    trained_eval = train / "heldout_eval"
    heldout = next(trained_eval.glob("heldout_*.jsonl"))
    if not _done(base_eval):
        ev = read_manifest(trained_eval)["config"]
        _j1(["eval", "--judge", "smollm2-135m", "--benchmark", f"pairs={heldout}", "--out", str(base_eval),
             "--backend", ev["judge"]["backend"], "--format", ev["judge"]["format"],
             "--max-tokens", str(ev["judge"]["max_tokens"])], console)  # fmt: skip
    _j1(["eval", "--compare", str(base_eval), "--compare", str(trained_eval)], console)
    served = serve_and_ask(train / "judge", port, console)
    base, trained = _pairs_figures(base_eval), _pairs_figures(trained_eval)
    pairs = sum(1 for ln in (synth / "pairs.jsonl").read_text().splitlines() if ln.strip())
    steps = read_manifest(train).get("train_metrics", {}).get("step")
    table = Table(title=f"j1 demo ({(time.time() - t0) / 60:.1f} min this run)")
    for col in ("step", "output", "figures"):
        table.add_column(col)
    table.add_row("j1 synth", str(synth), f"{pairs} pairs (pairs.jsonl; rejects.jsonl; manifest.json)")
    table.add_row(
        "j1 train", str(train), f"warm start (warm/) + GRPO, {steps} steps; judge/ with its model card"
    )
    baselines = ", ".join(f"{k} {v:.0f}%" for k, v in trained["baselines"].items())
    table.add_row(
        "j1 eval", f"{base_eval}\n{trained_eval}",
        f"held-out pairs: {trained['n']}, right in both orders: base {base['score']:.0f}%, trained "
        f"{trained['score']:.0f}%; unparsed: base {base['parse_fail_rate']:.0f}%, trained "
        f"{trained['parse_fail_rate']:.0f}%; baselines {baselines}",
    )  # fmt: skip
    table.add_row("j1 serve", f"127.0.0.1:{port}", f"verdict {served['client'].get('verdict')!r} (client), "
                  f"{served['http'].get('verdict')!r} (HTTP) on 7 x 8: A = 56, B = 54")  # fmt: skip
    console.print(table)
    console.print(
        "A handful of held-out pairs makes a demo, not a measurement: `make learning-check` measures what "
        "training does (docs/results.md)."
    )


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m j1.demo", description=TOUR_DOC)
    parser.add_argument("--out", default="runs/demo", type=Path)
    parser.add_argument("--train-minutes", default=5.0, type=float)
    parser.add_argument("--port", default=8765, type=int)
    args = parser.parse_args(argv)
    tour(args.out, args.train_minutes, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
