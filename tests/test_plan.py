"""The memory plan (`j1 train --plan`): arithmetic checked against published sizes and against what autograd
actually saves, the shipped GPU recipes fitting the hardware their headers name, oversized runs refused."""

from __future__ import annotations

import json
import subprocess
import sys
import weakref
from pathlib import Path

import pytest

from j1 import J1Error
from j1.config import load_config
from j1.train.config import TrainConfig
from j1.train.plan import Machine, ModelDims, check_precision, plan, plan_and_fixes

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "train" / "recipes"
# published dimensions (the models' config.json on the hub)
LLAMA_8B = dict(num_hidden_layers=32, hidden_size=4096, num_attention_heads=32, num_key_value_heads=8,
                intermediate_size=14336, vocab_size=128256, tie_word_embeddings=False)  # fmt: skip
LLAMA_70B = dict(num_hidden_layers=80, hidden_size=8192, num_attention_heads=64, num_key_value_heads=8,
                 intermediate_size=28672, vocab_size=128256, tie_word_embeddings=False)  # fmt: skip


def test_parameter_counts_match_the_published_sizes() -> None:
    assert ModelDims.from_config(LLAMA_8B).params == pytest.approx(8.03e9, rel=0.002)
    assert ModelDims.from_config(LLAMA_70B).params == pytest.approx(70.55e9, rel=0.002)


@pytest.mark.parametrize("checkpointing", [False, True])
def test_activation_bytes_match_what_autograd_saves(checkpointing: bool) -> None:
    """Bytes of the tensors autograd keeps for backward (bf16, SDPA), per decoder layer and token, on a
    Llama built here: the difference between 3 layers and 1 isolates the per-layer term."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    c = dict(
        hidden_size=256, intermediate_size=688, num_attention_heads=8, num_key_value_heads=2, vocab_size=512
    )
    dims = ModelDims.from_config({**c, "num_hidden_layers": 1})
    b, s = 2, 128

    def saved(layers: int) -> int:
        torch.manual_seed(0)
        cfg = LlamaConfig(**c, num_hidden_layers=layers, attn_implementation="sdpa", use_cache=False)
        model = LlamaForCausalLM(cfg).to(torch.bfloat16).train()
        if checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        params = {p.untyped_storage().data_ptr() for p in model.parameters()}
        seen: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            st = t.untyped_storage()
            if st.data_ptr() not in params:
                seen[st.data_ptr()] = st.nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model.model(input_ids=torch.randint(0, 512, (b, s)))
        return sum(seen.values())

    per_layer_token = (saved(3) - saved(1)) / 2 / (b * s)
    expected = 2 * dims.hidden if checkpointing else dims.activation_bytes_per_token_layer()
    assert per_layer_token == pytest.approx(expected, rel=0.03)


def j1(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "j1", "train", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("recipe", "dims", "nodes"),
    [("j1_8b.yaml", LLAMA_8B, 1), ("j1_70b.yaml", LLAMA_70B, 8), ("sft_from_judge.yaml", LLAMA_8B, 1)],
)
def test_shipped_gpu_recipes_fit_the_hardware_their_header_names(tmp_path, recipe, dims, nodes) -> None:
    header = "\n".join(ln for ln in (RECIPES / recipe).read_text().splitlines() if ln.startswith("#"))
    assert "--gpus 8 --gpu-memory-gb 80" in header and (nodes == 1 or f"--nodes {nodes}" in header)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(dims))
    args = ["--recipe", str(RECIPES / recipe), "--plan", "--gpus", "8", "--gpu-memory-gb", "80"]
    proc = j1(*args, "--nodes", str(nodes), "--model-config", str(config))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert last["fits"] is True and 0 < last["per_gpu_gb"] <= 80 * 0.97  # a margin, not the edge
    assert "fsdp" in proc.stdout  # the sharding read from the recipe's first line


def test_an_oversized_run_is_refused_naming_what_to_change(tmp_path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(LLAMA_70B))
    args = ["--recipe", str(RECIPES / "j1_70b.yaml"), "--plan", "--gpus", "8", "--gpu-memory-gb", "80"]
    proc = j1(*args, "--model-config", str(config))  # one node instead of eight
    assert proc.returncode == 1
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert last["fits"] is False and last["per_gpu_gb"] > 80 and any("--nodes" in f for f in last["fixes"])
    assert "DOES NOT FIT" in proc.stdout and "to fit, change:" in proc.stdout
    # the 8B recipe under plain DDP: every GPU holds whole float32 states -> shard them
    config.write_text(json.dumps(LLAMA_8B))
    ddp = ["--accelerate-config", str(ROOT / "train" / "accelerate" / "ddp.yaml")]
    proc = j1("--recipe", str(RECIPES / "j1_8b.yaml"), "--plan", "--model-config", str(config), *ddp)
    assert (
        proc.returncode == 1 and "fsdp.yaml" in json.loads(proc.stdout.strip().splitlines()[-1])["fixes"][0]
    )


def test_vllm_share_too_small_for_one_sequence_is_a_blocker() -> None:
    cfg = load_config(TrainConfig, str(RECIPES / "j1_8b.yaml"), ["grpo.vllm_gpu_memory_utilization=0.2"])
    p = plan(cfg, ModelDims.from_config(LLAMA_8B), Machine(8, 80, sharding="fsdp"))
    assert not p.fits and "KV cache" in p.blockers[0] and p.peak_gb < 80


def test_sixteen_bit_weights_at_a_small_learning_rate_are_refused() -> None:
    sets = ["algo=grpo", "grpo.learning_rate=1e-6", "grpo.model_init_kwargs={dtype: bfloat16}"]
    with pytest.raises(J1Error, match="round to zero.*dtype: float32"):
        check_precision(load_config(TrainConfig, None, sets))
    check_precision(load_config(TrainConfig, None, [*sets[:2], "grpo.model_init_kwargs={dtype: float32}"]))
    check_precision(load_config(TrainConfig, None, [*sets, "lora={r: 8}"]))  # frozen base, fp32 adapters
    check_precision(load_config(TrainConfig, None, ["grpo.learning_rate=2e-4", sets[2]]))


def test_start_up_check_refuses_a_run_that_cannot_fit(tmp_path, monkeypatch) -> None:
    """On a GPU machine `j1 train` plans before loading anything (here the machine is stated)."""
    from j1.train import plan as plan_mod

    (tmp_path / "config.json").write_text(json.dumps(LLAMA_70B))
    cfg = load_config(TrainConfig, str(RECIPES / "j1_70b.yaml"))
    import torch

    if not torch.cuda.is_available():
        assert plan_mod.check_fits(cfg, str(tmp_path)) is None  # no GPU: nothing to plan
    monkeypatch.setattr(plan_mod, "machine_from_env", lambda c: Machine(8, 80, 1, "fsdp"))
    with pytest.raises(J1Error, match="does not fit the GPUs it was launched on"):
        plan_mod.check_fits(cfg, str(tmp_path))
    monkeypatch.setattr(plan_mod, "machine_from_env", lambda c: Machine(8, 80, 8, "fsdp"))
    assert plan_mod.check_fits(cfg, str(tmp_path)).fits


def test_free_trainer_lets_the_model_go() -> None:
    import torch

    from j1.train.session import TrainResult, free_trainer

    class Trainer:
        def __init__(self) -> None:
            self.model = torch.nn.Linear(4, 4)
            self.optimizer = torch.optim.AdamW(self.model.parameters())
            self.llm = object()

    result = TrainResult(Trainer())
    ref = weakref.ref(result.trainer.model)
    free_trainer(result)
    assert result.trainer is None and ref() is None


def test_plan_and_fixes_finds_a_combination_for_one_node() -> None:
    cfg = load_config(TrainConfig, str(RECIPES / "j1_70b.yaml"))
    p = plan_and_fixes(cfg, ModelDims.from_config(LLAMA_70B), Machine(8, 80, 1, "fsdp"))
    assert not p.fits and p.fixes
