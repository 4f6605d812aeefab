"""`j1 eval`: score a judge on reward benchmarks with their official metrics, both orders, baselines.

Reads top to bottom: parse the benchmark specs -> load every benchmark (bad files fail here, before any
judging) -> build the judges (the judge under test + the `longer`/`shorter`/`random` baselines that anchor
every report) -> judge every comparison of every item in both orders (`ab` = chosen shown as A), appending
each decision to `predictions.jsonl` as it comes (a rerun skips what is done) -> per benchmark: the official
score and the generic stats -> report.json / report.md / PNG plots + manifest.

Both orders of a comparison go to the engine side by side, so vLLM's prefix cache shares the judge
instruction and the question between them. The official single order of benchmarks judged in one random
order (RewardBench, RM-Bench, PPE) is drawn per item from a seeded RNG, never an unseeded coin.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from j1 import J1Error
from j1.eval import report as reports
from j1.eval.calibration import calibration
from j1.eval.judges import BASELINES, ModelJudge, Task
from j1.io import JsonlAppender, read_jsonl
from j1.manifest import RunManifest
from j1.models import DEFAULT_MODEL, resolve_model
from j1.progress import progress_bar
from j1.scoring import preference

log = logging.getLogger(__name__)
ORDERS = ("ab", "ba")


@dataclass
class JudgeConfig:
    name: str = DEFAULT_MODEL  # model alias / folder / hub id, an OpenAI-compatible URL, or a baseline name
    model: str | None = None  # the served model name when `name` is a URL
    backend: str = "vllm"  # for models: vllm | hf
    format: str = "pairwise_verdict"
    samples: int = 1  # self-consistency@N (pointwise: mean-score@N)
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 1024
    logprobs: int = 0  # > 0: top-k log-probabilities per token -> soft verdicts P(A) and a calibration report
    options: dict[str, Any] = field(default_factory=dict)  # backend options (engine args, api_key, ...)


@dataclass
class EvalConfig:
    out: str = "runs/eval"
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    benchmarks: list[str] = field(default_factory=list)  # "name" (hub) or "name=path" (local file/folder)
    limit: int | None = None  # a seeded sample of items per benchmark
    subsets: list[str] = field(default_factory=list)  # "NAME" (every benchmark) or "BENCH:NAME"
    seed: int = 0
    baselines: list[str] = field(default_factory=lambda: ["longer", "shorter", "random"])
    chunk_size: int = 64  # comparisons per engine call


def parse_spec(spec: str) -> tuple[str, str | None]:
    name, sep, path = spec.partition("=")
    return name.strip(), (path.strip() or None) if sep else None


def subsets_for(bench: str, subsets: list[str]) -> list[str]:
    """`--subset NAME` applies to every benchmark, `--subset BENCH:NAME` to that benchmark only."""
    out = []
    for s in subsets:
        scope, sep, name = s.partition(":")
        if not sep:
            out.append(s)
        elif scope == bench:
            out.append(name)
    return out


def build_judge(cfg: JudgeConfig, seed: int) -> Any:
    if cfg.name in BASELINES:
        return BASELINES[cfg.name](seed)
    from j1.backends import make_backend

    if cfg.name.startswith(("http://", "https://")):
        if not cfg.model:
            raise J1Error("an endpoint judge needs --judge-model (the served model name)")
        backend = make_backend("openai", cfg.model, base_url=cfg.name, **cfg.options)
    else:
        backend = make_backend(cfg.backend, cfg.name, **cfg.options)
    return ModelJudge(
        backend,
        cfg.format,
        cfg.samples,
        cfg.temperature,
        cfg.top_p,
        cfg.max_tokens,
        seed,
        cfg.name,
        cfg.logprobs,
    )


def official_order(seed: int, benchmark: str, item_id: str) -> str:
    return random.Random(f"{seed}:{benchmark}:{item_id}").choice(ORDERS)


def _key(judge: str, bench: str, item_id: str, k: int, order: str) -> str:
    return f"{judge}|{bench}|{item_id}|{k}|{order}"


def _task(item: Any, k: int, order: str) -> Task:
    a, b = (item.chosen, item.rejected[k]) if order == "ab" else (item.rejected[k], item.chosen)
    return Task(item.prompt, a, b)


def _row(judge: str, bench: str, item: Any, k: int, order: str, decision: Any) -> dict[str, Any]:
    pref = preference(order, decision.verdict)
    return {
        "key": _key(judge, bench, item.id, k, order),
        "judge": judge,
        "benchmark": bench,
        "item_id": item.id,
        "subset": item.subset,
        "comparison": k,
        "order": order,
        "raw": decision.raw,
        "parsed": [
            {"verdict": j.verdict, "scores": j.scores, "parse_ok": j.parse_ok, "error": j.error}
            for j in decision.judgments
        ],
        "parse_ok": decision.verdict is not None,
        "verdict": decision.verdict,
        "pref": pref,
        "agreement": decision.agreement,
        "scores": decision.scores,
        "p_a": decision.p_a,
        **({"expected_scores": decision.expected_scores} if decision.expected_scores else {}),
        "label": item.label,
    }


def _judge_all(
    name: str,
    judge_factory: Any,
    loaded: dict[str, list],
    done: dict[str, dict],
    writer: JsonlAppender,
    chunk_size: int,
) -> None:
    todo = [
        (b, it, k, o)
        for b, items in loaded.items()
        for it in items
        for k in range(len(it.rejected))
        for o in ORDERS
        if _key(name, b, it.id, k, o) not in done
    ]
    if not todo:
        return
    judge = judge_factory()
    try:
        with progress_bar(f"judging ({name})", total=len(todo)) as bar:
            for start in range(0, len(todo), chunk_size):
                chunk = todo[start : start + chunk_size]
                decisions = judge.decide([_task(it, k, o) for _, it, k, o in chunk])
                rows = [_row(name, b, it, k, o, d) for (b, it, k, o), d in zip(chunk, decisions, strict=True)]
                writer.write_many(rows)
                done.update({r["key"]: r for r in rows})
                bar.advance(len(chunk))
    finally:
        backend = getattr(judge, "backend", None)
        if backend is not None:
            backend.close()


def _results(name: str, bench: str, items: list, done: dict[str, dict], seed: int) -> list[Any]:
    from j1.eval.benchmarks.base import Comparison, ItemResult

    out = []
    for it in items:
        comps = [
            Comparison(prefs={o: done[_key(name, bench, it.id, k, o)]["pref"] for o in ORDERS})
            for k in range(len(it.rejected))
        ]
        out.append(ItemResult(item=it, comparisons=comps, official_order=official_order(seed, bench, it.id)))
    return out


def _bench_report(benchmark: Any, results: list[Any]) -> dict[str, Any]:
    from j1.eval.benchmarks import generic_stats

    official = benchmark.score(results)
    return {
        "score": official["score"],
        **generic_stats(results),
        "subsets": official.get("subsets", {}),
        **{k: v for k, v in official.items() if k not in ("score", "subsets")},
    }


def read_done(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    from j1.io import read_done_ids

    read_done_ids(path, key="key")  # drops a torn last line left by a crash
    return {obj["key"]: obj for _, obj in read_jsonl(path)}


def run(cfg: EvalConfig, command: str = "j1 eval") -> Path:
    from j1.eval.benchmarks import get_benchmark

    if not cfg.benchmarks:
        raise J1Error("name at least one benchmark: --benchmark NAME (hub) or --benchmark NAME=PATH (local)")
    out = Path(cfg.out)
    specs = [parse_spec(s) for s in cfg.benchmarks]
    with RunManifest(out, command, cfg) as manifest:
        benches = {name: get_benchmark(name) for name, _ in specs}
        loaded = {}
        for name, path in specs:
            subsets = subsets_for(name, cfg.subsets) or None
            loaded[name] = benches[name].load(path, limit=cfg.limit, subsets=subsets, seed=cfg.seed)
            if path or benches[name].hub_id:
                manifest.add_data(name, path or benches[name].hub_id)  # a hub id is pinned by its commit
            manifest.counts[name] = {"items": len(loaded[name])}
        if cfg.judge.name not in BASELINES and not cfg.judge.name.startswith(("http://", "https://")):
            manifest.add_model("judge", resolve_model(cfg.judge.name))
        judges = {cfg.judge.name: lambda: build_judge(cfg.judge, cfg.seed)}
        judges |= {b: (lambda b=b: BASELINES[b](cfg.seed)) for b in cfg.baselines if b != cfg.judge.name}
        pred_path = out / "predictions.jsonl"
        done = read_done(pred_path)
        with JsonlAppender(pred_path) as writer:
            for name, factory in judges.items():
                _judge_all(name, factory, loaded, done, writer, cfg.chunk_size)
        report: dict[str, Any] = {
            "judge": {"name": cfg.judge.name, "format": cfg.judge.format, "samples": cfg.judge.samples},
            "benchmarks": {},
            "baselines": {},
        }
        for name in judges:
            section = {
                b: _bench_report(benches[b], _results(name, b, loaded[b], done, cfg.seed)) for b in loaded
            }
            if name == cfg.judge.name:
                for b in loaded:
                    rows = [r for r in done.values() if r["judge"] == name and r["benchmark"] == b]
                    soft = calibration(rows)
                    if soft is not None:
                        section[b]["calibration"] = soft
                report["benchmarks"] = section
            else:
                report["baselines"][name] = {"benchmarks": section}
        reports.write(report, out)
        manifest.counts["predictions"] = len(done)
    return out


def load_report(out: str | Path) -> dict[str, Any]:
    return json.loads((Path(out) / "report.json").read_text())
