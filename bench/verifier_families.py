"""The rule verifier on held-out examples of the families it used to get wrong.

`bench/data/verifier_families_heldout.jsonl` holds examples written before the fixes and kept out of the
tests (numbers in words with scale words, LaTeX aliases, self-corrected answers, lists of candidate
values, decimal approximations of exact values), each labelled right or wrong. The target is no false
negative and no false positive. `--verifier hybrid` runs the same rows through another verifier.

    .venv/bin/python bench/verifier_families.py [--data F] [--verifier rule]

Prints every miss, then one JSON line: per family n / false negatives / false positives, and the totals.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from j1.io import read_jsonl
from j1.verifiers import VerifyItem, make_verifier

DATA = Path(__file__).with_name("data") / "verifier_families_heldout.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--verifier", default="rule")
    args = parser.parse_args()
    rows = [row for _, row in read_jsonl(Path(args.data))]
    items = [VerifyItem(r["question"], r["response"], r["reference"]) for r in rows]
    with make_verifier(args.verifier) as verifier:
        verdicts = verifier.verify(items)
    families: dict[str, dict[str, int]] = defaultdict(
        lambda: {"n": 0, "false_negatives": 0, "false_positives": 0}
    )
    for row, v in zip(rows, verdicts, strict=True):
        f = families[row["family"]]
        f["n"] += 1
        if v.correct != row["correct"]:
            f["false_negatives" if row["correct"] else "false_positives"] += 1
            print(
                f"MISS {row['family']}: want {row['correct']}, got {v.correct} ({v.reason}); "
                f"extracted {v.extracted!r}; reference {row['reference']!r}; response {row['response']!r}"
            )
    total = {k: sum(f[k] for f in families.values()) for k in ("n", "false_negatives", "false_positives")}
    print(json.dumps({"verifier": args.verifier, "families": families, **total}))


if __name__ == "__main__":
    main()
