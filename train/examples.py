"""Judge examples from preference pairs: validation, the held-out split, both orders, the multitask mix.

A pair is stored once (the Pair contract of `j1 synth`); its judge examples are built at train time:

- pairwise formats: two examples, `ab` (chosen shown as Assistant A, label "A") and `ba` (chosen shown
  as B, label "B"); J1 trains on both orders of every pair, in the same batch (see `sampler.py`).
- pointwise: two examples, the chosen and the rejected response judged alone (`role`), trained from the
  pairwise label only (distant supervision: score(chosen) must beat score(rejected)).

The two examples of one pair in one format form a *group* (key: pair id + format); the sampler keeps a
group together and the batch-level rewards pair the rollouts inside it.

Everything here runs before any model is loaded, so bad input fails (or is counted) before compute:
pairs with empty fields or identical responses, duplicate ids, and prompts over the token budget, which
are dropped or have their responses truncated by rule. The held-out split is by prompt, seeded and
independent of file order: prompts are held out in order of their seeded hash (seed, source, prompt).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from j1 import J1Error
from j1.formats import get_format
from j1.io import read_jsonl
from j1.pairs import Pair

log = logging.getLogger(__name__)

ORDERS = ("ab", "ba")
ROLES = ("chosen", "rejected")
OverlongRule = Literal["drop", "truncate", "error"]
TruncateSide = Literal["middle", "right"]
TRUNCATION_MARK = " [...] "


@dataclass(frozen=True)
class JudgeExample:
    """One rendered judge prompt. `order`/`label` are set for pairwise formats, `role` for pointwise."""

    prompt: str
    pair_id: str
    format: str
    order: str = ""  # "ab" | "ba"
    label: str = ""  # "A" | "B"
    role: str = ""  # "chosen" | "rejected"

    @property
    def group(self) -> str:
        return f"{self.pair_id}:{self.format}"

    def row(self) -> dict[str, Any]:
        """A TRL dataset row: a conversational prompt plus the columns the rewards read."""
        return {
            "prompt": [{"role": "user", "content": self.prompt}],
            "pair_id": self.pair_id,
            "format": self.format,
            "order": self.order,
            "label": self.label,
            "role": self.role,
        }


# ---------------------------------------------------------------- pairs: load and validate


def pair_problem(p: dict[str, Any]) -> str | None:
    """Why a raw pair row cannot be used, or None."""
    for key in ("prompt", "chosen", "rejected"):
        value = p.get(key)
        if not isinstance(value, str):
            return f"field {key!r} is missing or not a string"
        if not value.strip():
            return f"field {key!r} is empty"
    if p["chosen"].strip() == p["rejected"].strip():
        return "chosen and rejected are identical (no preference to learn)"
    return None


def load_pairs(
    path: str | Path, *, skip_bad: bool = False, counts: dict[str, Any] | None = None
) -> list[Pair]:
    """Pairs from a JSONL file of the Pair contract. A bad row raises naming file:line, or with
    `skip_bad` is counted in `counts["bad_pairs"]`; duplicate ids always raise."""
    path = Path(path)
    if not path.is_file():
        raise J1Error(
            f"pairs file not found: {path} (make one with `j1 synth`, or pass --set data.path=FILE)"
        )
    pairs: list[Pair] = []
    seen: dict[str, int] = {}
    bad: list[str] = []
    for lineno, obj in read_jsonl(path):
        problem = pair_problem(obj)
        if problem:
            if not skip_bad:
                raise J1Error(f"{path}:{lineno}: {problem} (set data.skip_bad=true to drop such pairs)")
            bad.append(f"{path.name}:{lineno}: {problem}")
            continue
        pair = Pair(
            source=str(obj.get("source") or "unknown"),
            prompt=obj["prompt"],
            chosen=obj["chosen"],
            rejected=obj["rejected"],
            reference_answer=obj.get("reference_answer"),
            meta=obj.get("meta") or {},
            id=str(obj.get("id") or ""),
        )
        if pair.id in seen:
            raise J1Error(f"{path}:{lineno}: duplicate pair id {pair.id!r} (first on line {seen[pair.id]})")
        seen[pair.id] = lineno
        pairs.append(pair)
    if counts is not None:
        counts["pairs_read"] = len(pairs) + len(bad)
        counts["bad_pairs"] = len(bad)
        if bad:
            counts["bad_pair_examples"] = bad[:20]
    if not pairs:
        raise J1Error(f"{path}: no usable pairs")
    return pairs


# ---------------------------------------------------------------- held-out split and format mixture


def _rank(seed: int, salt: str, pair_id: str) -> str:
    return hashlib.sha256(f"{seed}:{salt}:{pair_id}".encode()).hexdigest()


def split_heldout(
    pairs: Sequence[Pair], *, fraction: float = 0.1, size: int | None = None, seed: int = 0
) -> tuple[list[Pair], list[Pair]]:
    """(train, held-out), split by prompt: all pairs of one prompt fall on the same side, so no held-out
    question is seen in training (math synth makes several pairs per problem). Prompts are taken in
    seeded-hash order, skipping one whose pairs would overshoot, until `size` (or `fraction` of all)
    pairs are held out. The same pairs and seed always give the same split, whatever the file order."""
    n = size if size is not None else round(fraction * len(pairs))
    if n < 0 or not 0 <= fraction < 1:
        raise J1Error(f"held-out split: size {size} / fraction {fraction} out of range")
    if n >= len(pairs):
        raise J1Error(f"held-out split of {n} pairs leaves nothing to train on ({len(pairs)} pairs)")
    groups: dict[str, list[str]] = {}
    for p in pairs:
        groups.setdefault(f"{p.source}:{p.prompt}", []).append(p.id)
    held: set[str] = set()
    for key in sorted(groups, key=lambda k: _rank(seed, "heldout", k)):
        if len(held) + len(groups[key]) <= n:
            held.update(groups[key])
        if len(held) == n:
            break
    return [p for p in pairs if p.id not in held], [p for p in pairs if p.id in held]


def assign_formats(pairs: Sequence[Pair], mixture: dict[str, float], seed: int = 0) -> list[tuple[Pair, str]]:
    """Each pair judged in one format of the mixture, in proportion to the weights (largest remainder,
    seeded by pair id). A single-format mixture gives every pair that format."""
    if not mixture:
        raise J1Error("the format mixture is empty")
    for name, w in mixture.items():
        get_format(name)
        if w < 0:
            raise J1Error(f"mixture weight of {name} is negative ({w})")
    total = sum(mixture.values())
    if total <= 0:
        raise J1Error("the format mixture has no positive weight")
    n = len(pairs)
    quotas = {f: n * w / total for f, w in mixture.items()}
    counts = {f: int(q) for f, q in quotas.items()}
    for f in sorted(quotas, key=lambda f: quotas[f] - counts[f], reverse=True)[: n - sum(counts.values())]:
        counts[f] += 1
    ranked = sorted(pairs, key=lambda p: _rank(seed, "mixture", p.id))
    out: list[tuple[Pair, str]] = []
    start = 0
    for f, c in counts.items():
        out += [(p, f) for p in ranked[start : start + c]]
        start += c
    return out


# ---------------------------------------------------------------- rendering both orders / both roles


def render_group(
    pair: Pair, fmt_name: str, chosen: str | None = None, rejected: str | None = None
) -> list[JudgeExample]:
    """The two examples of one pair in one format (optionally with truncated responses)."""
    fmt = get_format(fmt_name)
    c = pair.chosen if chosen is None else chosen
    r = pair.rejected if rejected is None else rejected
    if fmt.kind == "pairwise":
        return [
            JudgeExample(fmt.render(pair.prompt, c, r), pair.id, fmt_name, "ab", "A"),
            JudgeExample(fmt.render(pair.prompt, r, c), pair.id, fmt_name, "ba", "B"),
        ]
    return [
        JudgeExample(fmt.render(pair.prompt, response=c), pair.id, fmt_name, role="chosen"),
        JudgeExample(fmt.render(pair.prompt, response=r), pair.id, fmt_name, role="rejected"),
    ]


class TokenBudget:
    """Counts the tokens of a judge prompt as the trainer will see it (chat template applied) and cuts
    response texts to a token count: in the `middle` (keeps the opening and the conclusion, where a
    final answer sits) or on the `right`."""

    def __init__(self, tokenizer: Any, side: TruncateSide = "middle") -> None:
        if side not in ("middle", "right"):
            raise J1Error(f"unknown truncation side {side!r}; valid: middle, right")
        self.tokenizer = tokenizer
        self.side = side

    def prompt_tokens(self, text: str) -> int:
        ids = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=True, add_generation_prompt=True
        )
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return len(ids)

    def text_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def cut(self, text: str, n: int) -> str:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) <= n:
            return text
        n = max(n, 0)
        if self.side == "right":
            return self.tokenizer.decode(ids[:n]) + TRUNCATION_MARK.rstrip()
        head = (n + 1) // 2
        tail = self.tokenizer.decode(ids[len(ids) - (n - head) :]) if n - head else ""
        return self.tokenizer.decode(ids[:head]) + TRUNCATION_MARK + tail


def _water_level(lengths: Sequence[int], budget: int) -> int:
    """Largest cap c with sum(min(l, c)) <= budget: the longer responses are cut first."""
    lo, hi = 0, max(lengths)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sum(min(x, mid) for x in lengths) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def fit_pair(
    pair: Pair, fmt_name: str, budget: TokenBudget, max_tokens: int, rule: OverlongRule
) -> tuple[Pair | None, str]:
    """The pair as its judge prompts in `fmt_name` fit within `max_tokens` prompt tokens: unchanged ("ok"),
    with its responses cut by `budget` ("truncated"), or None ("dropped"); rule "error" raises instead."""
    longest = max(budget.prompt_tokens(e.prompt) for e in render_group(pair, fmt_name))
    if longest <= max_tokens:
        return pair, "ok"
    if rule == "error":
        raise J1Error(
            f"pair {pair.id}: the {fmt_name} judge prompt has {longest} tokens > data.max_prompt_tokens="
            f"{max_tokens} (set data.overlong=drop or truncate)"
        )
    if rule == "drop":
        return None, "dropped"
    pairwise = get_format(fmt_name).kind == "pairwise"
    sizes = [budget.text_tokens(pair.chosen), budget.text_tokens(pair.rejected)]
    overhead = longest - (sum(sizes) if pairwise else max(sizes))
    for slack in (8, 32, 128):  # retokenising a cut text can shift a few tokens: retry with more room
        room = max_tokens - overhead - slack
        cap = _water_level(sizes, room) if pairwise else room
        if room <= 0 or cap <= 0:
            break
        cut = replace(pair, chosen=budget.cut(pair.chosen, cap), rejected=budget.cut(pair.rejected, cap))
        if max(budget.prompt_tokens(e.prompt) for e in render_group(cut, fmt_name)) <= max_tokens:
            return cut, "truncated"
    return None, "dropped"


def fit_group(
    pair: Pair, fmt_name: str, budget: TokenBudget, max_tokens: int, rule: OverlongRule
) -> tuple[list[JudgeExample] | None, str]:
    """Render a group within `max_tokens` prompt tokens: ("ok" | "truncated" | "dropped")."""
    fitted, status = fit_pair(pair, fmt_name, budget, max_tokens, rule)
    return (render_group(fitted, fmt_name) if fitted else None), status


def build_examples(
    assigned: Iterable[tuple[Pair, str]],
    budget: TokenBudget | None = None,
    max_tokens: int | None = None,
    rule: OverlongRule = "drop",
    counts: dict[str, Any] | None = None,
) -> list[JudgeExample]:
    """Both examples of every (pair, format), groups adjacent, over-long groups handled by `rule`."""
    out: list[JudgeExample] = []
    tally = {"ok": 0, "truncated": 0, "dropped": 0}
    for pair, fmt_name in assigned:
        if budget is None or max_tokens is None:
            group, status = render_group(pair, fmt_name), "ok"
        else:
            group, status = fit_group(pair, fmt_name, budget, max_tokens, rule)
        tally[status] += 1
        if group:
            out += group
    if counts is not None:
        counts["overlong_truncated"] = tally["truncated"]
        counts["overlong_dropped"] = tally["dropped"]
        counts["examples"] = len(out)
    if tally["dropped"]:
        log.warning(
            "%d over-long pair groups dropped (data.max_prompt_tokens=%s)", tally["dropped"], max_tokens
        )
    if not out:
        raise J1Error("no judge examples left (every pair was dropped as over-long?)")
    return out


def groups_of(rows: Sequence[dict[str, Any]]) -> list[list[int]]:
    """Row indices grouped by (pair id, format), each group ordered ab/ba or chosen/rejected; every group
    must hold exactly the two examples of its pair."""
    found: dict[str, dict[str, int]] = {}
    for i, r in enumerate(rows):
        side = r.get("order") or r.get("role")
        key = f"{r['pair_id']}:{r['format']}"
        if side in found.setdefault(key, {}):
            raise J1Error(f"pair group {key} has two {side!r} examples")
        found[key][side] = i
    groups = []
    for key, sides in found.items():
        wanted = ORDERS if "ab" in sides or "ba" in sides else ROLES
        if set(sides) != set(wanted):
            raise J1Error(
                f"pair group {key} has only {sorted(sides)}; both {wanted} are needed in one dataset"
            )
        groups.append([sides[s] for s in wanted])
    return groups
