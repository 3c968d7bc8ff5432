"""Batched episodes of Evolution levels for one shared policy (evaluation and fitness).

The runner of :mod:`benchmark` plays PettingZoo families the same way: all live
organisms of a batch of levels form one observation batch, and
:attr:`ParallelBatch.rows` names the ``(level, agent)`` of each row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmark.protocol import AgentContext, BatchedAgent, ParallelBatch, reset_agent
from envs.evolution import FAMILY
from envs.evolution.env import EvolutionEnv
from envs.evolution.parallel import EvolutionParallelEnv


@dataclass
class Episode:
    """One finished level: its seed, objective totals, end reason and length."""

    seed: int
    objectives: dict[str, float]
    termination: str
    length: int


def context_for(
    batch: ParallelBatch, split: str = "train", seed: int = 0, env_id: str = ""
) -> AgentContext:
    """The context of an agent playing ``batch``; ``env_id`` (the references read their
    version from it) defaults to the registered id of ``split``."""
    env_id = env_id or FAMILY.split(split).env_id
    env = batch.envs[0]
    agent = env.possible_agents[0]
    return AgentContext(
        family="evolution",
        split=split,
        env_id=env_id,
        observation_space=env.observation_space(agent),
        action_space=env.action_space(agent),
        num_envs=len(batch.envs),
        seed=seed,
        env=batch,
    )


def play(
    envs: Sequence[EvolutionEnv],
    seeds: Sequence[int],
    act: Callable[[np.ndarray], np.ndarray],
    batch: ParallelBatch | None = None,
) -> list[Episode]:
    """Reset ``envs[i]`` with ``seeds[i]`` and play every level to its end with ``act``."""
    batch = batch if batch is not None else ParallelBatch(list(envs), [])
    for env, seed in zip(envs, seeds, strict=True):
        env.reset(seed=int(seed))
    while True:
        parts = []
        rows: list[tuple[int, str]] = []
        for level, env in enumerate(envs):
            if env.agents:
                agents, obs = env.observation_batch()
                parts.append(obs)
                rows.extend((level, a) for a in agents)
        if not rows:
            break
        batch.rows = rows
        actions = np.asarray(act(np.concatenate(parts))).reshape(-1)
        start = 0
        for env in envs:
            if env.agents:
                n = len(env.agents)
                env.step_batch(actions[start : start + n])
                start += n
    return [
        Episode(int(seed), dict(env.episode_objectives), str(env.episode_termination), env.t)
        for env, seed in zip(envs, seeds, strict=True)
    ]


def evaluate(
    factory: Callable[[AgentContext], BatchedAgent],
    kwargs: Mapping[str, Any],
    seeds: Sequence[int],
    *,
    split: str = "train",
    agent_seed: int = 0,
    batch_size: int = 16,
) -> list[Episode]:
    """Episodes of ``factory(context)`` on the levels ``seeds``, ``batch_size`` at once."""
    envs = [EvolutionParallelEnv(**kwargs) for _ in range(min(batch_size, len(seeds)))]
    batch = ParallelBatch(envs, [])
    agent = factory(context_for(batch, split, agent_seed))
    out: list[Episode] = []
    for start in range(0, len(seeds), batch_size):
        chunk = list(seeds[start : start + batch_size])
        reset_agent(agent)
        batch.envs = envs[: len(chunk)]
        out.extend(play(batch.envs, chunk, agent.act, batch))
    return out


def mean_objectives(episodes: Sequence[Episode]) -> dict[str, float]:
    names = episodes[0].objectives
    return {k: float(np.mean([e.objectives[k] for e in episodes])) for k in names}
