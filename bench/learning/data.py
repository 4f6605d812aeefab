"""The learning benchmark's pair files: one held-out split for every arm, and the arms' variants.

Every arm trains on `train.jsonl` (or a variant of it) and is judged on the same held-out pairs, split off
by prompt with `j1 train`'s own rule (`split_heldout`), so no held-out question is ever trained on.
Variants, each a deterministic function of the pairs and the seed:

- `shuffled`: each training pair's label replaced by a seeded coin (chosen and rejected swapped on tails):
  the control in which the reward no longer says which response is right;
- `hinted`: the question carries a true hint, "(Note: the correct answer is 56.)": the loop-sanity arm's
  data, where the verdict has a feature any working RL loop learns to follow.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

from j1 import J1Error
from j1.pairs import Pair

HINT = "{prompt}\n(Note: the correct answer is {answer}.)"


def write_pairs(path: Path, pairs: Sequence[Pair]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(p.to_dict(), ensure_ascii=False) + "\n" for p in pairs), "utf-8")
    tmp.replace(path)
    return path


def shuffled(pairs: Sequence[Pair], seed: int) -> list[Pair]:
    """Each pair's label by a seeded coin: on tails chosen and rejected trade places (a new pair id)."""
    out = []
    for p in pairs:
        swap = random.Random(f"{seed}:shuffle:{p.id}").random() < 0.5
        meta = {**p.meta, "label_shuffled": swap}
        chosen, rejected = (p.rejected, p.chosen) if swap else (p.chosen, p.rejected)
        out.append(Pair(p.source, p.prompt, chosen, rejected, p.reference_answer, meta))
    return out


def hinted(pairs: Sequence[Pair]) -> list[Pair]:
    """Each question followed by its true answer (the reference answer): math pairs only."""
    out = []
    for p in pairs:
        if not p.reference_answer:
            raise J1Error(
                f"pair {p.id} ({p.source}) has no reference answer to hint: the hint arm needs math pairs"
            )
        prompt = HINT.format(prompt=p.prompt, answer=p.reference_answer)
        out.append(
            Pair(p.source, prompt, p.chosen, p.rejected, p.reference_answer, {**p.meta, "hinted": True})
        )
    return out


def probe_sample(pairs: Sequence[Pair], n: int, seed: int) -> list[Pair]:
    """A seeded choice of `n` training pairs (all if fewer), in file order."""
    if n >= len(pairs):
        return list(pairs)
    keep = {p.id for p in random.Random(f"{seed}:probe").sample(list(pairs), n)}
    return [p for p in pairs if p.id in keep]
