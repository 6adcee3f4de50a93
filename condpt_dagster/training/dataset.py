"""PyTorch access to the packed blocks of many shards, shuffled deterministically and resumable.

``BlockDataset`` indexes the blocks of the given shards in order (memory-mapped; nothing is loaded up
front). ``ResumableSampler`` yields a seed-determined permutation per epoch and can continue from any
position, so a restarted trainer sees exactly the blocks it had not seen yet.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from condpt_dagster.conditioning.blocks import ShardBlocks
from condpt_dagster.core.lake import DataLake


class BlockDataset(Dataset):
    def __init__(self, lake: DataLake, shards: Sequence[str]) -> None:
        self.shards = list(shards)
        self.parts = [ShardBlocks.open(lake.blocks(s)) for s in self.shards]
        sizes = {p.meta.block_size for p in self.parts}
        tokenizers = {p.meta.tokenizer_sha256 for p in self.parts}
        if len(sizes) > 1 or len(tokenizers) > 1:
            raise ValueError(
                f"shards disagree: block sizes {sorted(sizes)}, tokenizers {sorted(t[:12] for t in tokenizers)}; "
                "rebuild token_blocks for every shard with one tokenizer and block size"
            )
        self.block_size = sizes.pop() if sizes else 0
        self.tokenizer_sha256 = tokenizers.pop() if tokenizers else ""
        self.offsets = np.cumsum([0] + [p.meta.n_blocks for p in self.parts]).tolist()

    def __len__(self) -> int:
        return self.offsets[-1]

    def locate(self, index: int) -> tuple[str, int]:
        """(shard, block within the shard) of a dataset index: the key into the spans tables."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        part = bisect.bisect_right(self.offsets, index) - 1
        return self.shards[part], index - self.offsets[part]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        shard, block = self.locate(index)
        part = self.parts[self.shards.index(shard)]
        return {
            "input_ids": torch.from_numpy(part.tokens[block].astype(np.int64)),
            "loss_mask": torch.from_numpy(part.mask[block].astype(np.bool_)),
        }


class ResumableSampler(Sampler[int]):
    """Epoch-wise permutations from ``seed``; ``position`` counts indices already consumed overall."""

    def __init__(self, length: int, seed: int = 0, position: int = 0) -> None:
        self.length, self.seed, self.position = length, seed, position

    def _permutation(self, epoch: int) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.length, generator=generator).tolist()

    def __iter__(self) -> Iterator[int]:
        if self.length == 0:
            return
        while True:
            epoch, offset = divmod(self.position, self.length)
            for index in self._permutation(epoch)[offset:]:
                self.position += 1
                yield index

    def __len__(self) -> int:
        return self.length

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.seed, self.position = state["seed"], state["position"]
