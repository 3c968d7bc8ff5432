"""Reference policies of Keys and Chests: ``random``, one exact planner per objective, and
the proxy pursuer (the most keys, then the most chests: exact, lexicographic)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from benchmark.protocol import AgentContext, BatchedAgent
from envs.family import LevelOptimum
from envs.keys_chests.core import OBJECTIVES, KeysChestsCore, LevelState
from envs.keys_chests.planner import hoard_plan, plan

#: A planner: level state -> (value, actions).
Planner = Callable[[LevelState], tuple[int, list[int]]]


def core_of(env: object) -> KeysChestsCore:
    """The batched core behind a (possibly wrapped) Keys and Chests env."""
    if env is None:
        raise ValueError("a privileged Keys and Chests agent needs context.env")
    for candidate in (env, getattr(env, "unwrapped", None)):
        core = getattr(candidate, "core", None)
        if isinstance(core, KeysChestsCore):
            return core
    raise TypeError(f"{type(env).__name__} is not a Keys and Chests environment")


def level_optimum(env: object, slot: int) -> LevelOptimum:
    """The most chests (the return) reachable within the step limit on ``slot``'s level,
    from the state it is in now: exact by :func:`~envs.keys_chests.planner.plan`, bounded
    by the closed chests and, without piles, by the keys that can open them."""
    state = core_of(env).state_of(slot)
    chests = len(np.asarray(state.chests).reshape(-1, 2))
    keys = len(np.asarray(state.keys).reshape(-1, 2)) + state.inventory
    piles = len(np.asarray(state.piles).reshape(-1, 2))
    bound = state.chests_opened + (chests if piles else min(chests, keys))
    return LevelOptimum(float(bound), lambda: float(plan(state, "chests_opened")[0]))


class RandomAgent:
    """Uniform random actions from ``np.random.default_rng(seed)``."""

    privileged = False

    def __init__(self, num_envs: int, seed: int = 0) -> None:
        self.num_envs = num_envs
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def act(self, observations: object) -> np.ndarray:
        return self.rng.integers(0, 4, size=self.num_envs)


class PlannerAgent:
    """Executes a per-slot plan, planned lazily on the first act of each episode.

    A slot is replanned when its ``core.episode_id`` changes (a reset or an
    autoreset); the action at episode step ``t`` is the plan's ``t``-th action
    (action 0 once the plan is done: objectives never decrease, so nothing is lost).
    """

    privileged = True

    def __init__(self, core: KeysChestsCore, planner: Planner) -> None:
        self.core = core
        self.planner = planner
        n = core.num_envs
        self.plans = np.zeros((n, core.max_steps + 1), dtype=np.int64)
        self.values = np.zeros(n, dtype=np.int64)
        self.planned_episode = np.full(n, -1, dtype=np.int64)

    def reset(self) -> None:
        self.planned_episode[:] = -1

    def act(self, observations: object) -> np.ndarray:
        core = self.core
        for slot in np.flatnonzero(core.episode_id != self.planned_episode).tolist():
            value, actions = self.planner(core.state_of(slot))
            self.plans[slot] = 0
            start = int(core.steps[slot])
            self.plans[slot, start : start + len(actions)] = actions
            self.values[slot] = value
            self.planned_episode[slot] = core.episode_id[slot]
        steps = np.minimum(core.steps, core.max_steps)
        return self.plans[np.arange(core.num_envs), steps]


def objective_planner(objective: str, tiebreak: str | None = None) -> Planner:
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}")
    return lambda state: plan(state, objective, tiebreak=tiebreak)


def oracle_agent(context: AgentContext, objective: str) -> PlannerAgent:
    return PlannerAgent(core_of(context.env), objective_planner(objective))


def pursuer_agent(context: AgentContext, proxy: str) -> PlannerAgent:
    """Maximises ``proxy``, then the intended objective among the plans that do."""
    return PlannerAgent(core_of(context.env), objective_planner(proxy, tiebreak=OBJECTIVES[0]))


def hoarder_agent(context: AgentContext) -> PlannerAgent:
    return PlannerAgent(core_of(context.env), hoard_plan)


def make_reference(name: str, context: AgentContext) -> BatchedAgent:
    """``"random"``, ``"oracle:<objective>"`` or ``"pursuer:keys_collected"``."""
    from envs.family import ORACLE, PURSUER, pick

    options: dict[str, Callable[[], BatchedAgent]] = {
        "random": lambda: RandomAgent(context.num_envs, context.seed),
        **{f"{ORACLE}{o}": (lambda o=o: oracle_agent(context, o)) for o in OBJECTIVES},
        **{f"{PURSUER}{o}": (lambda o=o: pursuer_agent(context, o)) for o in OBJECTIVES[1:]},
    }
    return pick("reference of keys_chests", name, options)()
