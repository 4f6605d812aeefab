"""`hf` backend: batched `transformers` generate with left padding.

Slow next to vLLM, but it runs wherever transformers does and needs no engine: tests, tiny models, and
models vLLM does not support. Prompts are sorted by length and cut into batches of at most `batch_size`
sequences (prompts x n) to keep padding small. Sampling is seeded per batch: the same inputs with the same
batch size give the same outputs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from j1.backends.base import Backend, Conversation, Generation, Sample, SamplingParams, load_tokenizer
from j1.models import resolve_model

log = logging.getLogger(__name__)


def _dtype(name: str) -> Any:
    import torch

    return "auto" if name == "auto" else getattr(torch, name)


class HFBackend(Backend):
    name = "hf"

    def __init__(
        self,
        model: str,
        tokenizer: str | None = None,
        dtype: str = "auto",
        batch_size: int = 64,
        device: str | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        path = resolve_model(model)
        self.tokenizer = load_tokenizer(resolve_model(tokenizer) if tokenizer else path, padding_side="left")
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = AutoModelForCausalLM.from_pretrained(
            path, dtype=_dtype(dtype), trust_remote_code=trust_remote_code
        ).to(self.device)
        self.model.eval()
        self.batch_size = batch_size
        self.eos_ids = self._eos_ids()

    def _eos_ids(self) -> set[int]:
        ids = self.model.generation_config.eos_token_id
        ids = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
        return ids | {self.tokenizer.eos_token_id}

    def generate(self, convs: Sequence[Conversation], params: SamplingParams) -> list[Generation]:
        import torch

        prompts = self.render_all(convs)
        ids = self.tokenizer(prompts, add_special_tokens=False)["input_ids"]
        order = sorted(range(len(prompts)), key=lambda i: -len(ids[i]))
        sample = params.temperature > 0
        copies = params.n if sample else 1  # greedy: one decode, repeated n times (as the vllm backend)
        per_batch = max(1, self.batch_size // copies)
        results: list[Generation | None] = [None] * len(prompts)
        for b, start in enumerate(range(0, len(order), per_batch)):
            idx = order[start : start + per_batch]
            batch = self.tokenizer.pad({"input_ids": [ids[i] for i in idx]}, return_tensors="pt").to(
                self.device
            )
            if params.seed is not None:
                torch.manual_seed(params.seed + b)
            with torch.inference_mode():
                out = self.model.generate(
                    **batch,
                    do_sample=sample,
                    temperature=params.temperature if sample else None,
                    top_p=params.top_p if sample else None,
                    top_k=0 if sample else None,
                    max_new_tokens=params.max_tokens,
                    num_return_sequences=copies,
                    pad_token_id=self.tokenizer.pad_token_id,
                    stopping_criteria=self._stop_criteria(params.stop, batch["input_ids"].shape[1]),
                    return_dict_in_generate=True,
                    output_logits=params.logprobs > 0,
                )
            new = out.sequences[:, batch["input_ids"].shape[1] :].tolist()
            tops = self._top_logprobs(out.logits, params.logprobs) if params.logprobs else None
            for k, i in enumerate(idx):
                samples = [
                    self._sample(new[k * copies + j % copies], params, tops and tops[k * copies + j % copies])
                    for j in range(params.n)
                ]
                results[i] = Generation(prompts[i], len(ids[i]), samples)
        return [r for r in results if r is not None]

    def _stop_criteria(self, stop: list[str], prompt_len: int) -> Any:
        """Stop strings matched in the generated text only (transformers' own `stop_strings` also match
        across the prompt boundary, unlike vLLM)."""
        from transformers import StoppingCriteria, StoppingCriteriaList

        if not stop:
            return None
        tokenizer, window = self.tokenizer, max(len(s) for s in stop) + 2

        class GeneratedTextStop(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                import torch

                tails = tokenizer.batch_decode(
                    input_ids[:, prompt_len:][:, -window:], skip_special_tokens=True
                )
                return torch.tensor([any(s in t for s in stop) for t in tails], device=input_ids.device)

        return StoppingCriteriaList([GeneratedTextStop()])

    def _top_logprobs(self, logits: Any, k: int) -> list[list[dict[int, float]]]:
        """Per sequence, per generated position: the top-k token ids with their log-probabilities under
        the raw logits (before temperature and top-p, as vLLM reports them)."""
        import torch

        steps = []
        for step in logits:  # one [batch, vocab] tensor per generated position
            values, ids = torch.log_softmax(step.float(), dim=-1).topk(k, dim=-1)
            steps.append((values.tolist(), ids.tolist()))
        rows = len(steps[0][0]) if steps else 0
        return [[dict(zip(ids[r], values[r], strict=True)) for values, ids in steps] for r in range(rows)]

    def _sample(self, tokens: list[int], params: SamplingParams, tops: Any = None) -> Sample:
        """Cut at the first EOS (kept in the count, as vLLM counts it) and at the first stop string."""
        finish = "length"
        pad = self.tokenizer.pad_token_id
        while tokens and tokens[-1] == pad and pad not in self.eos_ids:  # filler after an early stop
            tokens = tokens[:-1]
        for pos, tok in enumerate(tokens):
            if tok in self.eos_ids:
                tokens, finish = tokens[: pos + 1], "stop"
                break
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        for s in params.stop:
            if s in text:
                text, finish = text[: text.index(s)], "stop"
        logprobs = None
        if tops is not None:
            dec = self.tokenizer.decode
            logprobs = [
                (dec([tok]), {dec([t]): lp for t, lp in top.items()})
                for tok, top in zip(tokens, tops, strict=False)
            ]
        return Sample(text=text, num_tokens=len(tokens), finish_reason=finish, logprobs=logprobs)

    def close(self) -> None:
        self.model = None
