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

The trainer that uses it, and the pair advantages, are in `grpo.py`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import Sampler

from j1 import J1Error

GROUP_SIZE = 2  # ab/ba or chosen/rejected


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
