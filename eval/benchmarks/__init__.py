"""The benchmark registry of `j1 eval`: loaders and each benchmark's OFFICIAL metric.

| name              | data: hub id [split], or local files      | official score                             |
|-------------------|-------------------------------------------|--------------------------------------------|
| `rewardbench`     | allenai/reward-bench [filtered]           | mean of 4 count-weighted sections, 1 order |
| `rewardbench2`    | allenai/reward-bench-2 [test]             | best-of-4 + Ties accuracy, mean of subsets |
| `rm-bench`        | THU-KEG/RM-Bench [train]; repo data/      | hard/normal/easy of 3x3 matrices, 1 order  |
| `judgebench`      | ScalerLab/JudgeBench [gpt]; its JSONL     | double-order net score > 0                 |
| `ppe-preference`  | lmarena-ai/PPE-Human-Preference-V1 [test] | accuracy on non-tie votes, 1 order         |
| `ppe-correctness` | lmarena-ai/PPE-*-Best-of-K [train] x 5    | pairwise accuracy, mean of 5 sources       |
| `llmbar`          | LLMBar's Dataset/LLMBar (files only)      | mean accuracy of the two orders            |
| `autoj`           | testdata_pairwise.jsonl (files only)      | agreement incl. ties: right in both orders |
| `hhh`             | hhh_alignment_eval.json (files only)      | accuracy, 1 random order                   |
| `pandalm`         | testset-v1.json (files only)              | 3-class accuracy (+ macro P/R/F1)          |
| `rmb`             | RMB_dataset/ Pairwise_set, BoN_set (files)| mean of pairwise/BoN x helpful/harmless    |
| `pairs`           | j1's Pair contract (pairs.jsonl)          | position-consistent accuracy               |
| `attacks`         | Pair contract, or embedded math problems  | attack-success rate per family (lower wins)|

Not here: FollowBenchEval (the 205 constraint pairs J1 reports, built by the EvalPlanner authors): no
published copy of its pairs was found (facebookresearch/RAM has none; FollowBench's own data has no pair
labels), so it cannot be scored as published.

`get_benchmark(name)` returns an instance: `.load(path, limit, subsets, seed)` -> `EvalItem`s, and
`.score(results)` -> {"score", "subsets", ...}. `generic_stats(results)` gives the position statistics every
report carries (see `stats.py` for their exact definitions). Each module's docstring cites its rule.
"""

from __future__ import annotations

from j1 import J1Error
from j1.eval.benchmarks.attacks import Attacks
from j1.eval.benchmarks.autoj import AutoJ
from j1.eval.benchmarks.base import Benchmark, Comparison, EvalItem, ItemResult
from j1.eval.benchmarks.hhh import HHH
from j1.eval.benchmarks.judgebench import JudgeBench
from j1.eval.benchmarks.llmbar import LLMBar
from j1.eval.benchmarks.pairs import Pairs
from j1.eval.benchmarks.pandalm import PandaLM
from j1.eval.benchmarks.ppe import PPECorrectness, PPEPreference
from j1.eval.benchmarks.rewardbench import RewardBench
from j1.eval.benchmarks.rewardbench2 import RewardBench2
from j1.eval.benchmarks.rmb import RMB
from j1.eval.benchmarks.rmbench import RMBench
from j1.eval.benchmarks.stats import generic_stats

BENCHMARKS: dict[str, type[Benchmark]] = {
    cls.name: cls
    for cls in (
        RewardBench,
        RewardBench2,
        RMBench,
        JudgeBench,
        PPEPreference,
        PPECorrectness,
        LLMBar,
        AutoJ,
        HHH,
        PandaLM,
        RMB,
        Pairs,
        Attacks,
    )
}


def get_benchmark(name: str) -> Benchmark:
    """A new instance of the benchmark called `name`; an unknown name lists the valid ones."""
    if name not in BENCHMARKS:
        raise J1Error(f"unknown benchmark {name!r}; valid benchmarks: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]()


__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "Comparison",
    "EvalItem",
    "ItemResult",
    "generic_stats",
    "get_benchmark",
]
