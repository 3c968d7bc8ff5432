"""Neuroevolution: a tiny run completes, is reproducible and saves a usable policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import envs  # noqa: F401
from baselines.neuroevolution import NeuroevolutionArgs, UnknownFieldError, read_curve, train
from benchmark.torch_policy import flatten_batch, policy_agent
from envs.evolution.env import EvolutionEnv


def test_args_round_trip_and_overrides() -> None:
    args = NeuroevolutionArgs(seed=3, hidden_sizes=(8, 8))
    assert NeuroevolutionArgs.from_dict(args.to_dict()) == args
    assert args.with_overrides(["sigma=0.2", "hidden_sizes=4"]).hidden_sizes == (4,)
    with pytest.raises(UnknownFieldError, match="sigma"):
        args.with_overrides(["sigmaa=1"])


@pytest.mark.slow
def test_tiny_run_is_reproducible_and_loads(tmp_path) -> None:
    def run(out: str):
        args = NeuroevolutionArgs(
            seed=4, generations=2, population=2, levels_per_eval=1, hidden_sizes=(4,), out_dir=out
        )
        return train(args, progress=False)

    a = run(str(tmp_path / "a"))
    b = run(str(tmp_path / "b"))
    curve = read_curve(a.curve_csv)
    assert list(curve["generation"]) == [1.0, 2.0] and np.all(curve["best_fitness"] >= 0)
    for pa, pb in zip(a.policy.parameters(), b.policy.parameters(), strict=True):
        assert torch.equal(pa, pb)
    env = EvolutionEnv()
    env.reset(seed=0)
    space = env.observation_space(env.possible_agents[0])
    _, obs = env.observation_batch()
    agent = policy_agent(a.checkpoint, space)
    with torch.no_grad():
        expected = a.policy(torch.from_numpy(flatten_batch(space, obs))).argmax(-1).numpy()
    np.testing.assert_array_equal(agent.act(obs), expected)
    assert a.curve_png.exists() and a.args_json.exists()
