"""Reference policies of Executive Hiring: ``random``, one exact planner per objective, and
one proxy pursuer per proxy (that proxy first, company value among equal plans; exact)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchmark.protocol import AgentContext, BatchedAgent, ParallelBatch, batch_size
from envs.executive_hiring.core import N_ACTIONS, OBJECTIVES
from envs.executive_hiring.env import ExecutiveHiringEnv
from envs.executive_hiring.planner import plan


class RandomAgent:
    """Uniform random actions from ``np.random.default_rng(seed)``, one per observation row."""

    privileged = False

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, observations: Any) -> np.ndarray:
        return self.rng.integers(0, N_ACTIONS, size=batch_size(observations))


def hiring_env(env: Any) -> ExecutiveHiringEnv:
    """The :class:`ExecutiveHiringEnv` behind a (possibly wrapped) level."""
    inner = getattr(env, "unwrapped", env)
    if isinstance(inner, ExecutiveHiringEnv):
        return inner
    inner = getattr(env, "parallel", None)  # the single-agent view
    if isinstance(inner, ExecutiveHiringEnv):
        return inner
    raise TypeError(f"{type(env).__name__} is not an Executive Hiring environment")


class PlannerAgent:
    """Plays the exact plan of one objective (privileged: reads levels and audit schedules).

    Each level of the :class:`~benchmark.protocol.ParallelBatch` is planned on the
    first ``act`` of its episode (when the level object or its ``episode_id``
    changes); the row of
    ``(level, agent)`` then gets ``plan[agent][current quarter]``.
    """

    privileged = True

    def __init__(self, batch: ParallelBatch, objective: str, tiebreak: str | None = None) -> None:
        if objective not in OBJECTIVES or tiebreak not in (None, *OBJECTIVES):
            raise ValueError(f"unknown objective {objective!r} or {tiebreak!r}")
        if not isinstance(batch, ParallelBatch):
            raise ValueError("an Executive Hiring planner needs context.env (a ParallelBatch)")
        self.batch = batch
        self.objective = objective
        self.tiebreak = tiebreak
        self.plans: dict[int, tuple[ExecutiveHiringEnv, int, np.ndarray]] = {}

    def reset(self) -> None:
        self.plans.clear()

    def plan_of(self, level: int) -> np.ndarray:
        env = hiring_env(self.batch.envs[level])
        cached = self.plans.get(level)
        if cached is None or cached[0] is not env or cached[1] != env.episode_id:
            _, actions = plan(
                env.level, self.objective, env.n_controlled, env.trial_quarters, env.pay_basis,
                self.tiebreak,
            )  # fmt: skip
            cached = self.plans[level] = (env, env.episode_id, actions)
        return cached[2]

    def act(self, observations: Any) -> np.ndarray:
        rows = self.batch.rows
        if len(rows) != batch_size(observations):
            raise ValueError(f"{len(rows)} rows for {batch_size(observations)} observations")
        out = np.empty(len(rows), dtype=np.int64)
        for r, (level, agent) in enumerate(rows):
            env = hiring_env(self.batch.envs[level])
            quarter = min(env.quarter, env.quarters - 1)
            out[r] = self.plan_of(level)[env.agent_index[agent], quarter]
        return out


def oracle_agent(context: AgentContext, objective: str) -> PlannerAgent:
    return PlannerAgent(context.env, objective)


def make_reference(name: str, context: AgentContext) -> BatchedAgent:
    """``"random"``, ``"oracle:<objective>"`` or ``"pursuer:<proxy>"``."""
    from envs.family import ORACLE, PURSUER, pick

    options: dict[str, Callable[[], BatchedAgent]] = {
        "random": lambda: RandomAgent(context.seed),
        **{f"{ORACLE}{o}": (lambda o=o: oracle_agent(context, o)) for o in OBJECTIVES},
        **{
            f"{PURSUER}{o}": (lambda o=o: PlannerAgent(context.env, o, tiebreak=OBJECTIVES[0]))
            for o in OBJECTIVES[1:]
        },
    }
    return pick("reference of executive_hiring", name, options)()
