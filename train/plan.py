"""The memory plan: does a `j1 train` recipe fit its GPUs, before the first GPU hour is spent?

    j1 train --recipe train/recipes/j1_8b.yaml --plan --gpus 8 --gpu-memory-gb 80 [--nodes 1]
             [--model-config config.json] [--accelerate-config train/accelerate/fsdp.yaml]

Per trainer GPU, in GB (1e9 bytes), from the model's dimensions (its `config.json`: no weights are read), the
recipe and the machine:

- weights: trainable parameters in float32 (master weights; j1 refuses 16-bit trainable weights at the small
  learning rates judges train with), frozen ones (LoRA's base, layers below `trainable_layers`) in their
  load dtype; sharded over every trainer GPU under FSDP / ZeRO-3, whole under DDP / ZeRO-2;
- compute copy: the 16-bit copy bf16 compute works on (DDP: autocast's cache of every weight; FSDP /
  ZeRO-3: two gathered decoder layers, the one computed and the one prefetched);
- gradients (float32, like the weights; DDP keeps them twice: the parameters' and its all-reduce buckets)
  and AdamW's two float32 moments, sharded under FSDP / ZeRO-2 / ZeRO-3;
- the reference model (KL beta > 0, full fine-tuning) in 16 bits, sharded like the weights;
- activations of one micro-batch (`per_device_train_batch_size` sequences of prompt + completion tokens),
  with SDPA / flash attention (no sequence-squared term): per decoder layer and token
  2 x (10 H + 4 I + 2 kv_dim) bytes + 4 bytes per head, or, with gradient checkpointing, the layer's 2 H-byte
  input plus one layer recomputed in full; plus the logits of the scored tokens (16-bit logits, their
  temperature-scaled copy and their gradient: 6 bytes a logit). tests/test_plan.py checks the per-layer
  figure against the tensors autograd actually saves on a Llama built in the test;
- CUDA context, NCCL and allocator fragmentation: 1.5 GB + 10% of the above;
- a colocated vLLM engine (GRPO `vllm_mode: colocate`): `vllm_gpu_memory_utilization` of the GPU, holding
  its 16-bit weights (split over `vllm_tensor_parallel_size`) and a KV cache that must hold at least one
  `vllm_max_model_length` sequence; with `vllm_enable_sleep_mode` it is released while the trainer computes,
  so the peak is the larger of (states + engine) and (states + activations).

It fits when the peak is at most the GPU's memory. When it does not, the plan names the settings to change,
each checked by re-planning with that change. The last line printed is one JSON object.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from j1 import J1Error
from j1.config import read_yaml
from j1.train.config import TrainConfig, section_name

GB = 1e9
Sharding = Literal["ddp", "fsdp", "zero2", "zero3"]
SHARDINGS: tuple[str, ...] = ("ddp", "fsdp", "zero2", "zero3")
CONTEXT_GB = 1.5  # CUDA context + NCCL buffers per process
FRAGMENTATION = 0.10
VLLM_OVERHEAD_GB = 1.0  # vLLM's own activations / CUDA graphs inside its share
BYTES = {"float32": 4, "float": 4, "bfloat16": 2, "bf16": 2, "float16": 2, "fp16": 2, "half": 2, "auto": 2}


@dataclass(frozen=True)
class ModelDims:
    """A decoder-only transformer's dimensions (Llama / Qwen / Mistral-style config.json)."""

    layers: int
    hidden: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    tied: bool = False
    head_dim: int | None = None

    @classmethod
    def from_config(cls, c: dict[str, Any], source: str = "config") -> ModelDims:
        c = c.get("text_config", c)  # multimodal configs nest the language model's
        need = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size", "vocab_size")
        missing = [k for k in need if k not in c]
        if missing:
            raise J1Error(f"{source}: no {', '.join(missing)}: not a decoder-only transformer config")
        return cls(
            layers=c["num_hidden_layers"],
            hidden=c["hidden_size"],
            heads=c["num_attention_heads"],
            kv_heads=c.get("num_key_value_heads") or c["num_attention_heads"],
            intermediate=c["intermediate_size"],
            vocab=c["vocab_size"],
            tied=bool(c.get("tie_word_embeddings", False)),
            head_dim=c.get("head_dim"),
        )

    @property
    def hd(self) -> int:
        return self.head_dim or self.hidden // self.heads

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.hd

    @property
    def layer_params(self) -> int:
        h, q = self.hidden, self.heads * self.hd
        return h * q * 2 + 2 * h * self.kv_dim + 3 * h * self.intermediate + 2 * h

    @property
    def params(self) -> int:
        embed = self.vocab * self.hidden
        return self.layers * self.layer_params + embed * (1 if self.tied else 2) + self.hidden

    def activation_bytes_per_token_layer(self) -> int:
        """What autograd keeps per token and decoder layer in 16-bit compute (SDPA / flash attention)."""
        return 2 * (10 * self.hidden + 4 * self.intermediate + 2 * self.kv_dim) + 4 * self.heads

    def kv_bytes_per_token(self) -> int:
        return 2 * self.layers * self.kv_dim * 2  # K and V, 16-bit


def load_dims(ref: str | Path) -> ModelDims:
    """From a config.json file, a local model folder, or (online, or cached) a hub id."""
    p = Path(ref).expanduser()
    if p.is_dir():
        p = p / "config.json"
    if p.is_file():
        try:
            return ModelDims.from_config(json.loads(p.read_text()), str(p))
        except ValueError as e:
            raise J1Error(f"{p}: not JSON ({e})") from e
    try:
        from transformers import AutoConfig

        return ModelDims.from_config(AutoConfig.from_pretrained(str(ref)).to_dict(), str(ref))
    except OSError as e:
        raise J1Error(
            f"{ref}: its config.json could not be read ({e.__class__.__name__}); offline, pass the model's "
            "config file with --model-config config.json"
        ) from e


@dataclass(frozen=True)
class Machine:
    gpus: int  # per node
    gpu_memory_gb: float
    nodes: int = 1
    sharding: Sharding = "ddp"
    offload_optimizer: bool = False

    @property
    def world(self) -> int:
        return self.gpus * self.nodes


def read_accelerate(path: str | Path) -> tuple[Sharding, bool]:
    """The sharding (and optimizer offload) an accelerate config file asks for."""
    c = read_yaml(str(path))
    kind = c.get("distributed_type", "NO")
    if kind == "FSDP":
        f = c.get("fsdp_config") or {}
        strategy = str(f.get("fsdp_sharding_strategy", f.get("fsdp_reshard_after_forward", "FULL_SHARD")))
        sharding: Sharding = "zero2" if "SHARD_GRAD_OP" in strategy or strategy == "False" else "fsdp"
        return sharding, bool(f.get("fsdp_offload_params", False))
    if kind == "DEEPSPEED":
        d = c.get("deepspeed_config") or {}
        stage = int(d.get("zero_stage", 0))
        offload = d.get("offload_optimizer_device", "none") not in (None, "none")
        return ("zero3" if stage == 3 else "zero2" if stage == 2 else "ddp"), offload
    return "ddp", False


def accelerate_of(recipe: str | Path) -> str | None:
    """The accelerate config named on a recipe's first line (its command), if any."""
    first = Path(recipe).read_text(encoding="utf-8").splitlines()[:1]
    m = re.search(r"--config_file\s+(\S+)", first[0]) if first else None
    return m.group(1) if m else None


@dataclass
class Plan:
    rows: list[tuple[str, float]]
    peak_gb: float
    gpu_memory_gb: float
    notes: list[str] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)  # what fails whatever the total (vLLM's KV cache)
    fixes: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return self.peak_gb <= self.gpu_memory_gb and not self.blockers

    def summary(self) -> dict[str, Any]:
        return {
            "fits": self.fits,
            "per_gpu_gb": round(self.peak_gb, 1),
            "gpu_memory_gb": self.gpu_memory_gb,
            **{k: round(v, 2) for k, v in self.rows},
            "blockers": self.blockers,
            "fixes": self.fixes,
        }


def _section(cfg: TrainConfig) -> dict[str, Any]:
    from j1.train.config import DPO_DEFAULTS, GRPO_DEFAULTS, SFT_DEFAULTS, trainer_section

    name = section_name(cfg.algo)
    defaults = {"grpo": GRPO_DEFAULTS, "sft": SFT_DEFAULTS, "dpo": DPO_DEFAULTS}[name]
    return trainer_section(cfg, name, defaults)


def weight_dtype_bytes(section: dict[str, Any]) -> int:
    init = section.get("model_init_kwargs") or {}
    dtype = str(init.get("dtype", init.get("torch_dtype", "float32"))).removeprefix("torch.")
    if dtype not in BYTES:
        raise J1Error(f"model_init_kwargs.dtype={dtype!r}: expected one of {', '.join(BYTES)}")
    return BYTES[dtype]


MIN_LR_16BIT_WEIGHTS = 1e-4


def check_precision(cfg: TrainConfig) -> None:
    """Refuse 16-bit trainable weights at a learning rate whose updates they cannot hold: AdamW moves a weight
    by about the learning rate a step, and bfloat16 keeps 8 significant bits, so on a weight of a typical
    size of 0.02 any step below 0.02 x 2^-9 = 3.9e-5 rounds away (J1 trains at 1e-6)."""
    if cfg.lora:
        return  # the base is frozen; peft keeps the adapters in float32
    s = _section(cfg)
    lr = float(s.get("learning_rate", 1e-6))
    if weight_dtype_bytes(s) == 2 and lr < MIN_LR_16BIT_WEIGHTS:
        name = section_name(cfg.algo)
        raise J1Error(
            f"{name}.model_init_kwargs.dtype is 16-bit and {name}.learning_rate is {lr:g}: the optimizer would "
            "update 16-bit weights, and steps that small round to zero on most of them (bfloat16 keeps 8 "
            "significant bits: a weight of 0.02 moves only by steps above 3.9e-5). Load float32 weights "
            f"({name}.model_init_kwargs: {{dtype: float32}}) and compute in bf16 ({name}.bf16: true): float32 "
            "master weights and optimizer states, bf16 matmuls; FSDP or ZeRO-3 shards them when they do not fit."
        )


def plan(cfg: TrainConfig, dims: ModelDims, machine: Machine) -> Plan:
    """Per-GPU memory of `cfg` on `machine`; see the module docstring for every term."""
    s = _section(cfg)
    w, m = machine.world, machine
    P = dims.params
    if cfg.lora:
        r = int(cfg.lora.get("r", 8))
        q = dims.heads * dims.hd
        trainable = dims.layers * r * (4 * dims.hidden + 2 * q + 2 * dims.kv_dim)  # q, k, v, o adapters
    elif cfg.trainable_layers is not None:
        trainable = min(cfg.trainable_layers, dims.layers) * dims.layer_params + dims.hidden
    else:
        trainable = P
    frozen = P - trainable if not cfg.lora else P
    load_bytes = weight_dtype_bytes(s)
    shard_w = w if m.sharding in ("fsdp", "zero3") else 1  # parameters
    shard_s = w if m.sharding != "ddp" else 1  # gradients, optimizer states
    bf16 = bool(s.get("bf16")) or load_bytes == 2
    rows: list[tuple[str, float]] = []
    rows.append(("weights", (4 * trainable + load_bytes * frozen) / shard_w / GB))
    if bf16:
        copy = 2 * P if m.sharding in ("ddp", "zero2") else 2 * 2 * dims.layer_params
        rows.append(("compute_copy", copy / GB))
    grads = 4 * trainable / shard_s * (2 if m.sharding == "ddp" else 1)
    rows.append(("gradients", grads / GB))
    rows.append(("optimizer", 0.0 if m.offload_optimizer else 8 * trainable / shard_s / GB))
    beta = float(s.get("beta", 0.0)) if cfg.algo != "sft" else 0.0
    if beta and not cfg.lora:
        rows.append(("reference_model", 2 * P / shard_w / GB))
    # one micro-batch
    b = int(s.get("per_device_train_batch_size", 1))
    if cfg.algo == "grpo":
        completion = int(s.get("max_completion_length", 256))
        seq, seqs, scored = cfg.data.max_prompt_tokens + completion, b, b * completion
    else:
        seq = int(s.get("max_length", 1024))
        seqs = b * (2 if cfg.algo != "sft" else 1)  # DPO: chosen and rejected
        scored = seqs * seq
    tokens = seqs * seq
    per_layer = dims.activation_bytes_per_token_layer()
    if s.get("gradient_checkpointing"):
        acts = tokens * (dims.layers * 2 * dims.hidden + per_layer)
    else:
        acts = tokens * dims.layers * per_layer
    rows.append(("activations", acts / GB))
    rows.append(("logits", scored * dims.vocab * 6 / GB))
    states = sum(v for k, v in rows if k not in ("activations", "logits"))
    work = rows[-2][1] + rows[-1][1]
    trainer = (states + work) * (1 + FRAGMENTATION) + CONTEXT_GB
    notes: list[str] = []
    blockers: list[str] = []
    vllm = 0.0
    if cfg.algo == "grpo" and s.get("use_vllm") and s.get("vllm_mode", "server") == "colocate":
        util = float(s.get("vllm_gpu_memory_utilization", 0.3))
        tp = int(s.get("vllm_tensor_parallel_size", 1))
        vllm = util * m.gpu_memory_gb
        v_weights = 2 * P / tp / GB
        kv = vllm - v_weights - VLLM_OVERHEAD_GB
        max_len = int(s.get("vllm_max_model_length") or seq)
        need = dims.kv_bytes_per_token() / tp * max_len / GB
        rows += [("vllm_weights", v_weights), ("vllm_kv_cache", max(kv, 0.0))]
        if kv < need:
            blockers.append(
                f"the colocated vLLM engine's share ({util} x {m.gpu_memory_gb} GB = {vllm:.1f} GB) "
                f"leaves {kv:.1f} GB for its KV cache after {v_weights:.1f} GB of weights; one "
                f"{max_len}-token sequence needs {need:.1f} GB (raise grpo.vllm_gpu_memory_utilization or "
                "grpo.vllm_tensor_parallel_size)"
            )
        else:
            notes.append(f"vLLM KV cache: {kv / need:.0f} sequences of {max_len} tokens at once")
        if s.get("vllm_enable_sleep_mode"):
            notes.append("vLLM sleeps while the trainer computes: peak = states + max(engine, activations)")
            peak = (states * (1 + FRAGMENTATION) + CONTEXT_GB) + max(vllm, work * (1 + FRAGMENTATION))
        else:
            peak = trainer + vllm
    else:
        peak = trainer
        if cfg.algo == "grpo" and s.get("use_vllm"):
            notes.append("vLLM in server mode: on its own GPUs, not counted here")
    rows.append(("overhead", trainer - states - work))
    return Plan(rows=rows, peak_gb=peak, gpu_memory_gb=m.gpu_memory_gb, notes=notes, blockers=blockers)


def fixes(cfg: TrainConfig, dims: ModelDims, machine: Machine) -> list[str]:
    """The changes that make a plan fit, cheapest kind first: each move is kept when it lowers the peak,
    until the plan fits; each setting is named once, at its last value. Empty: none found."""
    name = section_name(cfg.algo)

    def changed(c: TrainConfig, **kv: Any) -> TrainConfig:
        return replace(c, **{name: {**getattr(c, name), **kv}})

    Move = tuple[str, str, TrainConfig, Machine]  # (setting, what to write, config, machine)

    def moves(c: TrainConfig, m: Machine) -> list[Move]:
        s, out = _section(c), []
        if m.sharding == "ddp":
            out.append(("sharding", "shard weights, gradients and optimizer states: --config_file "
                        "train/accelerate/fsdp.yaml", c, replace(m, sharding="fsdp")))  # fmt: skip
        if not s.get("gradient_checkpointing"):
            out.append(("checkpointing", f"{name}.gradient_checkpointing: true",
                        changed(c, gradient_checkpointing=True), m))  # fmt: skip
        if s.get("use_vllm") and s.get("vllm_mode") == "colocate" and not s.get("vllm_enable_sleep_mode"):
            out.append(
                ("sleep", "grpo.vllm_enable_sleep_mode: true", changed(c, vllm_enable_sleep_mode=True), m)
            )
        b, accum = int(s.get("per_device_train_batch_size", 1)), int(s.get("gradient_accumulation_steps", 1))
        smaller = next((d for d in range(b - 1, 0, -1) if b % d == 0), None)
        if smaller:
            label = f"{name}.per_device_train_batch_size: {smaller}, gradient_accumulation_steps: {accum * b // smaller}"
            out.append(("batch", label, changed(c, per_device_train_batch_size=smaller,
                                                gradient_accumulation_steps=accum * b // smaller), m))  # fmt: skip
        if m.sharding in ("fsdp", "zero3") and m.nodes < 16:
            out.append(("nodes", f"--nodes {m.nodes * 2}", c, replace(m, nodes=m.nodes * 2)))
        if m.sharding != "ddp" and not m.offload_optimizer:
            out.append(("offload", "offload optimizer states to CPU", c, replace(m, offload_optimizer=True)))
        return out

    def better(new: Plan, old: Plan) -> bool:
        return new.peak_gb < old.peak_gb or len(new.blockers) < len(old.blockers)

    c, m, kept = cfg, machine, {}
    for _ in range(24):
        current = plan(c, dims, m)
        if current.fits:
            return list(kept.values())
        step = next((mv for mv in moves(c, m) if better(plan(mv[2], dims, mv[3]), current)), None)
        if step is None:
            return []
        kept[step[0]] = step[1]  # a setting moved again keeps its last value
        c, m = step[2], step[3]
    return []


def plan_and_fixes(cfg: TrainConfig, dims: ModelDims, machine: Machine) -> Plan:
    p = plan(cfg, dims, machine)
    if not p.fits:
        p.fixes = fixes(cfg, dims, machine)
    return p


def render(p: Plan, dims: ModelDims, machine: Machine) -> list[str]:
    """The table a user reads, then the JSON line."""
    lines = [
        f"model: {dims.params / 1e9:.2f}B parameters ({dims.layers} layers, hidden {dims.hidden}); machine: "
        f"{machine.nodes} node(s) x {machine.gpus} GPU(s) of {machine.gpu_memory_gb:g} GB, {machine.sharding}"
        + (", optimizer offloaded" if machine.offload_optimizer else ""),
        "per GPU (GB):",
    ]
    lines += [f"  {k:<16} {v:8.1f}" for k, v in p.rows]
    lines.append(
        f"  {'peak':<16} {p.peak_gb:8.1f}   of {p.gpu_memory_gb:g}: {'fits' if p.fits else 'DOES NOT FIT'}"
    )
    lines += [f"  note: {n}" for n in p.notes] + [f"  DOES NOT FIT: {b}" for b in p.blockers]
    if not p.fits:
        lines.append(
            "  to fit, change: " + ("; ".join(p.fixes) if p.fixes else "no single setting makes it fit: "
                                   "fewer tokens per micro-batch, more GPUs or LoRA")
        )  # fmt: skip
    lines.append(json.dumps(p.summary()))
    return lines


def machine_from_env(cfg: TrainConfig) -> Machine | None:
    """The machine `j1 train` runs on (CUDA only: None on CPU), as accelerate launched it."""
    import torch

    if not torch.cuda.is_available():
        return None
    local = int(os.environ.get("LOCAL_WORLD_SIZE", torch.cuda.device_count() or 1))
    world = int(os.environ.get("WORLD_SIZE", local))
    if os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true":
        offload = os.environ.get("FSDP_OFFLOAD_PARAMS", "").lower() == "true"
        sharding: Sharding = "fsdp"
    elif os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true":
        stage = os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE", "0")
        sharding = "zero3" if stage == "3" else "zero2" if stage == "2" else "ddp"
        offload = os.environ.get("ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE", "none") != "none"
    else:
        sharding, offload = "ddp", False
    memory = torch.cuda.get_device_properties(0).total_memory / GB
    return Machine(local, memory, max(1, math.ceil(world / local)), sharding, offload)


def check_fits(cfg: TrainConfig, model_path: str) -> Plan | None:
    """`j1 train`'s start-up check on a GPU machine: refuse a run whose plan does not fit."""
    machine = machine_from_env(cfg)
    if machine is None:
        return None
    dims = load_dims(model_path)
    p = plan_and_fixes(cfg, dims, machine)
    if not p.fits:
        raise J1Error(
            "this run does not fit the GPUs it was launched on:\n" + "\n".join(render(p, dims, machine)[:-1])
        )
    return p


def print_plan(
    cfg: TrainConfig,
    recipe: str | Path | None,
    gpus: int,
    gpu_memory_gb: float,
    nodes: int,
    model_config: str | Path | None,
    accelerate_config: str | Path | None,
    console: Any,
) -> bool:
    """`j1 train --plan`: the plan for the recipe on the named machine, printed; True when it fits."""
    from j1.models import resolve_model

    if gpus < 1 or nodes < 1 or gpu_memory_gb <= 0:
        raise J1Error("--plan: --gpus and --nodes must be >= 1 and --gpu-memory-gb > 0")
    if accelerate_config is None and recipe is not None:
        accelerate_config = accelerate_of(recipe)
    sharding, offload = read_accelerate(accelerate_config) if accelerate_config else ("ddp", False)
    dims = load_dims(model_config or resolve_model(cfg.model))
    machine = Machine(gpus, gpu_memory_gb, nodes, sharding, offload)
    p = plan_and_fixes(cfg, dims, machine)
    for line in render(p, dims, machine):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    return p.fits
