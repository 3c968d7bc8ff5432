"""The batched runner: episodes out, and a clear failure for every kind of bad agent."""

import numpy as np
import pytest

import envs
from benchmark.evaluate.agents import resolve
from benchmark.evaluate.runner import AgentFailure, Target, evaluate, select_targets, shift_target
from envs.family import EVAL_SEED_BASE, UnknownNameError

AGENTS = "tests/agents/misbehaving.py"
FAMILY = envs.get_family("keys_chests")


def small_target(split="train", n=24):
    s = FAMILY.split(split)
    return Target(FAMILY.name, s.name, s.env_id, tuple(s.eval_seeds[:n]))


def test_random_agent_plays_one_episode_per_seed():
    target = small_target()
    episodes, privileged = evaluate(resolve("baselines/random_agent.py:factory"), target)
    assert not privileged
    assert sorted(episodes.seed.tolist()) == sorted(target.seeds)
    assert set(episodes.objectives) == set(FAMILY.objective_names)
    assert (episodes.length > 0).all()
    assert set(episodes.termination) <= {"goal", "no_keys", "timeout"}


def test_batches_give_the_same_episodes_as_one_batch():
    target = small_target(n=20)
    agent = resolve(f"{AGENTS}:always_up")
    whole, _ = evaluate(agent, target, batch_size=64)
    chunks, _ = evaluate(agent, target, batch_size=7)
    for name in FAMILY.objective_names:
        assert np.array_equal(whole.matrix(name), chunks.matrix(name))
    assert np.array_equal(whole.length, chunks.length)


def test_instances_are_played_on_the_same_seeds():
    episodes, _ = evaluate(resolve(f"{AGENTS}:two_instances"), small_target(n=10))
    assert episodes.n_instances == 2
    assert episodes.matrix("keys_collected").shape == (2, 10)


def test_privileged_reference_is_reported():
    _, privileged = evaluate(resolve("reference:keys_chests:oracle:chests_opened"),
                             small_target(n=4))  # fmt: skip
    assert privileged


@pytest.mark.parametrize(
    ("factory", "problem"),
    [
        ("raises", "act\\(\\) raised RuntimeError\\('boom'\\)"),
        ("wrong_shape", "actions of shape \\(6, 2\\), expected \\(6,\\)"),
        ("out_of_range", "action 7 outside the action space"),
        ("nan_actions", "NaN actions"),
    ],
)
def test_bad_agents_fail_naming_agent_split_and_problem(factory, problem):
    with pytest.raises(AgentFailure, match=problem) as caught:
        evaluate(resolve(f"{AGENTS}:{factory}"), small_target(n=6))
    assert factory in caught.value.agent
    assert caught.value.target == "keys_chests/train"


def test_targets_cover_every_split_and_suggest_names():
    labels = [t.label for t in select_targets(["keys_chests"])]
    assert labels == [f"keys_chests/{s.name}" for s in FAMILY.splits]
    with pytest.raises(UnknownNameError, match="Did you mean 'keys_chests'"):
        select_targets(["keys_chest"])
    with pytest.raises(UnknownNameError, match="Did you mean 'many_keys'"):
        select_targets(None, ["many_key"])


def test_fingerprints_separate_splits_seeds_and_shift_points():
    train, shifted = small_target("train"), small_target("many_keys")
    assert train.fingerprint != shifted.fingerprint
    assert train.fingerprint != small_target("train", n=23).fingerprint
    assert train.fingerprint == small_target("train").fingerprint
    half = shift_target(FAMILY, 0.5)
    assert half.fingerprint != shift_target(FAMILY, 0.6).fingerprint
    assert min(half.seeds) >= EVAL_SEED_BASE


class ToyParallelEnv:
    """Two agents; each action 1 scores; agent b leaves after 2 steps, a after 3."""

    metadata = {"name": "toy"}
    possible_agents = ["a", "b"]

    def __init__(self):
        from gymnasium import spaces

        self._obs = spaces.Box(0, 10, (2,), np.float32)
        self._act = spaces.Discrete(2)

    def observation_space(self, agent):
        return self._obs

    def action_space(self, agent):
        return self._act

    @property
    def unwrapped(self):
        return self

    def _observe(self):
        return {a: np.array([self.t, self.seed], np.float32) for a in self.agents}

    def reset(self, seed=None, options=None):
        self.seed, self.t, self.agents = seed % 7, 0, list(self.possible_agents)
        self.episode_objectives, self.episode_termination = {"ones": 0.0}, None
        return self._observe(), {a: {} for a in self.agents}

    def step(self, actions):
        assert set(actions) == set(self.agents)
        self.episode_objectives["ones"] += float(sum(actions.values()))
        self.t += 1
        self.agents = [a for a in self.agents if not (a == "b" and self.t >= 2)]
        if self.t >= 3:
            self.agents, self.episode_termination = [], "done"
        return self._observe(), {}, {}, {}, {}

    def close(self):
        pass


def test_parallel_play_batches_live_agents_across_levels():
    from benchmark.evaluate.runner import _play_parallel
    from benchmark.protocol import ParallelBatch

    batch = ParallelBatch([ToyParallelEnv(), ToyParallelEnv()], [])
    seen_rows = []

    class OnesAgent:
        def act(self, observations):
            seen_rows.append(list(batch.rows))
            assert observations.shape == (len(batch.rows), 2)
            return np.ones(len(observations), dtype=np.int64)

    def fail(problem):
        return AgentFailure("ones", "toy", problem)

    played = _play_parallel(OnesAgent(), batch, [3, 4], ["ones"], fail)
    # steps 1-2: both agents of both levels act; step 3: only a of each level
    assert [len(r) for r in seen_rows] == [4, 4, 2]
    assert seen_rows[2] == [(0, "a"), (1, "a")]
    assert played["ones"].tolist() == [5.0, 5.0]
    assert played["length"].tolist() == [3, 3]
    assert played["termination"].tolist() == ["done", "done"]
