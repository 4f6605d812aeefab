"""The one interface every generation backend implements.

Chat conversations go in, `n` samples per conversation come out with their token counts. Every backend
renders a conversation with the model's own chat template through `render_chat`, so the same messages
give the same prompt text (and the same tokens) on `hf`, `vllm` and `openai` (completions mode).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from j1 import J1Error

log = logging.getLogger(__name__)

Message = Mapping[str, str]
Conversation = Sequence[Message]


@dataclass
class SamplingParams:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 256
    seed: int | None = 0
    stop: list[str] = field(default_factory=list)
    logprobs: int = 0  # > 0: each sample carries its tokens with the top-k log-probabilities at each

    def __post_init__(self) -> None:
        if self.n < 1:
            raise J1Error(f"sampling.n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise J1Error(f"sampling.temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise J1Error(f"sampling.top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise J1Error(f"sampling.max_tokens must be >= 1, got {self.max_tokens}")
        if not 0 <= self.logprobs <= 20:
            raise J1Error(f"sampling.logprobs must be from 0 to 20 (top-k per token), got {self.logprobs}")


# one generated token: its text and the top-k alternatives at its position, {token text: log-probability}
# (the chosen token among them)
TokenLogprobs = tuple[str, dict[str, float]]


@dataclass
class Sample:
    text: str
    num_tokens: int
    finish_reason: str | None = None  # "stop" (EOS or a stop string) or "length"
    logprobs: list[TokenLogprobs] | None = None  # with SamplingParams.logprobs > 0, else None


@dataclass
class Generation:
    prompt: str  # the rendered prompt text
    prompt_tokens: int
    samples: list[Sample]

    @property
    def output_tokens(self) -> int:
        return sum(s.num_tokens for s in self.samples)


def check_conversation(conv: Any, index: int) -> list[dict[str, str]]:
    """A conversation is a non-empty list of {"role", "content"} string pairs; say which one is not."""
    if not isinstance(conv, Sequence) or isinstance(conv, str) or not conv:
        raise J1Error(f"conversation {index}: expected a non-empty list of messages, got {conv!r:.80}")
    out = []
    for j, m in enumerate(conv):
        if (
            not isinstance(m, Mapping)
            or not isinstance(m.get("role"), str)
            or not isinstance(m.get("content"), str)
        ):
            raise J1Error(
                f"conversation {index}, message {j}: needs string 'role' and 'content', got {m!r:.80}"
            )
        out.append({"role": m["role"], "content": m["content"]})
    return out


def render_chat(tokenizer: Any, conv: Conversation, index: int = 0) -> str:
    """The model's chat template applied to `conv`, ending with the assistant's generation prompt; a
    conversation that ends with an assistant message is a prefill: the model continues that message."""
    messages = check_conversation(conv, index)
    if not getattr(tokenizer, "chat_template", None):
        raise J1Error(f"the tokenizer of {getattr(tokenizer, 'name_or_path', '?')} has no chat template")
    if messages[-1]["role"] == "assistant":
        return tokenizer.apply_chat_template(messages, tokenize=False, continue_final_message=True)
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def load_tokenizer(path: str, **kwargs: Any) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, **kwargs)


class Backend(ABC):
    """Subclasses set `name` and implement `generate`; `render` is shared so templates never drift."""

    name: ClassVar[str]
    tokenizer: Any = None

    def render(self, conv: Conversation, index: int = 0) -> str:
        return render_chat(self.tokenizer, conv, index)

    def render_all(self, convs: Sequence[Conversation]) -> list[str]:
        return [self.render(c, i) for i, c in enumerate(convs)]

    @abstractmethod
    def generate(self, convs: Sequence[Conversation], params: SamplingParams) -> list[Generation]:
        """One `Generation` per conversation, in input order, each with `params.n` samples."""

    def close(self) -> None:
        """Release the engine (processes, memory); the backend is unusable afterwards."""
        return None

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
