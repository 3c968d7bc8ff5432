"""The uniform random agent: a submittable baseline that plays every family.

It is the same policy as every family's ``random`` reference, submitted as an
agent so that the leaderboard shows where chance lies.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector.utils import batch_space

from benchmark.protocol import AgentContext


class RandomAgent:
    """Samples each slot's action uniformly from the action space."""

    privileged = False

    def __init__(self, context: AgentContext) -> None:
        self.actions = batch_space(context.action_space, context.num_envs)
        self.actions.seed(context.seed)

    def act(self, observations: Any) -> np.ndarray:
        return self.actions.sample()


def factory(context: AgentContext) -> RandomAgent:
    return RandomAgent(context)
