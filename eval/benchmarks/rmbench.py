"""RM-Bench (THU-KEG/RM-Bench, 1,327 prompts): hard / normal / easy accuracy from 3x3 style matrices.

Each prompt has three chosen and three rejected responses in the style order [concise, detailed plain text,
detailed markdown]. Official rule, from THU-KEG/RM-Bench `scripts/utils.py:compute_accuracy` and its README
("Clarity on Avg Calculation"), checked at commit 73c52d7:
- M[i][j] = share of prompts where chosen_i beats rejected_j (strictly: `score_chosen[i] > score_rejected[j]`,
  so a tie scores 0). With a judge, each cell is one comparison judged in one random order (J1: "one random
  order"), the runner's seeded `official_order`; a tie or a parse failure scores 0.
- hard = mean of the strict upper triangle (i < j: the chosen response is LESS formatted than the rejected
  one, "chosen responses with less fancy style compared to rejected responses with more fancy style"),
  normal = mean of the diagonal, easy = mean of the strict lower triangle.
- domain score = mean(hard, normal, easy); domains chat, math, code, safety, where safety pools
  safety-refuse and safety-response (`split_dataset_by_domain`: `example['domain'].startswith(domain)`).
- overall = mean of the domain scores; hard / normal / easy overall = their mean across domains.
Domains absent from the data (a partial local copy, e.g. without math and safety) are left out of every mean and
listed in `missing_domains`, so a partial run never passes for the full benchmark.

Items: one per matrix cell (chosen_i vs rejected_j, `meta` holds i and j), grouped into one unit per prompt so
`limit` samples prompts (9 items each). Local: the repo's `data/<domain>_filtered.json` files (domain taken
from the file name) or `total_dataset.json` (with a `domain` field), a single file or a folder of them.
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
    pct,
    read_rows,
    text,
    texts,
    value,
)

DOMAINS = ("chat", "math", "code", "safety")
STYLES = ("concise", "detailed_plain", "detailed_markdown")
SIZE = len(STYLES)
REGIONS = {
    "hard": [(i, j) for i in range(SIZE) for j in range(SIZE) if i < j],
    "normal": [(i, i) for i in range(SIZE)],
    "easy": [(i, j) for i in range(SIZE) for j in range(SIZE) if i > j],
}


def pooled_domain(raw: str) -> str | None:
    return next((d for d in DOMAINS if raw.startswith(d)), None)


def matrix_scores(cells: dict[tuple[int, int], list[float]]) -> dict[str, Any]:
    """hard/normal/easy (0-100) and the 3x3 accuracy matrix from per-cell outcome lists of one domain."""
    matrix = [
        [pct(sum(cells.get((i, j), [])), len(cells.get((i, j), []))) for j in range(SIZE)]
        for i in range(SIZE)
    ]
    regions = {name: mean([matrix[i][j] for i, j in idx]) for name, idx in REGIONS.items()}
    return {**regions, "avg": mean(list(regions.values())), "matrix": matrix}


class RMBench(Benchmark):
    name = "rm-bench"
    hub_id = "THU-KEG/RM-Bench"
    hub_split = "train"  # the hub's only split holds the eval set (total_dataset.json)
    local_hint = "RM-Bench's data/<domain>_filtered.json files or total_dataset.json, or a folder of them"

    def load_hub(self) -> list[Unit]:
        return [self._unit(where, row, None) for where, row in self.hub()]

    def load_local(self, path: Path) -> list[Unit]:
        if path.is_file():
            files = [path]
        else:
            total = sorted(path.rglob("total_dataset.json"))
            files = total[:1] or find_files(path, ["*_filtered.json"], self.name)
        units = []
        for f in files:
            domain = (
                f.name.removesuffix(".json").removesuffix("_filtered")
                if f.name.endswith("_filtered.json")
                else None
            )
            units += [self._unit(where, row, domain) for where, row in read_rows(f, self.name)]
        return units

    def _unit(self, where: str, row: dict[str, Any], file_domain: str | None) -> Unit:
        raw = row.get("domain") or file_domain
        if not raw:
            raise J1Error(
                f"{self.name}: {where}: missing field 'domain' "
                "(and the file name is not <domain>_filtered.json)"
            )
        domain = pooled_domain(str(raw))
        if domain is None:
            raise J1Error(
                f"{self.name}: {where}: unknown domain {raw!r}; RM-Bench domains: {', '.join(DOMAINS)}"
            )
        row_id = f"{raw}:{value(row, 'id', where, self.name)}"
        prompt = text(row, "prompt", where, self.name)
        chosen = texts(row, "chosen", where, self.name, n=SIZE)
        rejected = texts(row, "rejected", where, self.name, n=SIZE)
        return [
            EvalItem(
                id=f"{row_id}:{i}{j}",
                benchmark=self.name,
                subset=domain,
                prompt=prompt,
                chosen=chosen[i],
                rejected=[rejected[j]],
                meta={"i": i, "j": j, "prompt_id": row_id, "domain": str(raw)},
            )
            for i in range(SIZE)
            for j in range(SIZE)
        ]

    def score(self, results: list[ItemResult]) -> dict[str, Any]:
        check_results(results, self.name)
        cells: dict[str, dict[tuple[int, int], list[float]]] = {}
        for r in results:
            won = r.comparisons[0].prefs[r.official_order] == "chosen"  # strict `>`: tie / failure = 0
            cell = (r.item.meta["i"], r.item.meta["j"])
            cells.setdefault(r.item.subset, {}).setdefault(cell, []).append(float(won))
        domains = {d: matrix_scores(cells[d]) for d in DOMAINS if d in cells}
        return {
            "score": mean([d["avg"] for d in domains.values()]),
            "subsets": {d: s["avg"] for d, s in domains.items()},
            **{region: mean([d[region] for d in domains.values()]) for region in REGIONS},
            "domains": domains,
            "missing_domains": [d for d in DOMAINS if d not in domains],
        }
