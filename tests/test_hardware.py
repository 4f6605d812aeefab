"""The dtype defaults that depend on the CPU: bf16 only where it is native (j1/hardware.py)."""

from __future__ import annotations

import pytest

from j1 import hardware
from j1.hardware import cpu_flags, native_bf16
from j1.train.config import resolve_bf16

X86_AVX2 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx avx2 fma\n"
X86_BF16 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile\n"
ARM_BF16 = "processor\t: 0\nFeatures\t: fp asimd bf16 sve\n"


@pytest.mark.parametrize(
    ("cpuinfo", "machine", "native"),
    [
        (X86_AVX2, "x86_64", False),
        (X86_BF16, "x86_64", True),
        ("flags\t: avx2 amx_bf16\n", "x86_64", True),
        (ARM_BF16, "aarch64", True),
        ("Features\t: fp asimd\n", "aarch64", False),
        ("", "x86_64", False),  # unreadable or unknown: float32, the safe choice
    ],
)
def test_native_bf16_reads_the_cpu_flags(cpuinfo: str, machine: str, native: bool) -> None:
    assert native_bf16(cpu_flags(cpuinfo), machine) is native


@pytest.mark.parametrize("native", [True, False])
def test_bf16_auto_follows_the_cpu_on_cpu_runs_and_explicit_values_stay(monkeypatch, native: bool) -> None:
    monkeypatch.setattr(hardware, "cpu_native_bf16", lambda: native)
    for section in ({"use_cpu": True}, {"use_cpu": True, "bf16": "auto"}):
        resolve_bf16(section)
        assert section["bf16"] is native
    for explicit in (True, False):
        section = {"use_cpu": True, "bf16": explicit}
        resolve_bf16(section)
        assert section["bf16"] is explicit
    section = {"use_cpu": True, "fp16": True, "bf16": "auto"}
    resolve_bf16(section)
    assert "bf16" not in section  # fp16 asked for: TRL's own rule (bf16 off)


def test_trainer_args_resolve_bf16_for_every_algorithm(monkeypatch) -> None:
    from trl import GRPOConfig

    from j1.train.config import GRPO_DEFAULTS, TrainConfig, trainer_args

    monkeypatch.setattr(hardware, "cpu_native_bf16", lambda: False)
    cfg = TrainConfig(grpo={"use_cpu": True, "bf16": "auto"})
    assert trainer_args(GRPOConfig, cfg, "grpo", GRPO_DEFAULTS, "/tmp/j1-bf16").bf16 is False


def test_bf16_on_a_gpu_less_machine_builds_without_use_cpu_in_the_recipe(monkeypatch) -> None:
    """A recipe with no `use_cpu` (the default config) on a CPU with native bf16: transformers refuses bf16
    without a GPU unless `use_cpu` is set, so j1 sets it with bf16."""
    import torch
    from trl import SFTConfig

    from j1.train.config import SFT_DEFAULTS, TrainConfig, trainer_args

    monkeypatch.setattr(hardware, "cpu_native_bf16", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    args = trainer_args(SFTConfig, TrainConfig(), "sft", SFT_DEFAULTS, "/tmp/j1-bf16")
    assert args.bf16 is True and args.use_cpu is True


def test_vllm_cpu_dtype_auto_is_float32_without_native_bf16(monkeypatch) -> None:
    from j1.backends import vllm as jv

    for native, dtype in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(jv, "cpu_dtype", lambda n=native: "bfloat16" if n else "float32")
        args = jv.engine_defaults({"dtype": "auto", "kv_cache_memory_bytes": 2**30}, cpu=True)
        assert args["dtype"] == dtype
    assert (
        jv.engine_defaults({"dtype": "float16", "kv_cache_memory_bytes": 1}, cpu=True)["dtype"] == "float16"
    )


def test_cpu_threads_env_gives_a_small_machine_all_cores_unless_the_user_chose(monkeypatch) -> None:
    from j1.backends import vllm as jv

    for key in ("VLLM_CPU_NUM_OF_RESERVED_CPU", "VLLM_CPU_OMP_THREADS_BIND"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    jv.cpu_threads_env()
    import os

    assert os.environ["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0"
    monkeypatch.delenv("VLLM_CPU_NUM_OF_RESERVED_CPU")
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "0")
    jv.cpu_threads_env()
    assert "VLLM_CPU_NUM_OF_RESERVED_CPU" not in os.environ
    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND")
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    jv.cpu_threads_env()
    assert "VLLM_CPU_NUM_OF_RESERVED_CPU" not in os.environ


def test_colocated_engine_dtype_patches_trl_only_while_it_starts() -> None:
    pytest.importorskip("vllm")
    from trl.generation import vllm_generation

    from j1.train.vllm_sync import engine_dtype

    original = vllm_generation.LLM
    with engine_dtype("float32"):
        assert vllm_generation.LLM.keywords == {"dtype": "float32"} and vllm_generation.LLM.func is original
    assert vllm_generation.LLM is original


def test_vllm_backend_engine_options_override_the_cpu_defaults(monkeypatch, tiny_model_dir) -> None:
    """An engine option the CPU defaults also fill (the KV cache size) reaches vLLM once, as given: it was
    passed twice ("got multiple values for keyword argument 'kv_cache_memory_bytes'")."""
    import vllm

    from j1.backends import vllm as jv

    seen: dict = {}
    monkeypatch.setattr(vllm, "LLM", lambda **kw: seen.update(kw))
    monkeypatch.setattr(jv, "on_cpu", lambda: True)
    monkeypatch.setattr(jv, "cpu_kv_cache_bytes", lambda share: 7 * 2**30)
    jv.VLLMBackend(str(tiny_model_dir), kv_cache_memory_bytes=2**30, max_num_seqs=4)
    assert seen["kv_cache_memory_bytes"] == 2**30 and seen["max_num_seqs"] == 4
    jv.VLLMBackend(str(tiny_model_dir))
    assert seen["kv_cache_memory_bytes"] == 7 * 2**30  # unset: the CPU default
