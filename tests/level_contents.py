"""What a level *is*, per family: its whole content as bytes, for DESIGN's contract that
no evaluation level of any split equals a training level (see
``test_registered_envs.test_eval_levels_are_not_training_levels``).

A new family adds its function to :data:`LEVEL_CONTENTS`; the contract test fails for a
registered family that has none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from envs.evolution.parallel import EvolutionParallelEnv
from envs.executive_hiring.env import ExecutiveHiringEnv
from envs.keys_chests.core import KeysChestsCore


def keys_chests(kwargs: dict[str, Any], seeds: Sequence[int]) -> set[bytes]:
    """Walls, keys, chests, piles and the agent's start."""
    core = KeysChestsCore(1, **kwargs)
    level_seeds = np.asarray(seeds, dtype=np.int64)
    walls, agent, keys, chests = core.generate(level_seeds)
    piles = core.generate_piles(level_seeds, keys)
    codes = walls.astype(np.uint8) | keys * np.uint8(2) | chests * np.uint8(4)
    codes |= piles * np.uint8(16)
    codes[np.arange(len(seeds)), agent] |= 8
    return {row.tobytes() for row in codes}


def executive_hiring(kwargs: dict[str, Any], seeds: Sequence[int]) -> set[bytes]:
    """Productivities, background types, the audit schedule, each quarter's effects and
    the value forecasts."""
    env = ExecutiveHiringEnv(**kwargs)
    return {env.make_level(int(seed)).content() for seed in seeds}


def evolution(kwargs: dict[str, Any], seeds: Sequence[int]) -> set[bytes]:
    """Food, and the organisms' places, health and ornaments at the start."""
    env = EvolutionParallelEnv(**kwargs)  # v1, or v0 for v0's kwargs
    contents = set()
    for seed in seeds:
        env.reset(seed=int(seed))
        arrays = (env.food_kind, env.sweetness, env.nutrition, env.pos, env.health, env.ornament)
        contents.add(b"".join(a.tobytes() for a in arrays))
    return contents


LEVEL_CONTENTS: dict[str, Callable[[dict[str, Any], Sequence[int]], set[bytes]]] = {
    "keys_chests": keys_chests,
    "executive_hiring": executive_hiring,
    "evolution": evolution,
}
