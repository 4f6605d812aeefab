"""j1 eval end to end: baselines on public files, a model judge through the hf backend, resume, reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from j1 import J1Error
from j1.config import load_config
from j1.eval.judges import BASELINES, LengthJudge, RandomJudge, Task, majority
from j1.eval.run import EvalConfig, official_order, run, subsets_for

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is absent")


def write_pairs(path: Path, n: int = 6) -> Path:
    rows = [
        {
            "id": f"p{i}",
            "source": "math" if i % 2 else "chat",
            "prompt": f"What is {i} + {i}?",
            "chosen": f"{i} + {i} = {2 * i}, because adding {i} twice gives {2 * i}.",
            "rejected": f"{2 * i + 1}",
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(
    ("votes", "expected"),
    [
        (["A", "A", "B"], ("A", 2 / 3)),
        (["A", "B"], ("tie", 0.5)),
        ([None, None], (None, None)),
        (["B", None], ("B", 1.0)),
    ],
)
def test_majority(votes, expected) -> None:
    assert majority(votes) == expected


def test_baselines_by_hand() -> None:
    tasks = [Task("q", "long answer", "short"), Task("q", "a", "bbb"), Task("q", "xx", "yy")]
    assert [d.verdict for d in LengthJudge("longer").decide(tasks)] == ["A", "B", "tie"]
    assert [d.verdict for d in LengthJudge("shorter").decide(tasks)] == ["B", "A", "tie"]
    assert [d.verdict for d in RandomJudge(1).decide(tasks)] == [
        d.verdict for d in RandomJudge(1).decide(tasks)
    ]
    assert [d.verdict for d in BASELINES["always_a"](0).decide(tasks)] == ["A", "A", "A"]
    assert [d.verdict for d in BASELINES["always_b"](0).decide(tasks)] == ["B", "B", "B"]


def test_official_order_is_seeded() -> None:
    orders = [official_order(0, "b", str(i)) for i in range(200)]
    assert orders == [official_order(0, "b", str(i)) for i in range(200)]
    assert 70 < orders.count("ab") < 130
    assert subsets_for("rm-bench", ["chat", "judgebench:math", "rm-bench:code"]) == ["chat", "code"]


def test_baseline_judge_on_pairs_by_hand(tmp_path: Path) -> None:
    """`longer` prefers chosen (the longer answer) in both orders: 100% consistent; `shorter` 0%."""
    pairs = write_pairs(tmp_path / "pairs.jsonl")
    cfg = load_config(
        EvalConfig, None, [f"out={tmp_path / 'out'}", "judge.name=longer", f"benchmarks=[pairs={pairs}]"]
    )
    out = run(cfg)
    report = json.loads((out / "report.json").read_text())
    b = report["benchmarks"]["pairs"]
    assert (
        b["score"] == 100.0
        and b["consistent_accuracy"] == 100.0
        and b["per_order"] == {"ab": 100.0, "ba": 100.0}
    )
    assert b["flip_rate"] == 0.0 and b["parse_fail_rate"] == 0.0 and b["n"] == 6
    assert report["baselines"]["shorter"]["benchmarks"]["pairs"]["score"] == 0.0
    assert set(report["baselines"]) == {"shorter", "random"}
    assert (out / "report.md").read_text().startswith("# j1 eval")
    assert (out / "scores.png").stat().st_size > 1000 and (out / "manifest.json").is_file()
    preds = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 6 * 2 * 3 and {p["order"] for p in preds} == {"ab", "ba"}


def test_model_judge_resume_and_parse_failures(tmp_path: Path, tiny_model_dir: Path) -> None:
    """The random tiny model rarely parses: failures are counted, never ties; a rerun judges nothing new."""
    pairs = write_pairs(tmp_path / "pairs.jsonl", 4)
    sets = [
        f"out={tmp_path / 'out'}",
        f"judge.name={tiny_model_dir}",
        "judge.backend=hf",
        "judge.max_tokens=8",
        "judge.options={dtype: float32}",
        f"benchmarks=[pairs={pairs}]",
        "baselines=[longer]",
    ]
    out = run(load_config(EvalConfig, None, sets))
    b = json.loads((out / "report.json").read_text())["benchmarks"]["pairs"]
    assert b["n"] == 4 and b["parse_fail_rate"] + b["tie_rate"] <= 100.0
    preds = (out / "predictions.jsonl").read_text().splitlines()
    row = json.loads(preds[0])
    assert row["raw"] and row["parsed"][0]["parse_ok"] in (True, False) and "verdict" in row
    if not row["parse_ok"]:
        assert row["pref"] is None  # a parse failure, not a tie
    run(load_config(EvalConfig, None, sets))
    assert (out / "predictions.jsonl").read_text().splitlines() == preds


@needs_shared
def test_public_sets_with_baselines_via_cli(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "j1",
        "eval",
        "--judge",
        "longer",
        "--limit",
        "30",
        "--out",
        str(out),
        "--benchmark",
        f"llmbar={SHARED / 'llmbar'}",
        "--benchmark",
        f"judgebench={SHARED / 'judgebench'}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert set(report["benchmarks"]) == {"llmbar", "judgebench"}
    assert report["benchmarks"]["llmbar"]["n"] == 30
    cmp = subprocess.run(
        [sys.executable, "-m", "j1", "eval", "--compare", str(out), "--compare", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cmp.returncode == 0 and "llmbar" in cmp.stdout


def test_errors_before_judging(tmp_path: Path) -> None:
    with pytest.raises(J1Error, match="name at least one benchmark"):
        run(load_config(EvalConfig, None, [f"out={tmp_path}"]))
    with pytest.raises(J1Error, match="valid benchmarks"):
        run(load_config(EvalConfig, None, [f"out={tmp_path}", "benchmarks=[nope]", "judge.name=longer"]))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "prompt": "p", "chosen": "c"}\n')
    with pytest.raises(J1Error, match="bad.jsonl"):
        run(
            load_config(
                EvalConfig, None, [f"out={tmp_path}", f"benchmarks=[pairs={bad}]", "judge.name=longer"]
            )
        )
