"""Both orders of a pair in one batch: a pair-group sampler for `trl.GRPOTrainer`.

TRL's `RepeatSampler` shuffles single prompts, so the `ab` and `ba` prompts of a pair usually land in
different generation batches and a batch-level consistency reward never sees both. `PairGroupSampler`
yields the same index stream shape (each prompt `mini_repeat_count` times in a row, each generation batch
`repeat_count` times) but shuffles *groups* (the two examples of a pair in one format), lays each group out
adjacently (`ab` x G then `ba` x G; `chosen` x G then `rejected` x G) and cuts generation batches on group
boundaries. The permutation is drawn from (seed, epoch), so a resumed run sees the same data order.

Under data parallelism each process takes a contiguous block of `per_device_train_batch_size x
steps_per_generation` rows of the generation batch; `check_geometry` requires that block to hold whole
groups (a multiple of 2 x num_generations), so every process's reward call sees both sides of its pairs.

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

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import Sampler
from trl import GRPOTrainer

from j1 import J1Error
from j1.train.examples import groups_of

GROUP_SIZE = 2  # ab/ba or chosen/rejected
ADVANTAGE_GROUPS = ("order", "pair")  # TRL's per-prompt groups | both orders of a pair together


def check_advantage_group(name: str) -> None:
    if name not in ADVANTAGE_GROUPS:
        raise J1Error(f"unknown advantage_group {name!r}; valid: {', '.join(ADVANTAGE_GROUPS)}")


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


class PairGroupSampler(Sampler[int]):
    def __init__(
        self,
        groups: Sequence[Sequence[int]],
        mini_repeat_count: int,
        batch_size: int,
        repeat_count: int = 1,
        shuffle: bool = True,
        seed: int = 0,
    ) -> None:
        if batch_size % GROUP_SIZE:
            raise J1Error(
                f"a generation batch of {batch_size} prompts cannot hold whole pairs: it must be a multiple of "
                f"{GROUP_SIZE} (generation_batch_size / num_generations)"
            )
        if not groups:
            raise J1Error("no pair groups to sample from")
        self.groups = [list(g) for g in groups]
        self.mini_repeat_count = mini_repeat_count
        self.batch_size = batch_size
        self.repeat_count = repeat_count
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.groups_per_batch = batch_size // GROUP_SIZE
        if len(self.groups) < self.groups_per_batch:
            raise J1Error(
                f"{len(self.groups)} pair groups cannot fill one generation batch of {self.groups_per_batch} "
                "pairs: lower the batch size or add data"
            )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        """This epoch's generation batches, as unique row indices (before repetition)."""
        if self.shuffle:
            gen = torch.Generator()
            gen.manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(len(self.groups), generator=gen).tolist()
        else:
            order = list(range(len(self.groups)))
        k = self.groups_per_batch
        full = len(order) // k * k
        return [[i for g in order[s : s + k] for i in self.groups[g]] for s in range(0, full, k)]

    def __iter__(self) -> Iterator[int]:
        for chunk in self.batches():
            for _ in range(self.repeat_count):
                for index in chunk:
                    yield from [index] * self.mini_repeat_count

    def __len__(self) -> int:
        n_batches = len(self.groups) // self.groups_per_batch
        return n_batches * self.batch_size * self.mini_repeat_count * self.repeat_count


def check_geometry(args: Any) -> None:
    """Every process's share of a generation batch must hold whole pair groups of G rollouts each."""
    g = args.num_generations
    local = args.per_device_train_batch_size * args.steps_per_generation
    unit = GROUP_SIZE * g
    if local % unit:
        raise J1Error(
            f"per_device_train_batch_size x steps_per_generation = {args.per_device_train_batch_size} x "
            f"{args.steps_per_generation} = {local} rollouts per process, which is not a multiple of "
            f"2 x num_generations = {unit}: the two orders of a pair would be split. Use e.g. "
            f"per_device_train_batch_size={unit} (one pair per step) or a multiple of it."
        )


class PairGRPOTrainer(GRPOTrainer):
    """`trl.GRPOTrainer` whose train sampler keeps both orders (or both pointwise roles) of a pair in the
    same generation batch (and, with `advantage_group: pair`, advantages over a pair); everything else is
    TRL's."""

    def __init__(self, *args: Any, advantage_group: str = "order", **kwargs: Any) -> None:
        from j1.hardware import cpu_dtype
        from j1.train.vllm_sync import engine_dtype, kv_cache_env, use_reload_sync

        check_advantage_group(advantage_group)
        targs = kwargs["args"]
        cpu_colocate = targs.use_vllm and targs.vllm_mode == "colocate" and not torch.cuda.is_available()
        with contextlib.ExitStack() as stack:
            if cpu_colocate:
                stack.enter_context(kv_cache_env(targs.vllm_gpu_memory_utilization))
                stack.enter_context(engine_dtype(cpu_dtype()))
            super().__init__(*args, **kwargs)
        if cpu_colocate:
            use_reload_sync(self.vllm_generation)
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
