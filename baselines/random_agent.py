"""The uniform random agent: a submittable baseline that plays every family.

It is the same policy as every family's ``random`` reference, submitted as an
agent so that the leaderboard shows where chance lies.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import batch_space

from benchmark.protocol import AgentContext, batch_size


class RandomAgent:
    """Samples each slot's action uniformly from the action space."""

    privileged = False

    def __init__(self, context: AgentContext) -> None:
        self.space = context.action_space
        self.rng = np.random.default_rng(context.seed)
        self.batched: dict[int, gym.Space] = {}

    def act(self, observations: Any) -> np.ndarray:
        n = batch_size(observations)
        if isinstance(self.space, spaces.Discrete):
            return self.space.start + self.rng.integers(0, self.space.n, size=n)
        if n not in self.batched:
            self.batched[n] = batch_space(self.space, n)
            self.batched[n].seed(int(self.rng.integers(2**31)))
        return self.batched[n].sample()


def factory(context: AgentContext) -> RandomAgent:
    return RandomAgent(context)
