"""`j1 synth`: verifiable preference pairs from math rejection sampling and noisy instructions.

Reads top to bottom: load and validate every source (bad rows fail here, before any compute, or are
counted with `skip_bad`) -> start one generator engine -> for each recipe, process the items not yet
committed in chunks -> commit pairs and rejects through the journal -> manifest. Killing the process at
any moment and rerunning the same command continues from the last committed chunk, with no lost and no
duplicated pairs. Pairs are deduplicated by content id across sources and runs.

Scale-out is the engine's: vLLM's `tensor_parallel_size` / `data_parallel_size` through
`generator.options`, or the `openai` backend with several `base_url`s (requests spread across servers).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from j1 import J1Error
from j1.attacks import ATTACKS, POSITIONAL, attack, check_families
from j1.backends import make_backend
from j1.data_synthesis import chat_pairs, math_pairs
from j1.data_synthesis.embedded_instructions import instruction_rows
from j1.data_synthesis.journal import Journal
from j1.data_synthesis.procedural import generate_problems, select_kinds
from j1.data_synthesis.sources import BadRow, Item, SourceConfig, instruction_items, math_items
from j1.generate import BackendConfig
from j1.manifest import RunManifest
from j1.models import resolve_model
from j1.pairs import Pair
from j1.progress import progress_bar

log = logging.getLogger(__name__)


@dataclass
class AdversarialConfig:
    """Attacked twins of synthesized pairs, so a judge trained on them learns to resist (off by default).

    For a seeded `share` of the pairs, one more pair is added with the same prompt and chosen response
    and, as its rejected response, the wrong response attacked by one of `families` (`j1.attacks`: a
    master key, an injected instruction, a fake verdict, ...), drawn per pair. Its `meta` records
    `attack` (the family) and `attacked_from` (the original pair's id)."""

    share: float = 0.0
    families: list[str] = field(default_factory=lambda: list(ATTACKS))


@dataclass
class SynthConfig:
    out: str = "runs/synth"
    seed: int = 0
    generator: BackendConfig = field(default_factory=BackendConfig)
    math: math_pairs.MathConfig = field(default_factory=math_pairs.MathConfig)
    chat: chat_pairs.ChatConfig = field(default_factory=chat_pairs.ChatConfig)
    chunk_size: int = 32  # items per engine call and per commit
    skip_bad: bool = False  # count malformed source rows in the manifest instead of failing
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)


class MathRecipe:
    """Rejection-sampled math pairs; owns the verifier (a process pool) for the run."""

    name = "math"

    @staticmethod
    def section(cfg: SynthConfig) -> Any:
        return cfg.math

    @staticmethod
    def items(cfg: SynthConfig, src: SourceConfig, on_bad: Callable[[BadRow], None]) -> Iterator[Item]:
        m = cfg.math
        return math_items(
            src,
            lambda: generate_problems(m.procedural_count, cfg.seed, m.procedural_levels, m.procedural_kinds),
            on_bad,
        )

    def __init__(self, cfg: SynthConfig, backend: Any, generator: str) -> None:
        from j1.verifiers import make_verifier

        self.cfg, self.backend, self.generator = cfg, backend, generator
        options = dict(cfg.math.verifier_options)
        if cfg.math.verifier in ("model", "hybrid") and "model" not in options:
            options["backend_obj"] = backend  # judge with the generator's engine rather than start another
        self.verifier = make_verifier(cfg.math.verifier, **options)

    def process(self, chunk: list[Item]) -> Any:
        return math_pairs.process_chunk(
            chunk, self.backend, self.verifier, self.cfg.math, self.cfg.seed, self.generator
        )

    def close(self) -> None:
        self.verifier.close()


class ChatRecipe:
    """Noisy-instruction chat pairs."""

    name = "chat"

    @staticmethod
    def section(cfg: SynthConfig) -> Any:
        return cfg.chat

    @staticmethod
    def items(cfg: SynthConfig, src: SourceConfig, on_bad: Callable[[BadRow], None]) -> Iterator[Item]:
        return instruction_items(src, instruction_rows, on_bad)

    def __init__(self, cfg: SynthConfig, backend: Any, generator: str) -> None:
        self.cfg, self.backend, self.generator = cfg, backend, generator

    def process(self, chunk: list[Item]) -> Any:
        return chat_pairs.process_chunk(chunk, self.backend, self.cfg.chat, self.cfg.seed, self.generator)

    def close(self) -> None:
        return None


RECIPES: dict[str, type[MathRecipe] | type[ChatRecipe]] = {"math": MathRecipe, "chat": ChatRecipe}


def _load(cfg: SynthConfig, counts: dict[str, Any]) -> dict[str, list[Item]]:
    """Every item of every enabled recipe, deduplicated by key; bad rows raise or are counted."""
    bad: list[str] = []

    def on_bad(e: BadRow) -> None:
        if not cfg.skip_bad:
            raise e
        bad.append(str(e))
        log.warning("skipping bad row: %s", e)

    out: dict[str, list[Item]] = {}
    for name, recipe in RECIPES.items():
        section = recipe.section(cfg)
        if not section.enabled:
            continue
        items: dict[str, Item] = {}
        for src in section.sources:
            before = len(items)
            rows = list(recipe.items(cfg, src, on_bad))
            if src.sample is not None and src.sample < len(rows):
                keep = sorted(
                    random.Random(f"{cfg.seed}:{name}:{src.name}").sample(range(len(rows)), src.sample)
                )
                rows = [rows[i] for i in keep]
            for it in rows:
                it.meta.setdefault("source", src.name)
                items.setdefault(it.key, it)
            counts.setdefault("sources", {})[f"{name}/{src.name}"] = {
                "rows": len(rows),
                "new": len(items) - before,
            }
        out[name] = list(items.values())
    counts["bad_rows"] = len(bad)
    if bad:
        counts["bad_row_examples"] = bad[:20]
    if not out:
        raise J1Error("synth: both recipes are disabled (math.enabled and chat.enabled are false)")
    return out


def check(cfg: SynthConfig) -> None:
    """Settings that no source row can fix, refused before anything is read or generated."""
    m = cfg.math
    select_kinds(m.procedural_levels, m.procedural_kinds)
    if m.pair_length_ratio is not None and m.pair_length_ratio < 1:
        raise J1Error(
            f"math.pair_length_ratio={m.pair_length_ratio}: a bound on longer/shorter, >= 1 (or null)"
        )
    if m.samples < 1 or m.pairs_per_problem < 1:
        raise J1Error("math.samples and math.pairs_per_problem must be >= 1")
    for section in (cfg.math, cfg.chat):
        if section.max_pairs is not None and section.max_pairs < 1:
            raise J1Error(f"max_pairs={section.max_pairs}: a number of pairs, >= 1 (or null)")
    for src in [*cfg.math.sources, *cfg.chat.sources]:
        if src.sample is not None and src.sample < 1:
            raise J1Error(f"source {src.name}: sample={src.sample}: a number of rows, >= 1 (or null)")
    a = cfg.adversarial
    if not 0.0 <= a.share <= 1.0:
        raise J1Error(f"adversarial.share={a.share}: a fraction of the pairs, from 0 to 1")
    check_families(a.families, "adversarial.families")
    if a.share and not a.families:
        raise J1Error("adversarial.families is empty: name at least one attack family")


def committed_pairs(path: Path, source: str) -> int:
    """Pairs of recipe `source` already in `path` (attacked twins not counted): where a capped run resumes."""
    if not path.is_file():
        return 0
    from j1.io import read_jsonl

    return sum(
        row.get("source") == source and "attack" not in row.get("meta", {}) for _, row in read_jsonl(path)
    )


def attacked_twins(pairs: list[Pair], cfg: AdversarialConfig, seed: int) -> list[Pair]:
    """For a seeded `share` of `pairs` (decided per pair id, so a resumed run draws the same), a twin whose
    rejected response is attacked (see `AdversarialConfig`)."""
    twins = []
    for p in pairs:
        rng = random.Random(f"adversarial:{seed}:{p.id}")
        if rng.random() >= cfg.share:
            continue
        family = rng.choice(cfg.families)
        target = rng.choice("AB") if family in POSITIONAL else None
        twins.append(
            Pair(
                source=p.source,
                prompt=p.prompt,
                chosen=p.chosen,
                rejected=attack(family, p.rejected, seed=p.id, target=target),
                reference_answer=p.reference_answer,
                meta={**p.meta, "attack": family, "attacked_from": p.id},
            )
        )
    return twins


def plan(cfg: SynthConfig) -> dict[str, Any]:
    """What a run would do, without an engine: items per source (after `limit`, `sample` and dedup) and
    the generations it would ask for (math: `samples` per problem; chat: a noisy instruction and two
    answers per instruction)."""
    counts: dict[str, Any] = {}
    items = _load(cfg, counts)
    calls = {"math": len(items.get("math", [])) * cfg.math.samples, "chat": 3 * len(items.get("chat", []))}
    return {
        "items": {recipe: len(its) for recipe, its in items.items()},
        "sources": counts.get("sources", {}),
        "bad_rows": counts.get("bad_rows", 0),
        "generations": {k: v for k, v in calls.items() if k in items},
        "generator": cfg.generator.model,
    }


def run(cfg: SynthConfig, command: str = "j1 synth") -> Path:
    check(cfg)
    out = Path(cfg.out)
    with RunManifest(out, command, cfg) as manifest:
        counts = manifest.counts
        items = _load(cfg, counts)
        for src in [*cfg.math.sources, *cfg.chat.sources]:
            if src.path or src.hub:
                manifest.add_data(src.name, src.path or src.hub)  # a hub id is pinned by its commit
        for recipe, its in items.items():
            if (
                RECIPES[recipe].section(cfg).max_pairs is not None
            ):  # a cap takes a seeded sample, not a prefix
                random.Random(f"{cfg.seed}:{recipe}:order").shuffle(its)
        with Journal(out) as journal:
            todo = {recipe: [it for it in its if it.key not in journal.done] for recipe, its in items.items()}
            for recipe, its in items.items():
                counts[recipe] = {
                    "items": len(its),
                    "already_done": len(its) - len(todo[recipe]),
                    "pairs": 0,
                    "duplicates": 0,
                    "rejects": {},
                }
            if any(todo.values()):
                generator = cfg.generator.model
                if cfg.generator.name != "openai":
                    generator = resolve_model(cfg.generator.model)
                    manifest.add_model("generator", generator)
                with make_backend(
                    cfg.generator.name, cfg.generator.model, **cfg.generator.options
                ) as backend:
                    for recipe, its in todo.items():
                        if its:
                            _run_recipe(
                                recipe, its, cfg, backend, journal, counts[recipe], generator, manifest
                            )
            counts["total_pairs"] = len(journal.seen_ids)
    return out


def _run_recipe(
    name: str,
    items: list[Item],
    cfg: SynthConfig,
    backend: Any,
    journal: Journal,
    counts: dict[str, Any],
    generator: str,
    manifest: RunManifest,
) -> None:
    recipe = RECIPES[name](cfg, backend, generator)
    cap = RECIPES[name].section(cfg).max_pairs
    have = committed_pairs(Path(cfg.out) / "pairs.jsonl", name) if cap is not None else 0
    try:
        with progress_bar(f"{name} pairs", total=len(items)) as bar:
            for start in range(0, len(items), cfg.chunk_size):
                if cap is not None and have >= cap:
                    counts["capped"] = len(items) - start  # items never generated: the mix cap was reached
                    break
                chunk = items[start : start + cfg.chunk_size]
                pairs, rejects, stats = recipe.process(chunk)
                if cap is not None:
                    pairs = pairs[: cap - have]
                    have += len(pairs)
                if cfg.adversarial.share:
                    twins = attacked_twins(pairs, cfg.adversarial, cfg.seed)
                    counts["adversarial"] = counts.get("adversarial", 0) + len(twins)
                    pairs = [*pairs, *twins]
                fresh = []
                for p in pairs:
                    if p.id in journal.seen_ids:
                        counts["duplicates"] += 1
                    else:
                        journal.seen_ids.add(p.id)
                        fresh.append(p.to_dict())
                journal.commit({"pairs.jsonl": fresh, "rejects.jsonl": rejects}, [it.key for it in chunk])
                counts["pairs"] += len(fresh)
                for r in rejects:
                    counts["rejects"][r["reason"]] = counts["rejects"].get(r["reason"], 0) + 1
                for k, v in stats.items():
                    counts[k] = counts.get(k, 0) + v
                bar.advance(len(chunk))
                manifest.write("running")
    finally:
        recipe.close()
