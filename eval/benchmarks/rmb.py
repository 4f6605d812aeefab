"""RMB (Zhou et al. 2024, "RMB: Comprehensively Benchmarking Reward Models in LLM Alignment", arXiv 2410.09893).

Published as files only (github.com/Zhou-Zoey/RMB-Reward-Model-Benchmark, folder `RMB_dataset`): JSON arrays
under `Pairwise_set/{Helpfulness,Harmlessness}/...` (rows: `pair_uid`, `conversation_input` [the turns],
`chosen` / `reject` {`answer`, `llm_name`, ...}, `category_path`) and `BoN_set/...` (rows: `bon_uid`,
`conversation_input`, `bon_best` {`answer`}, `loser_list` [{`answer`}, ...], `category_path`). Pass the
`RMB_dataset` folder, a subfolder or one file: `--benchmark rmb=path/to/RMB_dataset`.

Metric, as the official scripts (`eval/scripts/my_run_rm.py`: a pair is right when the chosen answer's reward
is strictly higher; the BoN scripts: the best answer must beat every loser): the judge is asked in one
seeded order per item (the runner's `official_order`), a tie or a parse failure is wrong; a BoN item is right
only when its best answer wins all its comparisons. Accuracy per goal and set — Pairwise / BoN x
Helpfulness / Harmlessness — over their items; the score is the mean of the four (the paper's overall), of
those present when a subfolder is run (`missing` lists the others). `subsets`: accuracy per scenario
(`category_path`). A multi-turn `conversation_input` becomes one prompt with its turns labelled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from j1 import J1Error
from j1.eval.benchmarks.base import (
    Benchmark,
    EvalItem,
    ItemResult,
    Unit,
    check_results,
    find_files,
    mean,
    official_prefs,
    pct,
    read_rows,
    value,
)

GROUPS = (
    "Pairwise_set/Helpfulness",
    "Pairwise_set/Harmlessness",
    "BoN_set/Helpfulness",
    "BoN_set/Harmlessness",
)


def group_of(category_path: str) -> str:
    return "/".join(category_path.split("/")[:2])


def conversation_prompt(turns: Any, where: str) -> str:
    """The user turn, or a multi-turn conversation with its turns labelled."""
    if not isinstance(turns, list) or not turns or not all(isinstance(t, dict) for t in turns):
        raise J1Error(f"rmb: {where}: conversation_input must be a non-empty list of turns")
    for t in turns:
        if not isinstance(t.get("content"), str) or t.get("role") not in ("user", "assistant", "system"):
            raise J1Error(
                f"rmb: {where}: every turn needs a role (user/assistant/system) and a string content"
            )
    if len(turns) == 1:
        return turns[0]["content"]
    return "\n\n".join(f"{t['role'].capitalize()}: {t['content']}" for t in turns)


def _answer(row: dict[str, Any], key: str, where: str) -> str:
    part = value(row, key, where, "rmb")
    if not isinstance(part, dict) or not isinstance(part.get("answer"), str):
        raise J1Error(f"rmb: {where}: field {key!r} must be an object with a string 'answer'")
    return part["answer"]


class RMB(Benchmark):
    name = "rmb"
    hub_id = ""
    local_hint = (
        "the RMB_dataset folder of github.com/Zhou-Zoey/RMB-Reward-Model-Benchmark, a subfolder or a file"
    )

    def load_hub(self) -> list[Unit]:
        raise J1Error(f"{self.name}: published as files only: --benchmark rmb=PATH ({self.local_hint})")

    def load_local(self, path: Path) -> list[Unit]:
        files = [path] if path.is_file() else find_files(path, ["*.json"], self.name)
        units = []
        for f in files:
            for where, row in read_rows(f, self.name):
                category = str(value(row, "category_path", where, self.name))
                prompt = conversation_prompt(row.get("conversation_input"), where)
                if "bon_best" in row:
                    losers = value(row, "loser_list", where, self.name)
                    if not isinstance(losers, list) or not losers:
                        raise J1Error(f"rmb: {where}: loser_list must be a non-empty list")
                    rejected = [_answer({"x": x}, "x", f"{where} loser_list") for x in losers]
                    item = EvalItem(f"bon-{row.get('bon_uid', where)}", self.name, category, prompt,
                                    _answer(row, "bon_best", where), rejected)  # fmt: skip
                else:
                    item = EvalItem(f"pair-{row.get('pair_uid', where)}", self.name, category, prompt,
                                    _answer(row, "chosen", where), [_answer(row, "reject", where)])  # fmt: skip
                units.append([item])
        return units

    def score(self, results: list[ItemResult]) -> dict[str, Any]:
        check_results(results, self.name)
        groups: dict[str, list[float]] = {}
        subsets: dict[str, list[float]] = {}
        for r in results:
            right = float(all(p == "chosen" for p in official_prefs(r)))
            groups.setdefault(group_of(r.item.subset), []).append(right)
            subsets.setdefault(r.item.subset, []).append(right)
        accuracy = {g: pct(sum(v), len(v)) for g, v in sorted(groups.items())}
        return {
            "score": mean([accuracy.get(g) for g in GROUPS]),
            "groups": accuracy,
            "missing": [g for g in GROUPS if g not in accuracy],
            "subsets": {s: pct(sum(v), len(v)) for s, v in sorted(subsets.items())},
        }
