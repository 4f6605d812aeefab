"""The learning benchmark's config: a YAML recipe (`bench/learning/recipe.yaml`) plus `--set` overrides.

The stages reuse the product's configs untouched: `synth` is a `j1 synth` config (SynthConfig keys), `warm`
and every arm's `train` are `j1 train` configs (TrainConfig keys) laid over what the benchmark sets itself
(model, pairs, output folder, the arm's wall time, no held-out split of its own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from j1.models import DEFAULT_MODEL
from j1.train.config import DataConfig
from j1.train.evaluate import BASELINES

Labels = Literal["true", "shuffled"]


@dataclass
class EvalSettings:
    backend: str = "vllm"
    max_tokens: int = 96
    options: dict[str, Any] = field(default_factory=dict)
    baselines: list[str] = field(default_factory=lambda: [*BASELINES, "always_a", "always_b"])
    samples: int = 8  # sampled evaluation (T = temperature) of the judges in `sampled`
    temperature: float = 1.0
    sampled: list[str] = field(default_factory=lambda: ["warm", "grpo"])


@dataclass
class ProbeSettings:
    """The headroom probe: the warm judge sampled on training pairs, both orders (off the clock)."""

    pairs: int = 64
    samples: int = 8
    temperature: float = 1.0


@dataclass
class AttackSettings:
    """`j1 eval`'s attack suite (`attacks` benchmark) on held-out pairs, for the judges named (off the clock):
    the attack-success rate per family of a judge trained with and without adversarial pairs."""

    judges: list[str] = field(default_factory=list)  # "base" (in `base_format`), "warm" and arm names
    pairs: int = 50  # a seeded sample of held-out pairs, each clean and under every family, both orders


@dataclass
class ArmConfig:
    """One way of training the warm judge further, on the same pairs, for the same wall time."""

    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig keys (algo, rewards, grpo, sft, ...)
    labels: Labels = "true"  # shuffled: each training pair's label replaced by a seeded coin (control)
    hint: bool = False  # train and judge on pairs whose question carries its true answer (loop sanity)
    minutes: float | None = None  # training wall time; None = the benchmark's arm_minutes
    clock: bool = False  # part of the timed budget (the headline arm)
    curve_every: int = 0  # judge the checkpoints saved every this many steps too: a held-out learning curve
    adversarial: float = 0.0  # train on the pairs plus attacked twins of this share (j1 synth's rule)


@dataclass
class Targets:
    """What the benchmark checks and prints; `enforce: false` reports the same figures without a pass/fail."""

    enforce: bool = True
    headline: str = "grpo"
    gain_points: float = 10.0  # headline - warm, consistent accuracy, with the CI's lower bound > 0
    over_baseline_points: float = 10.0  # headline >= the best trivial baseline + this
    slope_p: float = 0.05  # headline's reward slope > 0 with one-sided p below this
    sanity_arm: str = "hint"
    sanity_accuracy: float = 90.0
    control_arm: str = "shuffled"
    control_band: float = 5.0  # |control gain| <= this, and its CI covers 0
    stretch_accuracy: float = 60.0
    budget_minutes: float = 45.0  # base, warm and headline evaluations + warm start + headline training


@dataclass
class LearningConfig:
    out: str = "runs/learning-check"
    model: str = DEFAULT_MODEL
    seed: int = 0
    pairs: str | None = None  # a pairs file; None = `j1 synth` with the `synth` section into out/synth
    synth: dict[str, Any] = field(default_factory=dict)  # SynthConfig keys over the embedded default's
    heldout_size: int = 200
    format: str = "pairwise_verdict_short"
    # the base model judged in this format too (`base_direct`): a model that cannot yet write `format` still
    # gives a verdict in the judge that does not think, the untrained row every arm is compared with
    base_format: str | None = "pairwise_verdict_direct"
    data: DataConfig = field(default_factory=DataConfig)  # the prompt budget rules, shared by every stage
    eval: EvalSettings = field(default_factory=EvalSettings)
    warm: dict[str, Any] = field(default_factory=dict)  # TrainConfig keys of the warm start (SFT)
    probe: ProbeSettings = field(default_factory=ProbeSettings)
    attacks: AttackSettings = field(default_factory=AttackSettings)
    arm_minutes: float = 30.0
    arms: dict[str, ArmConfig] = field(default_factory=dict)
    run_arms: list[str] = field(default_factory=list)  # arms to run now (--arms); the rest are read if cached
    targets: Targets = field(default_factory=Targets)
