"""The embedded math set: arithmetic word problems generated from a seed, with exact answers.

Small models (SmolLM2-135M answers "12 + 30 = 32") get these wrong often enough for rejection sampling to
find verified-correct and verified-wrong solutions of the same problem. Eight kinds in three difficulty
levels (`KINDS`), mixed evenly over levels so the pairs are balanced across difficulty; `levels` and `kinds`
narrow the mix (e.g. level 1 only: short arithmetic questions, cheap to judge).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from j1 import J1Error

NAMES = ["Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam"]
THINGS = ["apples", "books", "marbles", "stickers", "pencils", "cookies", "shells", "coins"]

Problem = tuple[str, int]


def _add(r: random.Random) -> Problem:
    a, b = r.randint(10, 99), r.randint(10, 99)
    return f"What is {a} + {b}?", a + b


def _sub(r: random.Random) -> Problem:
    a, b = r.randint(50, 199), r.randint(10, 49)
    return f"What is {a} - {b}?", a - b


def _mul(r: random.Random) -> Problem:
    a, b = r.randint(3, 19), r.randint(3, 12)
    return f"What is {a} times {b}?", a * b


def _story_add(r: random.Random) -> Problem:
    name, thing = r.choice(NAMES), r.choice(THINGS)
    a, b = r.randint(5, 60), r.randint(5, 60)
    return f"{name} has {a} {thing} and buys {b} more. How many {thing} does {name} have now?", a + b


def _story_share(r: random.Random) -> Problem:
    name, thing = r.choice(NAMES), r.choice(THINGS)
    k, each = r.randint(2, 9), r.randint(2, 12)
    return (
        f"{name} shares {k * each} {thing} equally among {k} friends. How many {thing} does each friend get?",
        each,
    )


def _two_step(r: random.Random) -> Problem:
    name, thing = r.choice(NAMES), r.choice(THINGS)
    boxes, per, eaten = r.randint(2, 8), r.randint(3, 12), r.randint(1, 9)
    q = f"{name} buys {boxes} boxes of {thing} with {per} {thing} in each box, then gives away {eaten}. How many {thing} are left?"
    return q, boxes * per - eaten


def _linear(r: random.Random) -> Problem:
    x, a, b = r.randint(-9, 15), r.randint(2, 9), r.randint(-20, 20)
    sign = "+" if b >= 0 else "-"
    return f"Solve for x: {a}x {sign} {abs(b)} = {a * x + b}.", x


def _percent(r: random.Random) -> Problem:
    base, pct = r.choice([20, 40, 60, 80, 120, 200, 250, 400]), r.choice([5, 10, 15, 20, 25, 50, 75])
    if base * pct % 100:
        base = 100 * r.randint(1, 9)
    return f"What is {pct}% of {base}?", base * pct // 100


# kind -> (level, generator); the order within a level is part of the seeded stream: append, never reorder
KINDS: dict[str, tuple[int, Callable[[random.Random], Problem]]] = {
    "add": (1, _add),
    "sub": (1, _sub),
    "mul": (1, _mul),
    "story_add": (2, _story_add),
    "story_share": (2, _story_share),
    "percent": (2, _percent),
    "two_step": (3, _two_step),
    "linear": (3, _linear),
}
LEVELS = sorted({level for level, _ in KINDS.values()})
MAX_MISSES = 10_000  # consecutive duplicate draws before the kinds are declared exhausted


def select_kinds(levels: Sequence[int] = (), kinds: Sequence[str] = ()) -> dict[int, list[str]]:
    """level -> the kinds drawn at that level: every kind of `levels` (empty = all levels), narrowed to
    `kinds` when given. Unknown names, or a choice that leaves nothing, raise with the valid values."""
    for level in levels:
        if level not in LEVELS:
            raise J1Error(f"unknown procedural level {level}; valid levels: {LEVELS}")
    for kind in kinds:
        if kind not in KINDS:
            raise J1Error(f"unknown procedural kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    out: dict[int, list[str]] = {}
    for name, (level, _) in KINDS.items():
        if (not levels or level in levels) and (not kinds or name in kinds):
            out.setdefault(level, []).append(name)
    if not out:
        raise J1Error(f"procedural levels {list(levels)} hold none of the kinds {list(kinds)}")
    return out


def generate_problems(
    count: int = 200, seed: int = 0, levels: Sequence[int] = (), kinds: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """`count` distinct problems, the chosen levels in turn (a seeded kind within each), as rows of the
    Item source format. Raises when the chosen kinds have fewer than `count` distinct problems."""
    chosen = select_kinds(levels, kinds)
    order = sorted(chosen)
    r = random.Random(seed)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    misses = 0
    while len(rows) < count:
        level = order[len(rows) % len(order)]
        kind = r.choice(chosen[level])
        question, answer = KINDS[kind][1](r)
        if question in seen:
            misses += 1
            if misses > MAX_MISSES:
                raise J1Error(
                    f"procedural kinds {sum(chosen.values(), [])} give only {len(rows)} distinct problems "
                    f"(math.procedural_count={count}): lower the count or add kinds"
                )
            continue
        misses = 0
        seen.add(question)
        rows.append({"question": question, "answer": str(answer), "level": f"Level {level}", "type": kind})
    return rows
