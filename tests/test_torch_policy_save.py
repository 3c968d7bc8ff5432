"""Saving a trained torch policy: the observation layout it records, the check of how its
training code flattened observations, and the explicit choice of greedy or sampled actions."""

from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

import envs  # noqa: F401  (registers the families)
from benchmark.torch_policy import (
    flat_dim,
    flatten_batch,
    load_policy,
    observation_layout,
    policy_agent,
    save_policy,
)

NESTED = spaces.Tuple(
    (spaces.Discrete(3), spaces.Dict(a=spaces.Box(0, 1, (2, 2)), b=spaces.MultiDiscrete([2, 3])))
)


def part_of(observation, key: str):
    for step in key.split("/"):
        observation = observation[int(step) if isinstance(observation, tuple) else step]
    return observation


def sub_space(space: gym.Space, key: str) -> gym.Space:
    for step in key.split("/"):
        space = space[int(step) if isinstance(space, spaces.Tuple) else step]
    return space


@pytest.mark.parametrize(
    "space",
    [NESTED, gym.make("MesaBench/KeysChests-train-v1").observation_space],
    ids=["nested", "keys_chests"],
)
def test_the_layout_says_where_each_part_lies_in_the_flat_vector(space: gym.Space) -> None:
    space.seed(0)
    observation = space.sample()
    flat = spaces.flatten(space, observation)
    layout = observation_layout(space)
    assert layout[0]["start"] == 0 and layout[-1]["stop"] == flat_dim(space) == len(flat)
    for before, after in itertools.pairwise(layout):
        assert before["stop"] == after["start"]
    for part in layout:
        expected = spaces.flatten(sub_space(space, part["key"]), part_of(observation, part["key"]))
        np.testing.assert_array_equal(flat[part["start"] : part["stop"]], expected)


def keys_chests_batch():
    env = gym.make_vec("MesaBench/KeysChests-train-v1", num_envs=4,
                       vectorization_mode="vector_entry_point")  # fmt: skip
    observations, _ = env.reset(seed=0)
    return env.single_observation_space, env.single_action_space, observations


def save_keys_chests(module: torch.nn.Module, path, **options):
    space, action_space, _ = keys_chests_batch()
    return save_policy(
        module, path, observation_space=space, action_space=action_space, family="keys_chests",
        **options,
    )  # fmt: skip


def test_save_policy_refuses_observations_flattened_in_another_order(tmp_path) -> None:
    space, action_space, observations = keys_chests_batch()
    # The observation dicts come view first; the space (and the benchmark) put inventory first.
    assert list(observations) == ["view", "inventory"]
    as_the_dict_orders = np.concatenate(
        [np.asarray(v).reshape(4, -1).astype(np.float32) for v in observations.values()], axis=1
    )
    module = torch.nn.Linear(flat_dim(space), int(action_space.n))
    with pytest.raises(ValueError, match=r"inventory \[0:1\], view \[1:244\].*flatten_batch"):
        save_keys_chests(module, tmp_path / "p.pt", example=(observations, as_the_dict_orders))
    assert not (tmp_path / "p.pt").exists()
    right = torch.from_numpy(flatten_batch(space, observations))
    path = save_keys_chests(module, tmp_path / "p.pt", example=(observations, right))
    _, meta = load_policy(path)
    assert meta["observation_layout"] == observation_layout(space)
    assert meta["deterministic"] is True


def test_sampling_is_chosen_explicitly_when_saving(tmp_path) -> None:
    space, action_space, observations = keys_chests_batch()
    module = torch.nn.Linear(flat_dim(space), int(action_space.n))
    torch.nn.init.zeros_(module.weight)
    torch.nn.init.zeros_(module.bias)  # uniform logits: greedy always picks action 0
    greedy = save_keys_chests(module, tmp_path / "greedy.pt")
    sampled = save_keys_chests(module, tmp_path / "sampled.pt", deterministic=False)
    assert load_policy(sampled)[1]["deterministic"] is False
    many = {key: np.repeat(value, 64, axis=0) for key, value in observations.items()}
    assert set(policy_agent(greedy, space).act(many).tolist()) == {0}
    assert len(set(policy_agent(sampled, space).act(many).tolist())) > 1
