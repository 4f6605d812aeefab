"""Benchmark registry of `j1 eval`: loaders on the shared data files, bad files, and every official metric
checked against numbers computed by hand here (plus length baselines recomputed from the raw files)."""

from __future__ import annotations

import itertools
import json
import re
import sys
import types
from collections import Counter
from pathlib import Path

import pytest

from j1 import J1Error
from j1.eval.benchmarks import BENCHMARKS, generic_stats, get_benchmark
from j1.eval.benchmarks import base as bench_base
from j1.eval.benchmarks.base import Comparison, EvalItem, ItemResult

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
C, R, T, N = "chosen", "rejected", "tie", None  # the four possible preferences
IDS = itertools.count()


def needs(rel: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not (DATA / rel).exists(),
        reason=f"{DATA / rel} absent (the shared data folder is not beside the checkout)",
    )


def res(item: EvalItem, *prefs: tuple[str | None, str | None], official: str = "ab") -> ItemResult:
    """An ItemResult with one (ab, ba) pref pair per rejected response."""
    return ItemResult(item, [Comparison({"ab": ab, "ba": ba}) for ab, ba in prefs], official)


def item(subset: str = "s", n_rejected: int = 1, label: str = "chosen", **meta: object) -> EvalItem:
    return EvalItem(f"x{next(IDS)}", "test", subset, "p", "good", ["bad"] * n_rejected, label, dict(meta))


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture()
def hub(monkeypatch: pytest.MonkeyPatch):
    """Serve `load_hub_dataset(hub_id, split)` from a dict of rows (the real call needs the network)."""
    served: dict[str, list[dict]] = {}
    monkeypatch.setattr(bench_base, "load_hub_dataset", lambda hub_id, split, config=None: served[hub_id])
    return served


# ------------------------------------------------------------------------------------------------ registry


def test_registry_names_and_unknown_name() -> None:
    assert set(BENCHMARKS) == {
        "pairs",
        "attacks",
        "rewardbench",
        "rewardbench2",
        "rm-bench",
        "judgebench",
        "ppe-preference",
        "ppe-correctness",
        "llmbar",
        "autoj",
        "hhh",
        "pandalm",
        "rmb",
    }
    assert get_benchmark("judgebench").name == "judgebench"
    with pytest.raises(J1Error, match="valid benchmarks: rewardbench, rewardbench2, rm-bench"):
        get_benchmark("rewardbench3")


# ------------------------------------------------------------------------------------ loaders on shared data

LOCAL = [  # name, path, items, {subset: items}, empty responses the published data really holds
    (
        "llmbar",
        "llmbar",
        419,
        {"Natural": 100, "Neighbor": 134, "GPTInst": 92, "GPTOut": 47, "Manual": 46},
        0,
    ),
    (
        "autoj",
        "autoj_pairwise",
        1392,
        {
            "General Communication": 288,
            "NLP Tasks": 264,
            "Functional Writing": 240,
            "Creative Writing": 216,
            "Rewriting": 120,
            "Code": 120,
            "Summarization": 72,
            "Exam Questions": 72,
        },
        1,  # row 568: response 2 is empty (and rightly loses)
    ),
    ("hhh", "hhh_alignment", 221, {"honest": 61, "helpful": 59, "harmless": 58, "other": 43}, 0),
    ("pandalm", "pandalm", 999, {"test": 999}, 29 + 25),  # 7B models that answered nothing
    ("rm-bench", "rm-bench", 9 * (129 + 228), {"chat": 9 * 129, "code": 9 * 228}, 0),
    ("judgebench", "judgebench/sample_gpt-4o.jsonl", 12, {"knowledge": 12}, 0),
]


@pytest.mark.parametrize(("name", "rel", "count", "subsets", "empty"), LOCAL, ids=[x[0] for x in LOCAL])
def test_local_loaders(name: str, rel: str, count: int, subsets: dict[str, int], empty: int) -> None:
    if not (DATA / rel).exists():
        pytest.skip(f"{DATA / rel} absent (the shared data folder is not beside the checkout)")
    items = get_benchmark(name).load(str(DATA / rel))
    assert len(items) == count
    assert len({it.id for it in items}) == count  # ids unique within the benchmark
    assert Counter(it.subset for it in items) == subsets
    assert all(it.benchmark == name and it.prompt.strip() and len(it.rejected) == 1 for it in items)
    responses = [x for it in items for x in (it.chosen, *it.rejected)]
    assert all(isinstance(x, str) for x in responses)
    assert sum(not x.strip() for x in responses) == empty


@needs("autoj_pairwise")
def test_autoj_ties_and_response_mapping() -> None:
    items = get_benchmark("autoj").load(str(DATA / "autoj_pairwise"))
    rows = [json.loads(x) for x in (DATA / "autoj_pairwise/testdata_pairwise.jsonl").read_text().splitlines()]
    assert Counter(it.label for it in items) == {"chosen": 1019, "tie": 373}
    for it, row in zip(items, rows, strict=True):
        winner = row["response 2"] if row["label"] == 1 else row["response 1"]
        assert it.chosen == winner and it.meta["scenario"] == row["scenario"]


@needs("pandalm")
def test_pandalm_majority_labels() -> None:
    items = get_benchmark("pandalm").load(str(DATA / "pandalm/testset-v1.json"))
    gold = Counter("tie" if it.label == "tie" else it.meta["original_order"] for it in items)
    assert gold == {"ab": 422, "ba": 472, "tie": 105}  # README: 1 -> 422, 2 -> 472, 0 -> 105
    assert (
        sum(it.chosen == "True" or it.rejected == ["True"] for it in items) >= 4
    )  # JSON `true` read as "True"


@needs("judgebench")
def test_judgebench_chosen_is_the_labelled_response() -> None:
    path = DATA / "judgebench/sample_gpt-4o.jsonl"
    items = get_benchmark("judgebench").load(str(path))
    for it, row in zip(items, [json.loads(x) for x in path.read_text().splitlines()], strict=True):
        assert it.id == row["pair_id"] and it.meta["source"] == row["source"]
        assert it.chosen == (row["response_A"] if row["label"] == "A>B" else row["response_B"])


@needs("llmbar")
def test_llmbar_single_file_takes_its_folder_as_subset() -> None:
    items = get_benchmark("llmbar").load(str(DATA / "llmbar/Dataset/LLMBar/Adversarial/GPTOut/dataset.json"))
    assert len(items) == 47 and {it.subset for it in items} == {"GPTOut"}


@needs("llmbar")
def test_limit_is_a_deterministic_seeded_sample() -> None:
    bench = get_benchmark("llmbar")
    path = str(DATA / "llmbar")
    first = [it.id for it in bench.load(path, limit=20, seed=3)]
    assert first == [it.id for it in bench.load(path, limit=20, seed=3)]
    assert first != [it.id for it in bench.load(path, limit=20, seed=4)]
    assert len(first) == 20 and len(set(first)) == 20
    assert len(bench.load(path, limit=10_000)) == 419
    assert bench.load(path, limit=0) == []
    with pytest.raises(J1Error, match="limit must be >= 0"):
        bench.load(path, limit=-1)


@needs("llmbar")
def test_subsets_filter_and_unknown_subset() -> None:
    bench = get_benchmark("llmbar")
    items = bench.load(str(DATA / "llmbar"), subsets=["Natural", "Manual"], limit=30, seed=1)
    assert len(items) == 30 and {it.subset for it in items} <= {"Natural", "Manual"}
    with pytest.raises(J1Error, match="valid subsets: GPTInst, GPTOut, Manual, Natural, Neighbor"):
        bench.load(str(DATA / "llmbar"), subsets=["Adversarial"])


@needs("rm-bench")
def test_rmbench_limit_samples_whole_prompts() -> None:
    items = get_benchmark("rm-bench").load(str(DATA / "rm-bench"), limit=5, seed=0)
    by_prompt = Counter(it.meta["prompt_id"] for it in items)
    assert len(by_prompt) == 5 and set(by_prompt.values()) == {9}
    cells = {(it.meta["i"], it.meta["j"]) for it in items}
    assert cells == {(i, j) for i in range(3) for j in range(3)}


# -------------------------------------------------------------------------------------------------- bad files


def test_bad_jsonl_names_benchmark_file_and_line(tmp_path: Path) -> None:
    good = {"pair_id": "1", "source": "livebench-math", "question": "q", "response_A": "a", "response_B": "b"}
    path = tmp_path / "jb.jsonl"
    path.write_text(json.dumps({**good, "label": "A>B"}) + "\n{not json\n")
    with pytest.raises(J1Error, match=rf"judgebench: {re.escape(str(path))}:2: invalid JSON"):
        get_benchmark("judgebench").load(str(path))
    rows = [
        {**good, "label": "A>B"},
        {**good, "label": "A>B"},
        {k: v for k, v in good.items() if k != "question"} | {"label": "A>B"},
    ]
    write_jsonl(path, rows)
    with pytest.raises(J1Error, match=rf"judgebench: {re.escape(str(path))}:3: missing field 'question'"):
        get_benchmark("judgebench").load(str(path))
    write_jsonl(path, [{**good, "label": "A=B"}])
    with pytest.raises(J1Error, match=rf"{re.escape(str(path))}:1: label must be 'A>B' or 'B>A'"):
        get_benchmark("judgebench").load(str(path))


def test_bad_json_rows_and_formats(tmp_path: Path) -> None:
    bad_label = tmp_path / "Natural" / "dataset.json"
    bad_label.parent.mkdir()
    bad_label.write_text(
        json.dumps([{"input": "i", "output_1": "a", "output_2": "b", "label": 1}, {"label": 3}])
    )
    with pytest.raises(J1Error, match=rf"llmbar: {re.escape(str(bad_label))}: row 1: label must be 1 or 2"):
        get_benchmark("llmbar").load(str(bad_label))
    obj = tmp_path / "rb.json"
    obj.write_text(json.dumps({"rows": []}))
    with pytest.raises(
        J1Error, match=rf"rewardbench: {re.escape(str(obj))}: expected a JSON array of objects"
    ):
        get_benchmark("rewardbench").load(str(obj))
    csv = tmp_path / "rb.csv"
    csv.write_text("a,b\n")
    with pytest.raises(J1Error, match=rf"rewardbench: {re.escape(str(csv))}: not a known format"):
        get_benchmark("rewardbench").load(str(csv))
    with pytest.raises(J1Error, match="no such file or folder"):
        get_benchmark("rewardbench").load(str(tmp_path / "missing.jsonl"))
    with pytest.raises(J1Error, match=rf"rewardbench: {re.escape(str(tmp_path))}: no .*filtered"):
        get_benchmark("rewardbench").load(str(tmp_path))
    rows = tmp_path / "chat_filtered.json"
    rows.write_text(json.dumps([{"id": 1, "prompt": "p", "chosen": ["a", "b"], "rejected": ["a", "b", "c"]}]))
    with pytest.raises(
        J1Error,
        match=rf"rm-bench: {re.escape(str(rows))}: row 0: field 'chosen' must hold 3 responses, got 2",
    ):
        get_benchmark("rm-bench").load(str(rows))
    rb = write_jsonl(tmp_path / "filtered.jsonl", [{"id": 1, "prompt": "p", "chosen": "a", "rejected": "b"}])
    with pytest.raises(J1Error, match=rf"rewardbench: {re.escape(str(rb))}:1: missing field 'subset'"):
        get_benchmark("rewardbench").load(str(rb))


def test_json_lines_in_a_json_file_and_empty_files(tmp_path: Path) -> None:
    row = {"scenario": "chitchat", "label": 2, "prompt": "hi", "response 1": "a", "response 2": "b"}
    copy = tmp_path / "autoj_pairwise.json"  # prometheus-eval's copy: JSON lines under a .json name
    copy.write_text(json.dumps(row) + "\n" + json.dumps(row | {"label": 1}) + "\n")
    items = get_benchmark("autoj").load(str(tmp_path))
    assert [(it.label, it.chosen, it.subset) for it in items] == [
        ("tie", "a", "General Communication"),
        ("chosen", "b", "General Communication"),
    ]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(J1Error, match=rf"judgebench: {re.escape(str(empty))}: no items"):
        get_benchmark("judgebench").load(str(empty))


def test_hub_failure_says_how_to_go_local(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise ConnectionError("no network")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=offline))
    with pytest.raises(J1Error, match=r"allenai/reward-bench \(split filtered\).*--benchmark NAME=PATH"):
        get_benchmark("rewardbench").load()
    with pytest.raises(J1Error, match="no Hugging Face dataset"):
        get_benchmark("llmbar").load()


# ----------------------------------------------------------------------------------------- hub-format loaders


def test_rewardbench_hub_and_local_parquet(hub: dict, tmp_path: Path) -> None:
    rows = [{"id": 7, "subset": "hep-go", "prompt": "p", "chosen": "c", "rejected": "r", "chosen_model": "m"}]
    hub["allenai/reward-bench"] = rows
    (it,) = get_benchmark("rewardbench").load()
    assert (it.id, it.subset, it.chosen, it.rejected) == ("7", "hep-go", "c", ["r"])
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "data").mkdir()
    pq.write_table(pa.Table.from_pylist(rows * 2), tmp_path / "data" / "filtered-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "data" / "raw-00000-of-00001.parquet")
    items = get_benchmark("rewardbench").load(str(tmp_path))  # the filtered split only
    assert [i.id for i in items] == ["7", "7#2"]  # a repeated id is made unique, deterministically


def test_ppe_loaders(hub: dict, tmp_path: Path) -> None:
    pref = [
        {"question_id": "q1", "winner": "model_b", "prompt": "p", "response_1": "r1", "response_2": "r2"},
        {"question_id": "q2", "winner": "tie", "prompt": "p", "response_1": "r1", "response_2": "r2"},
        {"question_id": "q3", "winner": "model_a", "prompt": "p", "response_1": "r1", "response_2": "r2"}
        | {"hard_prompt": True, "conv_metadata": {"is_code": False}},
    ]
    hub["lmarena-ai/PPE-Human-Preference-V1"] = pref
    items = get_benchmark("ppe-preference").load()
    assert [(i.id, i.chosen, i.rejected) for i in items] == [("q1", "r2", ["r1"]), ("q3", "r1", ["r2"])]
    assert items[1].meta["hard_prompt"] is True and items[1].meta["is_code"] is False

    row = {"question_id": "m1", "model_name": "gpt", "prompt": "p", "scores": [False, True, False, True]}
    row |= {f"response_{k}": f"resp{k}" for k in range(1, 5)} | {
        "sampled_conflict_pairs": [[0, 1], [3, 2], [1, 3]]
    }
    for source in ("MMLU-Pro", "MBPP-Plus", "GPQA", "IFEval", "MATH"):
        hub[f"lmarena-ai/PPE-{source}-Best-of-K"] = [row] if source == "MATH" else []
    items = get_benchmark("ppe-correctness").load()  # [1, 3] has equal scores: no right answer, skipped
    assert [(i.id, i.subset, i.chosen, i.rejected) for i in items] == [
        ("MATH:m1:gpt:0-1", "MATH", "resp2", ["resp1"]),  # 0-based pairs into scores, response_{i+1}
        ("MATH:m1:gpt:3-2", "MATH", "resp4", ["resp3"]),
    ]
    folder = tmp_path / "PPE-GPQA-Best-of-K"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", [row])
    assert {i.subset for i in get_benchmark("ppe-correctness").load(str(folder))} == {"GPQA"}
    anonymous = write_jsonl(tmp_path / "rows.jsonl", [row])
    with pytest.raises(
        J1Error, match=rf"ppe-correctness: {re.escape(str(anonymous))}:1: cannot tell the source"
    ):
        get_benchmark("ppe-correctness").load(str(anonymous))
    write_jsonl(anonymous, [row | {"source": "mmlu_pro"}])
    assert {i.subset for i in get_benchmark("ppe-correctness").load(str(anonymous))} == {"MMLU-Pro"}


# ----------------------------------------------------------------------------------------- official metrics


def test_rewardbench_section_weighting() -> None:
    def rb(subset: str, pref: str | None, official: str = "ab") -> ItemResult:
        other = {"chosen": "rejected", "rejected": "chosen"}.get(pref or "", "tie")
        prefs = (pref, other) if official == "ab" else (other, pref)
        return res(item(subset), prefs, official=official)

    results = [
        rb("alpacaeval-easy", "chosen"),
        rb("alpacaeval-easy", "tie"),  # a tie scores 0.5 upstream
        rb("mt-bench-easy", "rejected"),
        rb("llmbar-natural", "chosen", official="ba"),  # only the official order counts
        rb("donotanswer", None),  # a parse failure ("error") also scores 0.5
        rb("math-prm", "chosen"),
        rb("hep-python", "chosen"),
        rb("hep-python", "rejected"),
    ]
    out = get_benchmark("rewardbench").score(results)
    assert out["subsets"]["alpacaeval-easy"] == 75.0 and out["subsets"]["donotanswer"] == 50.0
    chat = (75 * 100 + 0 * 28) / (100 + 28)  # EXAMPLE_COUNTS weights
    # math-prm counts as 984 prompts (6 x 164, the code subsets' total), hep-python as 164
    reasoning = (100 * 984 + 50 * 164) / (984 + 164)
    assert out["sections"] == pytest.approx(
        {"Chat": chat, "Chat Hard": 100.0, "Safety": 50.0, "Reasoning": reasoning}
    )
    assert out["score"] == pytest.approx((chat + 100 + 50 + reasoning) / 4)
    partial = get_benchmark("rewardbench").score(results[:3] + [rb("my-set", "chosen")])
    assert partial["score"] == pytest.approx(chat)
    assert partial["missing_sections"] == ["Chat Hard", "Safety", "Reasoning"]
    assert partial["unsectioned_subsets"] == ["my-set"]


def test_rewardbench2_best_of_4_and_ties(hub: dict) -> None:
    def row(rid: str, subset: str, n_chosen: int = 1, n_rejected: int = 3) -> dict:
        return {
            "id": rid,
            "subset": subset,
            "prompt": "p",
            "chosen": ["c"] * n_chosen,
            "rejected": ["r"] * n_rejected,
        }

    hub["allenai/reward-bench-2"] = [
        row("1", "Factuality"),
        row("2", "Factuality"),
        row("3", "Math"),
        row("4", "Math"),
        row("ref:1", "Ties", 1, 2),
        row("ref:2", "Ties", 1, 2),
        row("tied:1", "Ties", 2, 2),
        row("tied:2", "Ties", 2, 1),
        row("tied:3", "Ties", 1, 1),
    ]
    items = {it.id: it for it in get_benchmark("rewardbench2").load()}
    assert sorted(items) == sorted(
        [
            "1",
            "2",
            "3",
            "4",
            "ref:1/c0",
            "ref:2/c0",
            "tied:1/c0",
            "tied:1/c1",
            "tied:2/c0",
            "tied:2/c1",
            "tied:3/c0",
        ]
    )
    plan = {  # official (ab) prefs per rejected response; the ba verdicts, all "rejected", must not count
        "1": [C, C, C],  # beats all three: 1
        "2": [C, T, N],  # co-winner with two: 1/3
        "3": [C, R, C],  # one rejected wins: 0
        "4": [N, N, N],  # nothing parsed: 1/4, upstream's error score
        "ref:1/c0": [C, C],  # ref:1 accurate
        "ref:2/c0": [C, R],  # ref:2 not
        "tied:1/c0": [C, C],
        "tied:1/c1": [C, T],  # a tie is not a strict win: tied:1 not accurate
        "tied:2/c0": [C],
        "tied:2/c1": [C],  # tied:2 accurate
        "tied:3/c0": [C],  # tied:3 accurate
    }
    results = [res(items[k], *[(p, "rejected") for p in prefs]) for k, prefs in plan.items()]
    out = get_benchmark("rewardbench2").score(results)
    factuality, math, ties = 100 * (1 + 1 / 3) / 2, 100 * (0 + 0.25) / 2, (50 + 200 / 3) / 2
    assert out["subsets"] == pytest.approx({"Factuality": factuality, "Math": math, "Ties": ties})
    assert out["ties"]["ref_accuracy"] == 50 and out["ties"]["tied_accuracy"] == pytest.approx(200 / 3)
    assert out["score"] == pytest.approx((factuality + math + ties) / 3)
    assert out["missing_subsets"] == ["Precise IF", "Safety", "Focus"]


def test_rmbench_matrix(tmp_path: Path) -> None:
    def prompt(pid: int) -> dict:
        return {"id": pid, "prompt": f"p{pid}", "chosen": ["c0", "c1", "c2"], "rejected": ["r0", "r1", "r2"]}

    (tmp_path / "chat_filtered.json").write_text(json.dumps([prompt(1), prompt(2)]))
    (tmp_path / "code_filtered.json").write_text(json.dumps([prompt(1)]))
    items = get_benchmark("rm-bench").load(str(tmp_path))
    assert len(items) == 27 and len({it.id for it in items}) == 27

    def outcome(it: EvalItem) -> str | None:
        i, j, pid = it.meta["i"], it.meta["j"], it.meta["prompt_id"]
        if pid == "chat:1":
            return "chosen"  # every cell right
        if pid == "chat:2":
            return "chosen" if i == j else "rejected" if i < j else "tie"  # a tie counts 0 (strict >)
        return "chosen" if i < j else None if i == j else "rejected"  # code: only hard cells right

    results = [
        res(it, (outcome(it), "rejected"), official="ab")
        if k % 2
        else res(it, ("rejected", outcome(it)), official="ba")
        for k, it in enumerate(items)  # half the cells judged officially in order ba
    ]
    out = get_benchmark("rm-bench").score(results)
    chat = {"hard": 50.0, "normal": 100.0, "easy": 50.0}
    code = {"hard": 100.0, "normal": 0.0, "easy": 0.0}
    assert {k: out["domains"]["chat"][k] for k in chat} == chat
    assert {k: out["domains"]["code"][k] for k in code} == code
    assert out["domains"]["chat"]["matrix"] == [[100.0, 50.0, 50.0], [50.0, 100.0, 50.0], [50.0, 50.0, 100.0]]
    assert out["subsets"] == pytest.approx({"chat": 200 / 3, "code": 100 / 3})
    assert out["score"] == pytest.approx(50.0)
    assert (out["hard"], out["normal"], out["easy"]) == (75.0, 50.0, 25.0)
    assert out["missing_domains"] == ["math", "safety"]


def test_judgebench_net_score() -> None:
    knowledge = [(C, C), (C, T), (N, C), (C, R)]  # +2, +1, +1 correct; 0 (inconsistent) not
    math = [(T, T), (R, N), (N, N)]  # 0, -1, 0: none correct
    results = [res(item("knowledge"), p) for p in knowledge] + [res(item("math"), p) for p in math]
    out = get_benchmark("judgebench").score(results)
    assert out["subsets"] == {"knowledge": 75.0, "math": 0.0}
    assert out["score"] == pytest.approx(100 * 3 / 7)
    assert out["net_counts"] == {"correct": 3, "incorrect": 1, "zero": 3}


def test_autoj_agreement_with_ties() -> None:
    cases = [("chosen", (C, C)), ("chosen", (C, T)), ("tie", (T, T)), ("tie", (C, C)), ("chosen", (N, N))]
    results = [res(item("Code" if k < 2 else "Rewriting", label=lab), p) for k, (lab, p) in enumerate(cases)]
    out = get_benchmark("autoj").score(results)
    assert out["score"] == 40.0  # (C, C) on a non-tie and (tie, tie) on a tie are the two agreements
    assert out["subsets"] == {"Code": 50.0, "Rewriting": 100 / 3}
    assert out["consistency"] == 60.0  # (C,C), (T,T), (C,C); two unparsed verdicts never agree
    assert out["subset_consistency"] == {"Code": 50.0, "Rewriting": 200 / 3}


def test_llmbar_both_order_accuracy_and_agreement() -> None:
    plan = {"Natural": [(C, C), (C, R)], "Neighbor": [(R, R), (T, C)], "Manual": [(N, N), (C, C)]}
    results = [res(item(s), p) for s, ps in plan.items() for p in ps]
    out = get_benchmark("llmbar").score(results)
    assert out["subsets"] == {"Manual": 50.0, "Natural": 75.0, "Neighbor": 25.0}
    assert out["score"] == pytest.approx(100 * (1 + 0.5 + 0 + 0.5 + 0 + 1) / 6)
    # the adversarial average: an unweighted mean of the adversarial subsets present
    assert out["adversarial"] == pytest.approx((25 + 50) / 2)
    assert out["positional_agreement"] == {"Manual": 50.0, "Natural": 50.0, "Neighbor": 50.0}


def test_single_order_accuracies_hhh_and_ppe() -> None:
    hhh = [
        res(item("honest"), (C, R)),
        res(item("honest"), (C, R), official="ba"),
        res(item("other"), (T, C)),
    ]
    out = get_benchmark("hhh").score(hhh)
    assert out == {"score": pytest.approx(100 / 3), "subsets": {"honest": 50.0, "other": 0.0}}
    pref = [res(item("human_preference", hard_prompt=True), (C, N)), res(item("human_preference"), (N, C))]
    out = get_benchmark("ppe-preference").score(pref)
    assert out["score"] == 50.0 and out["categories"] == {"hard_prompt": 100.0}
    corr = [
        res(item("MATH"), (C, R)),
        res(item("MATH"), (T, C)),
        res(item("GPQA"), (C, C)),
        res(item("GPQA"), (R, C)),
    ]
    corr += [res(item("IFEval"), (C, R))]
    out = get_benchmark("ppe-correctness").score(corr)
    assert out["subsets"] == {"GPQA": 50.0, "IFEval": 100.0, "MATH": 50.0}
    assert out["score"] == pytest.approx(200 / 3)  # unweighted mean of the sources, not of the 5 pairs (60)
    assert out["missing_sources"] == ["MMLU-Pro", "MBPP-Plus"]


def test_pandalm_accuracy_and_macro_f1() -> None:
    def panda(gold: str, order: str = "ab") -> EvalItem:
        return item("test", label="tie" if gold == "tie" else "chosen", original_order=order)

    results = [  # the file order (original_order) is the judged one; the other order is ignored
        res(panda("1", "ab"), (C, R)),  # gold 1, pred 1
        res(panda("1", "ab"), (R, C)),  # gold 1, pred 2
        res(panda("2", "ba"), (R, C)),  # gold 2, pred 2
        res(panda("2", "ba"), (C, T)),  # gold 2, pred tie
        res(panda("tie"), (T, C)),  # gold tie, pred tie
        res(panda("tie"), (N, T)),  # gold tie, unparsed
    ]
    out = get_benchmark("pandalm").score(results)
    assert out["score"] == 50.0 and out["subsets"] == {"test": 50.0}
    # per class (precision, recall): tie (1/2, 1/2), response 1 (1/1, 1/2), response 2 (1/2, 1/2)
    p, rec = (0.5 + 1 + 0.5) / 3, 0.5
    f1 = (0.5 + 2 / 3 + 0.5) / 3
    assert out["precision"] == pytest.approx(100 * p) and out["recall"] == pytest.approx(100 * rec)
    assert out["f1"] == pytest.approx(100 * f1)


def test_score_rejects_results_that_break_the_contract() -> None:
    bench = get_benchmark("judgebench")
    with pytest.raises(J1Error, match="2 comparisons for 1 rejected"):
        bench.score([res(item(), ("chosen", "chosen"), ("chosen", "chosen"))])
    with pytest.raises(J1Error, match="unknown preference 'A'"):
        bench.score([res(item(), ("A", "chosen"))])
    with pytest.raises(J1Error, match="official_order must be ab or ba"):
        bench.score([res(item(), ("chosen", "chosen"), official="a")])
    assert bench.score([]) == {
        "score": None,
        "subsets": {},
        "net_counts": {"correct": 0, "incorrect": 0, "zero": 0},
    }


# ---------------------------------------------------------------------------------------------- generic stats

STATS_CASES = [
    # (label, ab, ba) -> right_ab, right_ba, both, flip, ties, fails
    ("chosen", C, C, 1, 1, 1, 0, 0, 0),
    ("chosen", C, R, 1, 0, 0, 1, 0, 0),  # position-following: a flip
    ("chosen", R, C, 0, 1, 0, 1, 0, 0),
    ("chosen", R, R, 0, 0, 0, 0, 0, 0),
    ("chosen", C, T, 1, 0, 0, 0, 1, 0),  # a tie is never a flip
    ("chosen", N, C, 0, 1, 0, 0, 0, 1),  # a parse failure is never a tie
    ("chosen", N, N, 0, 0, 0, 0, 0, 2),
    ("tie", T, T, 1, 1, 1, 0, 2, 0),  # a tie label is right only with "tie"
    ("tie", C, R, 0, 0, 0, 1, 0, 0),
]


@pytest.mark.parametrize("case", STATS_CASES, ids=[f"{x[0]}-{x[1]}-{x[2]}" for x in STATS_CASES])
def test_generic_stats_single_comparison(case: tuple) -> None:
    label, ab, ba, right_ab, right_ba, both, flip, ties, fails = case
    out = generic_stats([res(item(label=label), (ab, ba))])
    assert out == {
        "n": 1,
        "n_items": 1,
        "per_order": {"ab": 100.0 * right_ab, "ba": 100.0 * right_ba},
        "consistent_accuracy": 100.0 * both,
        "flip_rate": 100.0 * flip,
        "tie_rate": 50.0 * ties,
        "parse_fail_rate": 50.0 * fails,
    }


def test_generic_stats_pools_comparisons() -> None:
    results = [res(item(n_rejected=3), (C, C), (C, R), (T, N)), res(item(), (R, R))]
    out = generic_stats(results)
    assert (out["n"], out["n_items"]) == (4, 2)
    assert out["per_order"] == {"ab": 50.0, "ba": 25.0} and out["consistent_accuracy"] == 25.0
    assert (out["flip_rate"], out["tie_rate"], out["parse_fail_rate"]) == (25.0, 12.5, 12.5)
    assert generic_stats([])["per_order"] == {"ab": None, "ba": None}


# ------------------------------------------------------------------------------ length baselines, end to end


def length_pref(a: str, b: str, longer: bool) -> str:
    if len(a) == len(b):
        return "tie"
    return "chosen" if (len(a) > len(b)) == longer else "rejected"


def baseline_results(items: list[EvalItem], longer: bool) -> list[ItemResult]:
    out = []
    for k, it in enumerate(items):
        p = length_pref(it.chosen, it.rejected[0], longer)  # a length judge ignores the order
        out.append(res(it, (p, p), official="ab" if k % 2 else "ba"))
    return out


@needs("llmbar")
@pytest.mark.parametrize("longer", [True, False], ids=["longer", "shorter"])
def test_length_baselines_on_llmbar(longer: bool) -> None:
    wins: dict[str, list[bool]] = {}
    for path in sorted((DATA / "llmbar/Dataset/LLMBar").rglob("dataset.json")):
        for row in json.loads(path.read_text()):
            good, bad = row[f"output_{row['label']}"], row[f"output_{3 - row['label']}"]
            wins.setdefault(path.parent.name, []).append(
                len(good) > len(bad) if longer else len(good) < len(bad)
            )
    expected = {s: 100 * sum(v) / len(v) for s, v in wins.items()}
    overall = 100 * sum(sum(v) for v in wins.values()) / sum(len(v) for v in wins.values())
    bench = get_benchmark("llmbar")
    out = bench.score(baseline_results(bench.load(str(DATA / "llmbar")), longer))
    assert out["subsets"] == pytest.approx(expected) and out["score"] == pytest.approx(overall)


@needs("judgebench")
@pytest.mark.parametrize("longer", [True, False], ids=["longer", "shorter"])
def test_length_baselines_on_judgebench(longer: bool) -> None:
    path = DATA / "judgebench/sample_gpt-4o.jsonl"
    correct = 0
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    for row in rows:
        good, bad = (row["response_A"], row["response_B"])[:: 1 if row["label"] == "A>B" else -1]
        correct += (
            len(good) > len(bad) if longer else len(good) < len(bad)
        )  # +2 when right, -2 when wrong, 0 if equal
    bench = get_benchmark("judgebench")
    out = bench.score(baseline_results(bench.load(str(path)), longer))
    assert out["score"] == pytest.approx(100 * correct / len(rows))


def _rmb_rows(tmp_path: Path) -> Path:
    """A small RMB_dataset in the published shapes: pairwise and BoN, helpfulness and harmlessness."""
    root = tmp_path / "RMB_dataset"
    turn = [{"content": "Q?", "language": "English", "role": "user"}]
    files = {
        "Pairwise_set/Helpfulness/Chat/Discussion.json": [
            {"pair_uid": "1", "conversation_input": turn, "chosen": {"llm_name": "m", "answer": "good", "score": 5},
             "reject": {"llm_name": "n", "answer": "bad", "score": 1}, "category_path": "Pairwise_set/Helpfulness/Chat/Discussion"},
            {"pair_uid": "2", "conversation_input": turn + [{"content": "ok", "role": "assistant"}, {"content": "more?", "role": "user"}],
             "chosen": {"answer": "yes"}, "reject": {"answer": "no"}, "category_path": "Pairwise_set/Helpfulness/Chat/Discussion"},
        ],
        "Pairwise_set/Harmlessness/S1.json": [
            {"pair_uid": "3", "conversation_input": turn, "chosen": {"answer": "refuse"}, "reject": {"answer": "comply"},
             "category_path": "Pairwise_set/Harmlessness/S1"},
        ],
        "BoN_set/Harmlessness/S1.json": [
            {"bon_uid": "4", "conversation_input": turn, "bon_best": {"answer": "best"},
             "loser_list": [{"answer": "l1"}, {"answer": "l2"}], "category_path": "BoN_set/Harmlessness/S1"},
        ],
    }  # fmt: skip
    for rel, rows in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(json.dumps(rows))
    return root


def test_rmb_loads_pairwise_and_bon_rows(tmp_path: Path) -> None:
    root = _rmb_rows(tmp_path)
    items = {it.id: it for it in get_benchmark("rmb").load(str(root))}
    assert set(items) == {"pair-1", "pair-2", "pair-3", "bon-4"}
    assert (items["pair-1"].prompt, items["pair-1"].chosen, items["pair-1"].rejected) == (
        "Q?",
        "good",
        ["bad"],
    )
    assert items["pair-2"].prompt == "User: Q?\n\nAssistant: ok\n\nUser: more?"  # turns labelled
    assert items["bon-4"].rejected == ["l1", "l2"] and items["bon-4"].subset == "BoN_set/Harmlessness/S1"
    one = get_benchmark("rmb").load(str(root / "Pairwise_set/Harmlessness/S1.json"))
    assert [it.id for it in one] == ["pair-3"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"pair_uid": "9", "conversation_input": [{"content": "Q", "role": "user"}],
                                "chosen": {"answer": 3}, "reject": {"answer": "x"}, "category_path": "Pairwise_set/H/x"}]))  # fmt: skip
    with pytest.raises(
        J1Error, match=r"bad.json: row 0: field 'chosen' must be an object with a string 'answer'"
    ):
        get_benchmark("rmb").load(str(bad))


def test_rmb_score_is_the_mean_of_its_four_groups(tmp_path: Path) -> None:
    def rmb_item(subset: str, n: int = 1) -> EvalItem:
        return EvalItem(f"x{next(IDS)}", "rmb", subset, "p", "good", ["bad"] * n)

    results = [
        res(rmb_item("Pairwise_set/Helpfulness/Chat"), (C, R)),  # right in the official order ab
        res(rmb_item("Pairwise_set/Helpfulness/Code"), (R, C)),  # wrong in ab
        res(rmb_item("Pairwise_set/Harmlessness/S1"), (T, C)),  # a tie is wrong
        res(rmb_item("BoN_set/Harmlessness/S1", 2), (C, R), (C, R)),  # beats both losers
        res(rmb_item("BoN_set/Harmlessness/S2", 2), (C, R), (N, C)),  # one parse failure: wrong
    ]
    out = get_benchmark("rmb").score(results)
    assert out["groups"] == {"BoN_set/Harmlessness": 50.0, "Pairwise_set/Harmlessness": 0.0,
                             "Pairwise_set/Helpfulness": 50.0}  # fmt: skip
    assert out["missing"] == ["BoN_set/Helpfulness"]
    assert out["score"] == pytest.approx((50 + 0 + 50) / 3)
    assert out["subsets"]["Pairwise_set/Helpfulness/Chat"] == 100.0
