"""GRPO with vLLM colocated rollouts on a tiny model, with a reward it can always move (the share of its
completion tokens in the lower half of the vocabulary), at a high learning rate (argv[3], default 3e-2); writes out/probe.json:

- the per-step mean reward;
- a fixed probe completion's mean per-token log-probability under the colocated vLLM engine before
  training (the start weights) and after the last step (synced by the very function TRL calls before each
  generation), and under the trainer's model after the last step.

Run in its own process (vLLM's external launcher sets up torch.distributed):
    python tests/scripts/grpo_loop_probe.py MODEL_DIR OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def lower_half(prompts, completions, completion_ids, **_):  # noqa: ANN001, ANN003
    return [sum(t < HALF for t in ids) / max(1, len(ids)) for ids in completion_ids]


HALF = 0


def main(model_dir: str, out_dir: str) -> None:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig
    from vllm import SamplingParams

    from j1.pairs import Pair
    from j1.train.examples import render_group
    from j1.train.grpo import PairGRPOTrainer

    global HALF
    out = Path(out_dir)
    tok = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    HALF = len(tok) // 2
    pairs = [
        Pair("math", f"What is {a} + {b}?", f"{a + b}.", f"{a + b + 1}.")
        for a in range(1, 5)
        for b in range(1, 4)
    ]
    rows = [e.row() for p in pairs for e in render_group(p, "pairwise_verdict_short")]
    args = GRPOConfig(
        output_dir=str(out / "ckpt"), use_cpu=True, bf16=False, num_generations=4, per_device_train_batch_size=16,
        max_completion_length=16, learning_rate=float(sys.argv[3]) if len(sys.argv) > 3 else 3e-2, beta=0.0, max_steps=8, logging_steps=1, save_strategy="no",
        report_to="none", use_vllm=True, vllm_mode="colocate", vllm_max_model_length=2048,
        vllm_gpu_memory_utilization=0.05, vllm_importance_sampling_correction=True, seed=0,
    )  # fmt: skip
    trainer = PairGRPOTrainer(
        model=model_dir,
        reward_funcs=[lower_half],
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tok,
    )
    prompt = tok.apply_chat_template(rows[0]["prompt"], tokenize=False, add_generation_prompt=True)
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    probe_ids = tok(" 4 + 2 = 6, so A is right.", add_special_tokens=False)["input_ids"]
    ids = prompt_ids + probe_ids

    def engine_logp() -> float:
        llm = trainer.vllm_generation.llm
        got = llm.generate(
            [{"prompt_token_ids": ids}], SamplingParams(max_tokens=1, prompt_logprobs=0), use_tqdm=False
        )
        lps = got[0].prompt_logprobs[len(prompt_ids) :]
        return sum(lp[t].logprob for lp, t in zip(lps, probe_ids, strict=True)) / len(probe_ids)

    def trainer_logp(model) -> float:  # noqa: ANN001
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, len(prompt_ids) - 1 : -1].float()
        return logits.log_softmax(-1).gather(1, torch.tensor(probe_ids)[:, None]).mean().item()

    start = {"engine": engine_logp(), "trainer": trainer_logp(trainer.model)}
    trainer.train()
    trainer.vllm_generation.sync_weights()  # the sync TRL runs before every generation
    end = {"engine": engine_logp(), "trainer": trainer_logp(trainer.model)}
    fresh = AutoModelForCausalLM.from_pretrained(model_dir)
    rewards = [r["reward"] for r in trainer.state.log_history if "reward" in r]
    diffs = [
        r.get("sampling/sampling_logp_difference/mean") for r in trainer.state.log_history if "reward" in r
    ]
    (out / "probe.json").write_text(json.dumps({
        "rewards": rewards, "sampling_logp_difference": diffs, "start": start, "end": end,
        "start_weights_trainer": trainer_logp(fresh),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
