"""Every random stream of a run derives from its seed, so runs repeat and resume exactly."""

from __future__ import annotations

import numpy as np
import torch


def seed_torch(seed: int) -> None:
    """Seed torch's global generator, which third-party code (peft init, dropout) draws from."""
    torch.manual_seed(int(seed) % (2**63))


def stream(seed: int, *keys: int) -> np.random.Generator:
    """An independent numpy generator for (seed, keys…), e.g. (seed, round, client).

    Because each (round, client) stream depends only on its keys, a run resumed at round r draws
    exactly what an uninterrupted run draws there: no generator state needs checkpointing.
    """
    return np.random.default_rng(np.random.SeedSequence([int(seed), *map(int, keys)]))


def stream_seed(seed: int, *keys: int) -> int:
    """A 63-bit integer seed for (seed, keys…), to seed torch for the same step."""
    return int(np.random.SeedSequence([int(seed), *map(int, keys)]).generate_state(2, dtype=np.uint32).view(np.uint64)[0] >> 1)
