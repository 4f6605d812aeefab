"""The `j1 train` config: our own dataclasses, with the trainer sections passed straight to TRL.

`grpo`, `sft` and `dpo` are plain dicts of `trl.GRPOConfig` / `SFTConfig` / `DPOConfig` keys laid over
j1's defaults for that algorithm (`GRPO_DEFAULTS`, ...), so `--set grpo.max_steps=2` changes one key and
keeps the rest. j1 owns `output_dir` (from `out`) and `reward_weights` (from `rewards`); setting them in
a trainer section is an error. `lora` is a dict of `peft.LoraConfig` keys; empty = full fine-tuning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from j1 import J1Error
from j1.models import DEFAULT_MODEL
from j1.train.examples import OverlongRule, TruncateSide

Algo = Literal["grpo", "sft", "dpo", "semi-online-dpo"]
ALGOS: tuple[str, ...] = get_args(Algo)
TraceSource = Literal["template", "judge"]
LabelPolicy = Literal["correct", "random_pair"]
OwnAnswer = Literal["none", "response", "model"]
OwnAnswerForm = Literal["value", "equation"]
AdvantageGroup = Literal["order", "pair"]
MULTITASK = "multitask"

# j1's defaults under each trainer section: small, CPU-friendly, J1's sampling (temperature 1.0).
GRPO_DEFAULTS: dict[str, Any] = {
    "num_generations": 4,
    "per_device_train_batch_size": 16,  # = 2 pairs x 2 orders x 4 rollouts per step
    "max_completion_length": 128,
    "temperature": 1.0,
    "learning_rate": 1e-5,  # a small model on a short budget; J1's 8B recipe uses 1e-6 over 300 steps
    "beta": 0.01,
    "max_steps": 60,
    "logging_steps": 1,
    "save_strategy": "steps",
    "save_steps": 25,
    "report_to": "none",  # TensorBoard is j1's own callback (train.tensorboard)
    "gradient_checkpointing": False,
    "model_init_kwargs": {"dtype": "float32"},
}
SFT_DEFAULTS: dict[str, Any] = {
    "num_train_epochs": 1,
    "per_device_train_batch_size": 8,
    "learning_rate": 5e-5,
    "logging_steps": 1,
    "save_strategy": "steps",
    "save_steps": 50,
    "report_to": "none",
    "gradient_checkpointing": False,
    "max_length": 2048,
    "model_init_kwargs": {"dtype": "float32"},
}
DPO_DEFAULTS: dict[str, Any] = {
    "num_train_epochs": 1,
    "per_device_train_batch_size": 4,
    "learning_rate": 1e-6,
    "beta": 0.1,
    "logging_steps": 1,
    "save_strategy": "steps",
    "save_steps": 50,
    "report_to": "none",
    "gradient_checkpointing": False,
    "max_length": 2048,
    "model_init_kwargs": {"dtype": "float32"},
}
OWNED_KEYS = {"output_dir": "out", "reward_weights": "rewards"}


@dataclass
class DataConfig:
    path: str = "runs/synth/pairs.jsonl"  # pairs of the Pair contract (the output of `j1 synth`)
    heldout_fraction: float = 0.1  # of all pairs, split off by prompt before anything else
    heldout_size: int | None = None  # overrides heldout_fraction
    limit: int | None = None  # at most this many training pairs (a seeded choice, after the split)
    max_prompt_tokens: int = 2048  # judge prompt incl. chat template (J1: 4096 in + out)
    overlong: OverlongRule = "drop"  # drop | truncate (cut the responses, longer first) | error
    truncate_side: TruncateSide = "middle"  # middle keeps a response's opening and its final answer; or right
    skip_bad: bool = False  # count and drop bad pairs (empty fields, identical responses) instead of failing


@dataclass
class JudgeBackendConfig:
    """The judge that writes traces (SFT from a stronger judge, rejection sampling, DPO pairs)."""

    name: str = "hf"  # hf | vllm | openai
    model: str | None = None  # None = the model being trained (its own rejection-sampled traces)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class TraceConfig:
    """Judge traces for SFT and DPO (train/traces.py). `template`: traces written from the pair itself
    (restate both answers, then decide); `judge`: sampled from a judge
    model through any backend and kept by their parsed verdict (SFT keeps correct ones, DPO pairs a correct
    with a wrong one for the same prompt)."""

    source: TraceSource = "template"
    judge: JudgeBackendConfig = field(default_factory=JudgeBackendConfig)
    samples: int = 4  # traces sampled per judge prompt (source=judge)
    temperature: float = 1.0
    max_tokens: int = 512
    max_examples: int | None = None  # at most this many training examples (seeded choice of pairs)
    # template: the verdict written is the label (`correct`) or a coin per pair, the same response in both
    # orders (`random_pair`: the format and position invariance, no label)
    label_policy: LabelPolicy = "correct"
    # template, pairwise math: open with the judge's own answer, check A then B against it, decide for the
    # first that matches: `response` = the answer of the response the policy decides for; `model` = the
    # judge model's own greedy solution (traces.judge backend; label-free: J1's reference answer of its own)
    own_answer: OwnAnswer = "none"
    # `equation`: for "What is <expression>?" the own answer is written as "<expression> = <value>" (with
    # `model`, the model continues "<expression> =": the computation at the decision point)
    own_answer_form: OwnAnswerForm = "value"


def warm_start_traces() -> TraceConfig:
    return TraceConfig(
        label_policy="random_pair",
        own_answer="model",
        own_answer_form="equation",
        max_examples=200,
        max_tokens=128,
    )


@dataclass
class WarmStartConfig:
    """An SFT stage before GRPO or DPO, in `out/warm`, on the same training pairs (the held-out split is the
    same): it teaches a base model the judge's format, so its first rollouts parse and earn rewards. The
    default traces read no label (a coin per pair, the judge's own answer to math questions), so what the
    judge learns about right and wrong comes from the main stage. The main stage starts from
    `out/warm/judge`; a rerun reuses a finished warm start."""

    enabled: bool = True
    traces: TraceConfig = field(default_factory=warm_start_traces)
    sft: dict[str, Any] = field(
        default_factory=lambda: {
            "num_train_epochs": 1,
            "per_device_train_batch_size": 2,
            "learning_rate": 2e-4,
        }
    )


@dataclass
class SemiOnlineConfig:
    sync_steps: int = 1  # s: re-sample DPO pairs with the current model every s optimizer steps (1 = online)
    rounds: int = 4  # number of re-sampling rounds (total steps = rounds x sync_steps)
    pairs_per_round: int = 8  # judge prompts sampled per round


@dataclass
class HeldoutEvalConfig:
    """Greedy judgments of the final judge on the held-out pairs, both orders (metrics in the card)."""

    enabled: bool = True
    backend: str = "hf"
    max_tokens: int | None = None  # None = the trainer's completion budget
    limit: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainConfig:
    algo: Algo = "grpo"
    model: str = DEFAULT_MODEL  # alias, local folder or hub id
    format: str = "pairwise_verdict"  # a judge format, or `multitask` (the `mixture`)
    mixture: dict[str, float] = field(default_factory=lambda: {"pairwise_verdict": 1.0, "pointwise": 1.0})
    rewards: dict[str, float] = field(default_factory=lambda: {"verdict": 1.0, "position_consistency": 1.0})
    data: DataConfig = field(default_factory=DataConfig)
    out: str = "runs/train"
    resume: bool = False  # continue from the last checkpoint in out/checkpoints
    seed: int = 0
    tensorboard: bool = True
    time_limit_minutes: float | None = None  # stop training (and save the judge) after this much wall time
    lora: dict[str, Any] = field(default_factory=dict)
    # train only the top N decoder layers (+ final norm), the rest frozen: a cheaper step (the backward pass
    # stops at layer N from the top) for small CPU runs; None = all parameters
    trainable_layers: int | None = None
    # GRPO advantages: `order` = TRL's groups (the G rollouts of one prompt); `pair` = the 2 x G rollouts of a
    # pair, both orders together (EIS-GRPO; see train/sampler.py)
    advantage_group: AdvantageGroup = "order"
    grpo: dict[str, Any] = field(default_factory=dict)
    sft: dict[str, Any] = field(default_factory=dict)
    dpo: dict[str, Any] = field(default_factory=dict)
    traces: TraceConfig = field(default_factory=TraceConfig)
    warm_start: WarmStartConfig = field(default_factory=WarmStartConfig)  # before grpo / dpo (not sft)
    semi_online: SemiOnlineConfig = field(default_factory=SemiOnlineConfig)
    heldout_eval: HeldoutEvalConfig = field(default_factory=HeldoutEvalConfig)

    def mixture_of_formats(self) -> dict[str, float]:
        return dict(self.mixture) if self.format == MULTITASK else {self.format: 1.0}


def section_name(algo: str) -> str:
    """The trainer section an algorithm reads: semi-online DPO trains with the `dpo` section."""
    return "dpo" if algo in ("dpo", "semi-online-dpo") else algo


def trainer_section(cfg: TrainConfig, name: str, defaults: dict[str, Any]) -> dict[str, Any]:
    """j1's defaults for a trainer section with the user's keys on top; owned keys are refused."""
    section = getattr(cfg, name)
    for key, owner in OWNED_KEYS.items():
        if key in section:
            raise J1Error(f"{name}.{key} is set by j1 from `{owner}`; remove it from the {name} section")
    merged = {**defaults, **section}
    merged.setdefault("seed", cfg.seed)
    resolve_bf16(merged)
    return merged


def resolve_bf16(section: dict[str, Any]) -> None:
    """`bf16: auto` (or unset): TRL's trainers default to bf16, which on a CPU without bf16 instructions is
    an emulation ~20x slower than float32 (j1/hardware.py). On CPU runs j1 sets bf16 iff the CPU has them;
    on GPUs (and with `fp16`) TRL's own default stands. An explicit true/false is kept."""
    if section.get("bf16", "auto") != "auto":
        return
    section.pop("bf16", None)
    if section.get("fp16"):
        return
    import torch

    from j1.hardware import cpu_native_bf16

    if section.get("use_cpu") or not torch.cuda.is_available():
        section["bf16"] = cpu_native_bf16()
        if section["bf16"] and not torch.backends.mps.is_available():
            section["use_cpu"] = True  # transformers refuses bf16 without a GPU unless told it runs on CPU


def trainer_args(
    cls: type, cfg: TrainConfig, name: str, defaults: dict[str, Any], output_dir: str, **extra: Any
) -> Any:
    """`cls(**section)` (a TRL config); its complaints (unknown key, bad value) name the section."""
    section = {**trainer_section(cfg, name, defaults), **extra}
    try:
        return cls(output_dir=output_dir, **section)
    except (TypeError, ValueError) as e:
        raise J1Error(f"{name} section ({cls.__name__}): {e}") from e
