"""The batched agent protocol: what a submission is, as code sees it.

An agent maps a *batch* of observations to a batch of actions. The runner
creates one agent per (instance, split) through a factory that receives an
:class:`AgentContext`, calls :meth:`BatchedAgent.reset` once before each batch of
episodes, then :meth:`BatchedAgent.act` every step until every episode of the
batch has ended. Slots whose episode has ended keep receiving observations (the
environment autoresets them) and their actions are ignored.

This module imports nothing from the rest of the project so that environment
families can use it without import cycles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np


@dataclass(frozen=True)
class AgentContext:
    """Everything an agent factory may know about where its agent will act.

    Attributes:
        family: family name, e.g. ``"keys_chests"``.
        split: split name, e.g. ``"many_keys"``.
        env_id: the Gymnasium id of the split (or a descriptive id for a shifted env).
        observation_space: the space of *one* observation (not batched).
        action_space: the space of *one* action (not batched).
        num_envs: levels stepped together (the batch size in a Gymnasium family).
        seed: a seed for any randomness of the agent itself.
        env: the batched environment, given only to the project's own reference
            policies and privileged scripted baselines (``benchmark.evaluate.agents``
            decides which, by where their code is); ``None`` for every submitted
            agent, which runs in an agent process of its own.
    """

    family: str
    split: str
    env_id: str
    observation_space: gym.Space
    action_space: gym.Space
    num_envs: int
    seed: int = 0
    env: Any = None


@runtime_checkable
class BatchedAgent(Protocol):
    """Maps a batch of observations to a batch of actions.

    ``act`` returns one action per row of the batch: an integer array of shape
    ``(batch,)`` for a Discrete action space. In a Gymnasium family the batch is
    ``num_envs`` levels; in a PettingZoo family it is every live agent the
    policy controls across the batch's levels, so its size changes from step to
    step (agents finish, die or are born).
    Agents may also define ``reset(self) -> None`` (called before each batch of
    episodes). The project's own agents that read ``AgentContext.env`` declare
    ``privileged = True``; for any other agent the attribute means nothing.
    """

    def act(self, observations: Any) -> np.ndarray: ...


def batch_size(observations: Any) -> int:
    """Rows in a batch of observations (arrays, or dicts/tuples of arrays)."""
    if isinstance(observations, dict):
        return batch_size(next(iter(observations.values())))
    if isinstance(observations, tuple):
        return batch_size(observations[0])
    return len(observations)


def reset_agent(agent: BatchedAgent) -> None:
    """Call the agent's optional ``reset`` hook."""
    reset = getattr(agent, "reset", None)
    if callable(reset):
        reset()


def is_privileged(agent: BatchedAgent) -> bool:
    """Whether a trusted agent says it reads hidden state (only trusted sources are asked)."""
    return bool(getattr(agent, "privileged", False))


class UnsupportedFamily(Exception):
    """Raised by an agent factory for a family it does not play; that family is skipped."""


@dataclass
class ParallelBatch:
    """What ``AgentContext.env`` is in a PettingZoo family: the batch's levels.

    ``envs`` are the PettingZoo ``ParallelEnv`` levels stepped together; before
    every call of ``act`` the runner sets ``rows`` to the ``(level index, agent
    id)`` of each row of the observation batch, in order, so a privileged agent
    can find the hidden state behind each row (``envs[level].unwrapped``).
    """

    envs: list[Any]
    rows: list[tuple[int, str]]
