"""The learning benchmark: does j1's GRPO make a judge better, by how much, and against what?

Reads top to bottom, each stage a public j1 stage, each cached in its own folder (a rerun skips a stage
whose inputs and settings are unchanged, and redoes it, and what depends on it, when they changed):

1. pairs: `j1 synth` (resumable) -> one held-out split by prompt (`heldout_size` pairs) and the training
   pairs, plus the arms' variants (shuffled labels, hinted questions);
2. base: the base model judged on the held-out pairs by `j1 eval` (greedy, both orders, beside the trivial
   baselines);
3. warm: the label-free warm start (`j1 train --algo sft`, <= 200 examples, one epoch), judged greedy and
   sampled;
4. probe: the warm judge sampled on training pairs in both orders: does it already sample verdicts that
   depend on content? (GRPO sharpens what the policy samples; it cannot reward what it never sees);
5. arms: each selected arm (`--arms`) trains the warm judge for the same wall time (`j1 train`) and is
   judged like the others;
6. learning.json / learning.md / learning.png: every judge's figures with their CIs, the gains, the
   reward trends and the targets, recomputed from each eval's `predictions.jsonl`.

    python -m bench.learning [--recipe bench/learning/recipe.yaml] [--arms grpo,hint] [--set k=v ...]
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.learning import data
from bench.learning.config import ArmConfig, LearningConfig
from j1 import J1Error
from j1.config import build, to_dict
from j1.manifest import RunManifest, fingerprint
from j1.train.config import TrainConfig, section_name

log = logging.getLogger(__name__)
MAX_WARM_EXAMPLES = 200


class Stages:
    """Stage results cached by a key of everything they depend on: `out/<name>/stage.json`."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.keys: dict[str, str] = {}

    def key(self, name: str, *deps: Any) -> str:
        blob = json.dumps(
            [deps, [self.keys.get(d) for d in deps if isinstance(d, str)]], sort_keys=True, default=str
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def cached(self, name: str, key: str) -> dict[str, Any] | None:
        stamp = self.out / name / "stage.json"
        if stamp.is_file():
            saved = json.loads(stamp.read_text())
            if saved.get("key") == key:
                self.keys[name] = key
                return saved
        return None

    def run(self, name: str, key: str, work: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
        saved = self.cached(name, key)
        if saved is not None:
            log.info("%s: cached (%s)", name, self.out / name)
            return saved
        folder = self.out / name
        if folder.exists():
            log.info("%s: settings or inputs changed, redoing it", name)
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        t = time.time()
        result = {"key": key, **work(folder), "seconds": round(time.time() - t, 1)}
        (folder / "stage.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
        self.keys[name] = key
        return result


def train_config(
    cfg: LearningConfig, section: dict[str, Any], model: str, pairs: Path, out: Path, minutes: float | None
) -> TrainConfig:
    """A `j1 train` config: the stage's own keys over what the benchmark fixes for every stage."""
    for key in ("model", "out", "seed"):
        if key in section:
            raise J1Error(
                f"learning benchmark: {key} is set by the benchmark, not in a stage's train section"
            )
    data_keys = {**to_dict(cfg.data), "path": str(pairs), "heldout_fraction": 0.0, "heldout_size": None}
    base = {
        "model": model,
        "seed": cfg.seed,
        "out": str(out),
        "format": cfg.format,
        "data": data_keys,
        "heldout_eval": {"enabled": False},  # every judge is scored below on the same held-out pairs
        "warm_start": {"enabled": False},  # the benchmark's own warm stage precedes every arm
        "tensorboard": False,
        "time_limit_minutes": minutes,
    }
    return build(TrainConfig, {**base, **section}, source=f"learning benchmark ({out.name})")


def check(cfg: LearningConfig, model_path: str) -> None:
    """Every stage's config built and validated before any compute."""
    from j1.eval.judges import BASELINES
    from j1.train.run import check as check_stage

    for b in cfg.eval.baselines:
        if b not in BASELINES:
            raise J1Error(f"unknown baseline {b!r}; valid: {', '.join(BASELINES)}")
    unknown = [a for a in cfg.run_arms if a not in cfg.arms]
    if unknown:
        raise J1Error(f"unknown arm {unknown[0]!r}; arms in the recipe: {', '.join(cfg.arms)}")
    unknown = [j for j in cfg.attacks.judges if j not in ("base", "warm") and j not in cfg.arms]
    if unknown:
        raise J1Error(
            f"attacks.judges: unknown judge {unknown[0]!r}; valid: base, warm, {', '.join(cfg.arms)}"
        )
    if cfg.base_format:
        from j1.formats import get_format

        get_format(cfg.base_format)
    elif "base" in cfg.attacks.judges:
        raise J1Error("attacks.judges: base is judged in base_format, which is not set")
    if cfg.attacks.pairs < 1:
        raise J1Error(f"attacks.pairs={cfg.attacks.pairs}: a number of held-out pairs, >= 1")
    for name, arm in cfg.arms.items():
        if not 0.0 <= arm.adversarial <= 1.0:
            raise J1Error(f"arm {name}: adversarial={arm.adversarial}: a share of the pairs, from 0 to 1")
        if arm.adversarial and (arm.hint or arm.labels != "true"):
            raise J1Error(f"arm {name}: adversarial pairs go with true labels and no hint")
    here = Path(cfg.out)
    warm = train_config(cfg, {"algo": "sft", **cfg.warm}, model_path, here / "x.jsonl", here / "warm", None)
    if warm.algo != "sft":
        raise J1Error("the warm start is an SFT stage (warm.algo: sft)")
    if warm.traces.max_examples is None or warm.traces.max_examples > MAX_WARM_EXAMPLES:
        raise J1Error(f"the warm start sees at most {MAX_WARM_EXAMPLES} examples (warm.traces.max_examples)")
    if warm.sft.get("num_train_epochs", 1) > 1:
        raise J1Error("the warm start trains at most one epoch (warm.sft.num_train_epochs <= 1)")
    if warm.traces.label_policy == "correct":
        raise J1Error("the warm start is label-free: warm.traces.label_policy: random_pair")
    stages = [warm]
    for name, arm in cfg.arms.items():
        t = train_config(
            cfg, arm.train, model_path, here / "x.jsonl", here / name, arm.minutes or cfg.arm_minutes
        )
        if t.format == "multitask":
            raise J1Error(f"arm {name}: the benchmark scores one judge format; set {cfg.format}")
        if arm.curve_every:
            args = getattr(t, section_name(t.algo))
            every = args.get("save_steps", 500)
            if args.get("save_strategy", "steps") != "steps" or arm.curve_every % every:
                raise J1Error(
                    f"arm {name}: curve_every {arm.curve_every} needs a checkpoint every {arm.curve_every} "
                    f"steps; set {section_name(t.algo)}.save_steps to a divisor of it (now {every})"
                )
        stages.append(t)
    for t in stages:
        check_stage(t, model_path)


def synth_pairs(cfg: LearningConfig, out: Path) -> Path:
    """`j1 synth` on the embedded default with the recipe's `synth` keys (resumable: a rerun reuses it)."""
    from importlib.resources import files

    from j1.config import read_yaml
    from j1.data_synthesis.run import SynthConfig
    from j1.data_synthesis.run import run as synth

    default = read_yaml(str(files("j1.data_synthesis") / "recipes" / "default.yaml"))
    merged = _merge(default, {**cfg.synth, "out": str(out), "seed": cfg.seed})
    return (
        synth(
            build(SynthConfig, merged, source="learning benchmark synth"),
            command="j1 synth (learning benchmark)",
        )
        / "pairs.jsonl"
    )


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in update.items():
        out[k] = _merge(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out


def judge(
    cfg: LearningConfig,
    model: str,
    pairs_file: Path,
    folder: Path,
    samples: int = 1,
    temperature: float = 0.0,
    fmt: str | None = None,
) -> dict[str, Any]:
    """`j1 eval` (pairs benchmark, both orders) of `model` on `pairs_file` in `fmt` (default the benchmark's
    format), cut to the prompt budget by the training rule: greedy beside the trivial baselines, or
    `samples` samples at `temperature`."""
    from j1.train.evaluate import evaluate
    from j1.train.examples import load_pairs
    from j1.train.session import load_judge_tokenizer

    e = cfg.eval
    metrics = evaluate(
        model, load_pairs(pairs_file), {fmt or cfg.format: 1.0}, load_judge_tokenizer(model), cfg.data, folder,
        seed=cfg.seed, backend=e.backend, max_tokens=e.max_tokens, options=e.options,
        baselines=[] if samples > 1 else e.baselines, samples=samples, temperature=temperature,
    )  # fmt: skip
    return {"eval_dir": str(folder), "metrics": metrics}


def train_stage(tcfg: TrainConfig, folder: Path) -> dict[str, Any]:
    from j1.train.callbacks import read_metrics
    from j1.train.run import run as j1_train

    out = j1_train(tcfg, command=f"j1 train (learning benchmark: {folder.name})")
    records = read_metrics(out / "metrics.jsonl") if (out / "metrics.jsonl").is_file() else []
    curve = [r["reward"] for r in records if r.get("reward") is not None]
    manifest = json.loads((out / "manifest.json").read_text())
    return {
        "judge": str(out / "judge"),
        "reward_curve": curve,
        "steps": max((r.get("step", 0) for r in records), default=0),
        "counts": manifest.get("counts", {}),
    }


def run(cfg: LearningConfig, command: str = "python -m bench.learning") -> Path:
    from j1.models import resolve_model
    from j1.train.examples import load_pairs, split_heldout

    out = Path(cfg.out)
    model = resolve_model(cfg.model)
    check(cfg, model)
    stages = Stages(out)
    with RunManifest(out, command, cfg) as manifest:
        pairs = Path(cfg.pairs) if cfg.pairs else synth_pairs(cfg, out / "synth")
        manifest.add_model("base", model)
        manifest.add_data("pairs", pairs)

        def split(folder: Path) -> dict[str, Any]:
            train, held = split_heldout(load_pairs(pairs), size=cfg.heldout_size, seed=cfg.seed)
            files = {
                "train": data.write_pairs(folder / "train.jsonl", train),
                "heldout": data.write_pairs(folder / "heldout.jsonl", held),
                "probe": data.write_pairs(
                    folder / "probe.jsonl", data.probe_sample(train, cfg.probe.pairs, cfg.seed)
                ),
            }
            if any(a.labels == "shuffled" for a in cfg.arms.values()):
                files["train_shuffled"] = data.write_pairs(
                    folder / "train_shuffled.jsonl", data.shuffled(train, cfg.seed)
                )
            if any(a.hint for a in cfg.arms.values()):
                files["train_hinted"] = data.write_pairs(folder / "train_hinted.jsonl", data.hinted(train))
                files["heldout_hinted"] = data.write_pairs(folder / "heldout_hinted.jsonl", data.hinted(held))
            by_source = {s: sum(p.source == s for p in held) for s in sorted({p.source for p in held})}
            return {
                "files": {k: str(v) for k, v in files.items()},
                "train_pairs": len(train),
                "heldout_pairs": len(held),
                "heldout_by_source": by_source,
            }

        ev = asdict(cfg.eval)
        rules = (cfg.format, asdict(cfg.data))
        split_key = stages.key(
            "data",
            fingerprint(pairs),
            cfg.heldout_size,
            cfg.seed,
            cfg.probe.pairs,
            # the variants the arms need, not the arms: adding an arm leaves every cached stage valid
            sorted({a.labels for a in cfg.arms.values()}),
            any(a.hint for a in cfg.arms.values()),
        )
        split_result = stages.run("data", split_key, split)
        files = {k: Path(v) for k, v in split_result["files"].items()}
        results: dict[str, Any] = {"data": split_result, "judges": {}, "arms": {}}

        def evaluated(
            name: str,
            model_path: str,
            pairs_file: str = "heldout",
            sampled: bool = False,
            after: str | None = None,
            fmt: str | None = None,
        ) -> dict[str, Any]:
            stage = f"eval/{name}{'_sampled' if sampled else ''}"
            other = [fmt] if fmt else []  # the benchmark's own format leaves the key as it was
            key = stages.key(
                stage, "data", after or fingerprint(model_path), ev, rules, pairs_file, sampled, *other
            )
            n, t = (cfg.eval.samples, cfg.eval.temperature) if sampled else (1, 0.0)
            return stages.run(stage, key, lambda f: judge(cfg, model_path, files[pairs_file], f, n, t, fmt))

        results["judges"]["base"] = evaluated("base", model)
        if cfg.base_format:
            results["judges"]["base_direct"] = evaluated("base_direct", model, fmt=cfg.base_format)
        warm_cfg = train_config(cfg, {"algo": "sft", **cfg.warm}, model, files["train"], out / "warm", None)
        warm_key = stages.key("warm", "data", fingerprint(model), to_dict(warm_cfg))
        warm = stages.run("warm", warm_key, lambda f: train_stage(warm_cfg, f))
        results["arms"]["warm"] = warm
        results["judges"]["warm"] = evaluated("warm", warm["judge"], after="warm")
        if "warm" in cfg.eval.sampled:
            results["judges"]["warm_sampled"] = evaluated("warm", warm["judge"], sampled=True, after="warm")
        p = cfg.probe
        probe_key = stages.key("probe", "data", "warm", ev, rules, asdict(p))
        results["probe"] = stages.run(
            "probe",
            probe_key,
            lambda f: judge(cfg, warm["judge"], files["probe"], f, p.samples, p.temperature),
        )
        for name, arm in cfg.arms.items():
            if arm.adversarial:  # a cheap, cached file: made whether or not the arm runs now
                files[f"train_adversarial_{arm.adversarial}"] = adversarial_file(cfg, stages, files, arm)
            result = arm_stage(cfg, stages, name, arm, warm["judge"], files, evaluated, name in cfg.run_arms)
            if result:
                results["arms"][name], judged = result
                results["judges"].update(judged)
        results["attacks"] = {}
        for name in cfg.attacks.judges:
            if name == "base":  # the untrained model, in the format it can answer
                source, stage, fmt = {"judge": model}, "data", cfg.base_format
                name = "base_direct"
            else:
                source = warm if name == "warm" else results["arms"].get(name)
                stage, fmt = ("warm" if name == "warm" else f"arms/{name}"), cfg.format
            if source is not None:
                extra = [fmt] if fmt != cfg.format else []
                key = stages.key(f"attacks/{name}", stage, ev, rules, asdict(cfg.attacks), *extra)
                results["attacks"][name] = stages.run(
                    f"attacks/{name}",
                    key,
                    lambda f, m=source["judge"], fm=fmt: attacked(cfg, m, files["heldout"], f, fm),
                )
        results["timing_s"] = {name: r.get("seconds") for name, r in _stage_results(results).items()}
        from bench.learning.report import summarize, write_report

        summary = summarize(cfg, results)
        write_report(out, summary)
        manifest.extra["learning"] = {"targets": summary["targets"]}
    return out


def arm_stage(
    cfg: LearningConfig,
    stages: Stages,
    name: str,
    arm: ArmConfig,
    warm: str,
    files: dict[str, Path],
    evaluated: Callable[..., dict[str, Any]],
    selected: bool,
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Train arm `name` from the warm judge and judge it (when selected), or read its cached results."""
    variant = (
        "train_hinted" if arm.hint
        else "train_shuffled" if arm.labels == "shuffled"
        else f"train_adversarial_{arm.adversarial}" if arm.adversarial
        else "train"
    )  # fmt: skip
    minutes = arm.minutes or cfg.arm_minutes
    stage = f"arms/{name}"
    tcfg = train_config(cfg, arm.train, warm, files[variant], Path(cfg.out) / "arms" / name, minutes)
    deps = ("data", "warm", *([f"data_adversarial_{arm.adversarial}"] if arm.adversarial else []))
    key = stages.key(stage, *deps, to_dict(tcfg))
    if not selected and stages.cached(stage, key) is None:
        return None
    trained = stages.run(stage, key, lambda f: train_stage(tcfg, f))
    heldout = "heldout_hinted" if arm.hint else "heldout"
    judged = {name: evaluated(name, trained["judge"], heldout, after=stage)}
    for step, checkpoint in curve_checkpoints(
        Path(trained["judge"]).parent, arm.curve_every, trained["steps"]
    ):
        judged[f"{name}_step{step}"] = evaluated(f"{name}_step{step}", str(checkpoint), heldout, after=stage)
    if arm.hint:
        judged[f"warm_{name}"] = evaluated(f"warm_{name}", warm, heldout, after="warm")
    if name in cfg.eval.sampled:
        judged[f"{name}_sampled"] = evaluated(name, trained["judge"], heldout, sampled=True, after=stage)
    return trained, judged


def adversarial_file(cfg: LearningConfig, stages: Stages, files: dict[str, Path], arm: ArmConfig) -> Path:
    """The training pairs plus attacked twins of a seeded share of them, drawn by `j1 synth`'s own rule
    (`attacked_twins`, every attack family): the training file of an arm with `adversarial: share`."""
    from j1.data_synthesis.run import AdversarialConfig, attacked_twins
    from j1.train.examples import load_pairs

    def build(folder: Path) -> dict[str, Any]:
        train = load_pairs(files["train"])
        twins = attacked_twins(train, AdversarialConfig(share=arm.adversarial), cfg.seed)
        path = data.write_pairs(folder / f"train_adversarial_{arm.adversarial}.jsonl", [*train, *twins])
        return {"file": str(path), "pairs": len(train), "attacked_twins": len(twins)}

    stage = f"data_adversarial_{arm.adversarial}"
    return Path(stages.run(stage, stages.key(stage, "data", arm.adversarial), build)["file"])


def attacked(cfg: LearningConfig, model: str, heldout: Path, folder: Path, fmt: str) -> dict[str, Any]:
    """`j1 eval --benchmark attacks=<held-out pairs>` of `model` in `fmt`: the attack-success rate per family."""
    from j1.eval.run import EvalConfig, JudgeConfig, load_report
    from j1.eval.run import run as j1_eval

    judge = JudgeConfig(
        name=model, backend=cfg.eval.backend, format=fmt, max_tokens=cfg.eval.max_tokens,
        options=cfg.eval.options,
    )  # fmt: skip
    ecfg = EvalConfig(
        out=str(folder), judge=judge, benchmarks=[f"attacks={heldout}"], limit=cfg.attacks.pairs,
        seed=cfg.seed, baselines=[],
    )  # fmt: skip
    j1_eval(ecfg, command="j1 eval (learning benchmark: attacks)")
    return {"eval_dir": str(folder), "asr": load_report(folder)["benchmarks"]["attacks"]["asr"]}


def curve_checkpoints(train_out: Path, every: int, final_step: int) -> list[tuple[int, Path]]:
    """The arm's checkpoints at multiples of `every` steps before its last (the final judge is its own
    point), oldest first; an error when the arm saved none of them (its save_steps must divide `every`)."""
    if not every:
        return []
    found = {}
    for path in (train_out / "checkpoints").glob("checkpoint-*"):
        step = int(path.name.rsplit("-", 1)[1])
        if step % every == 0 and step < final_step:
            found[step] = path
    wanted = list(range(every, final_step, every))
    missing = [s for s in wanted if s not in found]
    if missing:
        raise J1Error(
            f"{train_out}: no checkpoint at step(s) {missing} for the learning curve (curve_every: {every}); "
            "set the arm's save_steps to divide curve_every"
        )
    return [(s, found[s]) for s in wanted]


def _stage_results(results: dict[str, Any]) -> dict[str, Any]:
    return {
        **{f"eval/{k}": v for k, v in results["judges"].items()},
        **{f"train/{k}": v for k, v in results["arms"].items()},
        "probe": results["probe"],
        **{f"attacks/{k}": v for k, v in results.get("attacks", {}).items()},
    }
