"""Contract tests for every PettingZoo family (``kind="pettingzoo"``) and each of its splits.

Parametrised over :data:`envs.FAMILIES`, so a multi-agent family is tested the
moment it is registered. What a family must provide (docs/design.md and
:mod:`envs.family`):

- a module-level ``parallel_env(split=..., render_mode=None)`` in the family's
  package (``envs.<family>``), as PettingZoo's own environments have, through
  which every test here makes its environments; ``Env(render_mode=None,
  **split.kwargs)`` from ``family.entry_point``; metadata
  with ``name``, ``render_modes`` (``rgb_array`` and ``ansi``), ``is_parallelizable``
  and ``render_fps``; PettingZoo's ``parallel_api_test`` and ``parallel_seed_test``
  pass without warnings;
- every possible agent has the same observation space and the same ``Discrete``
  action space (one batched policy acts for all of them);
- ``infos[a]["objectives"]`` at reset and every step holds every objective's
  episode-so-far total (a float), the same for every agent and equal to
  ``env.unwrapped.episode_objectives``; an agent's final info holds a
  ``"termination"`` string; ``env.unwrapped.episode_termination`` is ``None``
  until ``agents`` is empty, then a string;
- rewards: the step's rewards sum to the increment of the objective named by the
  env's ``reward_objective`` attribute (the intended objective if it has none),
  and on ``train`` that objective's total equals the intended objective's (the
  reward is the intended objective as measured in training);
- ``reset(seed=s)`` is deterministic.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import numpy as np
import pytest
from gymnasium.spaces import Discrete
from pettingzoo.test import parallel_api_test, parallel_seed_test

import envs  # noqa: F401  (registers the families)
from envs.family import FAMILIES, Family, UnknownNameError

CASES = [
    pytest.param(family.name, split.name, id=f"{family.name}-{split.name}")
    for family in FAMILIES.values()
    if family.kind == "pettingzoo"
    for split in family.splits
]


def make(family_name: str, split_name: str, render_mode: str | None = None) -> Any:
    """The split's env through the constructor a user calls: ``envs.<family>.parallel_env``."""
    package = importlib.import_module(f"envs.{family_name}")
    return package.parallel_env(split=split_name, render_mode=render_mode)


@pytest.mark.parametrize(("family_name", "split_name"), CASES)
def test_parallel_env_builds_the_split_as_registered(family_name: str, split_name: str) -> None:
    env = make(family_name, split_name)
    split = FAMILIES[family_name].split(split_name)
    assert type(env).__module__ + ":" + type(env).__name__ == FAMILIES[family_name].entry_point
    assert env.config == {**env.config, **split.kwargs}


@pytest.mark.parametrize("family_name", sorted({case.values[0] for case in CASES}))
def test_parallel_env_names_the_valid_splits_on_a_bad_one(family_name: str) -> None:
    family = FAMILIES[family_name]
    with pytest.raises(UnknownNameError) as raised:
        make(family_name, "trian")
    message = str(raised.value)
    assert "Did you mean 'train'" in message
    assert all(s.name in message for s in family.splits)


def test_a_gymnasium_family_points_to_gymnasium_make() -> None:
    with pytest.raises(TypeError, match=r'gymnasium.make\("MesaBench/KeysChests-train-v2"\)'):
        FAMILIES["keys_chests"].parallel_env("train")


def random_episode(
    env: Any, family: Family, split: str, seed: int
) -> list[tuple[dict, dict, dict, dict]]:
    """Play one seeded episode with random actions, checking the contract on every step."""
    rng = np.random.default_rng(seed)
    names = set(family.objective_names)
    inner = env.unwrapped
    reward_objective = getattr(inner, "reward_objective", family.intended.name)
    obs, infos = env.reset(seed=seed)
    assert set(env.agents) <= set(obs) and set(env.agents) <= set(infos)
    for info in infos.values():
        assert set(info["objectives"]) == names
    assert inner.episode_termination is None
    previous = dict(inner.episode_objectives)
    trace = []
    for _ in range(100_000):
        if not env.agents:
            break
        actions = {a: int(rng.integers(env.action_space(a).n)) for a in env.agents}
        obs, rewards, terminations, truncations, infos = env.step(actions)
        totals = inner.episode_objectives
        assert set(totals) == names and all(isinstance(v, float) for v in totals.values())
        for a, info in infos.items():
            assert info["objectives"] == totals, a
            assert obs[a] in env.observation_space(a)
            if terminations[a] or truncations[a]:
                assert isinstance(info.get("termination"), str) and info["termination"]
            else:
                assert "termination" not in info
        assert sum(rewards.values()) == pytest.approx(
            totals[reward_objective] - previous[reward_objective], abs=1e-9
        )
        if split == "train":
            assert totals[reward_objective] == pytest.approx(totals[family.intended.name])
        if env.agents:
            assert inner.episode_termination is None
        previous = dict(totals)
        trace.append((obs, rewards, terminations, infos))
    assert not env.agents, "the episode did not end"
    assert isinstance(inner.episode_termination, str) and inner.episode_termination
    return trace


@pytest.mark.parametrize(("family_name", "split_name"), CASES)
def test_metadata_and_shared_spaces(family_name: str, split_name: str) -> None:
    env = make(family_name, split_name)
    meta = env.metadata
    assert meta["name"] and meta["is_parallelizable"] and meta["render_fps"] > 0
    assert {"rgb_array", "ansi"} <= set(meta["render_modes"])
    agents = env.possible_agents
    assert agents
    first_obs, first_act = env.observation_space(agents[0]), env.action_space(agents[0])
    assert isinstance(first_act, Discrete)
    for agent in agents:
        assert env.observation_space(agent) == first_obs
        assert env.action_space(agent) == first_act


#: PettingZoo's API test warns when ``agents`` is empty while some of
#: ``possible_agents`` never ended. In a family with births that is by design:
#: ``possible_agents`` lists every id that *can* be born, and ids are never
#: revived (which the same test forbids), so the unborn never end.
UNBORN_WARNING = "No agents present but not all possible_agents are terminated or truncated"


@pytest.mark.parametrize(("family_name", "split_name"), CASES)
def test_parallel_api(family_name: str, split_name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=UNBORN_WARNING)
        parallel_api_test(make(family_name, split_name), num_cycles=200)


@pytest.mark.parametrize(("family_name", "split_name"), CASES)
def test_parallel_seed(family_name: str, split_name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_seed_test(lambda: make(family_name, split_name), num_cycles=200)


@pytest.mark.parametrize(("family_name", "split_name"), CASES)
def test_render_modes(family_name: str, split_name: str) -> None:
    for mode in make(family_name, split_name).metadata["render_modes"]:
        env = make(family_name, split_name, render_mode=mode)
        env.reset(seed=0)
        for _ in range(3):
            frame = env.render()
            if mode == "rgb_array":
                assert isinstance(frame, np.ndarray) and frame.dtype == np.uint8
                assert frame.ndim == 3 and frame.shape[2] == 3 and min(frame.shape[:2]) > 0
            else:
                assert isinstance(frame, str) and frame
            if env.agents:
                env.step({a: env.action_space(a).sample() for a in env.agents})
        env.close()


@pytest.mark.parametrize(("family_name", "split_name"), CASES)
def test_objectives_rewards_and_termination(family_name: str, split_name: str) -> None:
    family = FAMILIES[family_name]
    env = make(family_name, split_name)
    for seed in (3, 4):
        random_episode(env, family, split_name, seed)


@pytest.mark.parametrize(("family_name", "split_name"), CASES)
def test_seeded_episodes_are_deterministic(family_name: str, split_name: str) -> None:
    family = FAMILIES[family_name]
    a = random_episode(make(family_name, split_name), family, split_name, 11)
    b = random_episode(make(family_name, split_name), family, split_name, 11)
    assert len(a) == len(b)
    for (oa, ra, ta, ia), (ob, rb, tb, ib) in zip(a, b, strict=True):
        assert oa.keys() == ob.keys() and ra == rb and ta == tb and ia == ib
        for agent in oa:
            np.testing.assert_array_equal(oa[agent], ob[agent])
