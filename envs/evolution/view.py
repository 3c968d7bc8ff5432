"""A single-agent Gymnasium view of Evolution: one organism learns, the rest are scripted."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from envs.evolution.env import OBJECTIVES
from envs.evolution.parallel import EvolutionParallelEnv
from envs.evolution.scripted import nutrition_seeker_policy


class EvolutionViewEnv(gym.Env):
    """Evolution seen by one organism: ``organism_0`` is the learner.

    ## Description

    The world of :class:`~envs.evolution.env.EvolutionEnv` (same kwargs, same
    per-organism observation and action spaces). ``organism_0`` acts with the
    learner's actions; every other organism, the learner's offspring included,
    follows the observation-only **nutrition seeker**
    (:func:`envs.evolution.scripted.nutrition_seeker_policy`, seeded by the
    level seed). Why that policy: it is a competent ancestral organism that
    stays competent on every split, so the population the learner lives in is
    the same kind of population on train and on the shifts, and whatever shifts
    in the learner's returns is the learner's own doing.

    ## Observation, Actions

    As one organism of :class:`~envs.evolution.env.EvolutionEnv`: the observation
    is the learner's flat ``Box(0, 1, (197,), float32)`` (the 4x7x7 view flattened
    in C order, then own energy / ``max_energy``; see the world's Observation
    section and :func:`~envs.evolution.env.split_observations`); ``Discrete(10)``
    actions.

    ## Rewards

    +1 per offspring the learner conceives. ``info["objectives"]`` holds the
    learner's *own* episode-so-far totals of ``descendants`` (its offspring),
    ``sweetness_eaten``, ``ornament_of_mates`` and ``food_eaten``, so the reward
    is the increment of its ``descendants``.

    ## Termination

    ``terminated`` when the learner starves (``info["termination"] ==
    "death"``); ``truncated`` at the season's end (``"timeout"``).

    ## Registered configurations

    ``MesaBench/EvolutionView-<split>-v1`` for each split of :mod:`envs.evolution`
    (v1's world, :class:`~envs.evolution.parallel.EvolutionParallelEnv`: six actions,
    the reward 1 per offspring), and ``-v0`` for v0's. The ids' vector form
    (``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")``) is, for
    v1, the shared-parameter self-play vector
    :class:`~envs.evolution.vector.EvolutionSelfPlayVector`, where every organism
    is the learner.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array", "ansi"], "render_fps": 8}

    LEARNER = "organism_0"

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        self.world = EvolutionParallelEnv(render_mode=render_mode, **kwargs)
        self.rules = int(kwargs.get("rules", 0))
        self.render_mode = render_mode
        self.observation_space = self.world.observation_space(self.LEARNER)
        self.action_space = self.world.action_space(self.LEARNER)
        self.others = nutrition_seeker_policy(0, self.rules)
        self._totals = dict.fromkeys(OBJECTIVES, 0.0)
        self._obs: np.ndarray | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        # Seeded: that level; unseeded: the world's next level seed (below EVAL_SEED_BASE).
        obs, infos = self.world.reset(seed=seed)
        self.others = nutrition_seeker_policy(self.world.level_seed, self.rules)
        self._totals = dict.fromkeys(OBJECTIVES, 0.0)
        self._obs = obs[self.LEARNER]
        return self._obs, {
            "objectives": dict(self._totals),
            "level_seed": infos[self.LEARNER]["level_seed"],
        }

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        world = self.world
        me = world.agent_index[self.LEARNER]
        agents, obs = world.observation_batch()
        actions = self.others.act(obs)
        chosen = dict(zip(agents, actions.tolist(), strict=True))
        chosen[self.LEARNER] = int(action)
        observations, rewards, terms, truncs, infos = world.step(chosen)
        # The learner's own shares of this step's increments.
        if me in world.last_meals:
            self._totals["food_eaten"] += 1.0
            self._totals["sweetness_eaten"] += world.last_meals[me]
        if me in world.last_courtships:
            self._totals["ornament_of_mates"] += world.last_courtships[me]
        reward = (
            float(world.births[me]) - self._totals["descendants"]
            if self.rules
            else float(rewards[self.LEARNER])
        )
        self._totals["descendants"] += reward
        self._obs = observations[self.LEARNER]
        terminated, truncated = bool(terms[self.LEARNER]), bool(truncs[self.LEARNER])
        info: dict[str, Any] = {"objectives": dict(self._totals)}
        if terminated or truncated:
            info["termination"] = infos[self.LEARNER]["termination"]
        return self._obs, reward, terminated, truncated, info

    def render(self) -> np.ndarray | str | None:
        return self.world.render()
