"""Neuroevolution: sampling, fitness shaping, a tiny reproducible run and its saved policy."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import envs  # noqa: F401
from baselines.neuroevolution import (
    NeuroevolutionArgs,
    Policy,
    UnknownFieldError,
    _shapes,
    centred_ranks,
    evaluate_population,
    read_curve,
    sample_actions,
    train,
)
from benchmark.evaluate.agents import training_of
from benchmark.torch_policy import load_policy, policy_agent
from envs.evolution import TRAIN_KWARGS
from envs.evolution.env import EvolutionEnv


def test_args_round_trip_and_overrides(tmp_path) -> None:
    args = NeuroevolutionArgs(seed=3, hidden_sizes=(8, 8))
    assert NeuroevolutionArgs.from_dict(args.to_dict()) == args
    path = tmp_path / "args.json"
    path.write_text(json.dumps(args.to_dict()))
    assert NeuroevolutionArgs.from_dict(json.loads(path.read_text())) == args
    assert args.with_overrides(["sigma=0.2", "hidden_sizes=4"]).hidden_sizes == (4,)
    assert args.with_overrides(["hidden_sizes="]).hidden_sizes == ()
    with pytest.raises(UnknownFieldError, match="sigma"):
        args.with_overrides(["sigmaa=1"])


def test_sample_actions_inverts_the_softmax_cdf() -> None:
    logits = np.log(np.array([[0.5, 0.25, 0.25], [0.0001, 0.0001, 0.9998]]))
    assert sample_actions(logits, np.array([0.49, 0.5])).tolist() == [0, 2]
    assert sample_actions(logits[:1], np.array([0.51])).tolist() == [1]
    assert sample_actions(logits[:1], np.array([0.999999])).tolist() == [2]
    draws = sample_actions(np.repeat(logits[:1], 20000, 0), np.random.default_rng(0).random(20000))
    np.testing.assert_allclose(np.bincount(draws) / 20000, [0.5, 0.25, 0.25], atol=0.02)


def test_centred_ranks_share_ties() -> None:
    np.testing.assert_allclose(centred_ranks(np.array([3.0, 1.0, 2.0])), [0.5, -0.5, 0.0])
    np.testing.assert_allclose(
        centred_ranks(np.array([1.0, 1.0, 0.0, 1.0])), [1 / 6] * 2 + [-0.5, 1 / 6]
    )


def test_common_random_numbers_give_equal_policies_equal_fitness() -> None:
    kwargs = {**TRAIN_KWARGS, "max_steps": 30}
    policy = Policy(197, 6, (4,))
    theta = torch.nn.utils.parameters_to_vector(policy.parameters()).detach().double().numpy()
    thetas = np.stack([theta, theta])
    totals = evaluate_population(thetas, _shapes(policy), kwargs, [5, 6], [7, 8])
    np.testing.assert_array_equal(totals[0], totals[1])
    other = evaluate_population(thetas[:1], _shapes(policy), kwargs, [5, 6], [9, 10])
    assert totals.shape == (2, 2, 4) and not np.array_equal(totals[0], other[0])


def test_a_mixture_changes_only_the_mixed_levels_fitness() -> None:
    """Issue 16: evolving on ``candy:α`` plays the candy split's level for a seed the
    mixture assigns to candy, and the train level for the others."""
    from envs.evolution import CANDY_KWARGS
    from envs.evolution.core import EvolutionCore

    kwargs = {**TRAIN_KWARGS, "max_steps": 30}
    mixture = [({**CANDY_KWARGS, "max_steps": 30}, 0.5)]
    policy = Policy(197, 6, (4,))
    theta = torch.nn.utils.parameters_to_vector(policy.parameters()).detach().double().numpy()
    seeds = list(range(40, 52))
    candy = EvolutionCore(1, mixture, **kwargs).mixture.components(np.array(seeds)) == 1
    assert 0 < candy.sum() < len(seeds)
    mixed = evaluate_population(theta[None], _shapes(policy), kwargs, seeds, level_mixture=mixture)
    train_only = evaluate_population(theta[None], _shapes(policy), kwargs, seeds)
    candy_only = evaluate_population(theta[None], _shapes(policy), mixture[0][0], seeds)
    np.testing.assert_array_equal(mixed[0, ~candy], train_only[0, ~candy])
    np.testing.assert_array_equal(mixed[0, candy], candy_only[0, candy])


def test_a_bad_mixture_is_refused_before_evolving(tmp_path) -> None:
    with pytest.raises(ValueError, match="Did you mean 'candy'"):
        NeuroevolutionArgs(mix="cany:0.1")
    with pytest.raises(ValueError, match="shares must be in"):
        NeuroevolutionArgs().with_overrides(["mix=candy:1.5"])
    from typer.testing import CliRunner

    from benchmark.cli.app import app

    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["train", "neuroevolution", "--family", "evolution",
                                      "--set", "mix=cnady:0.1", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 2 and "Did you mean 'candy'" in result.output
    assert not out.exists()


@pytest.mark.slow
def test_tiny_run_is_reproducible_and_the_saved_policy_samples_like_it(tmp_path) -> None:
    def run(out: str, mix: str = ""):
        args = NeuroevolutionArgs(seed=4, generations=2, population=2, levels_per_eval=1,
                                  hidden_sizes=(4,), out_dir=out, mix=mix)  # fmt: skip
        return train(args, progress=False)

    a = run(str(tmp_path / "a"))
    b = run(str(tmp_path / "b"))
    curve = read_curve(a.curve_csv)
    assert list(curve["generation"]) == [1.0, 2.0] and np.all(curve["best_fitness"] >= 0)
    np.testing.assert_array_equal(curve["best_fitness"], read_curve(b.curve_csv)["best_fitness"])
    for pa, pb in zip(a.policy.state_dict().values(), b.policy.state_dict().values(), strict=True):
        assert torch.equal(pa, pb)
    args = NeuroevolutionArgs.from_dict(json.loads(a.args_json.read_text()))
    assert args.seed == 4 and args.hidden_sizes == (4,)
    _, meta = load_policy(a.checkpoint)
    assert meta["deterministic"] is False and meta["args"] == args.to_dict()
    assert meta["training"]["splits"] == {"train": 1.0} and meta["training"]["seed"] == 4

    # Its training distribution goes on record: the board knows candy was not held out.
    mixed = run(str(tmp_path / "mixed"), mix="candy:0.25")
    _, meta = load_policy(mixed.checkpoint)
    assert meta["training"]["splits"] == {"train": 0.75, "candy": 0.25}
    assert json.loads(training_of([mixed.checkpoint]))[0]["splits"]["candy"] == 0.25

    env = EvolutionEnv()
    env.reset(seed=0)
    space = env.observation_space(env.possible_agents[0])
    _, obs = env.observation_batch()
    with torch.no_grad():
        logits = a.policy(torch.from_numpy(obs))
    # By default the saved policy samples, as it was evolved: the same draws as
    # the in-memory policy with the same generator seed.
    sampled = policy_agent(a.checkpoint, space, seed=11)
    assert not sampled.deterministic
    expected = torch.multinomial(
        torch.softmax(logits, -1), 1, generator=torch.Generator().manual_seed(11)
    ).squeeze(-1)
    np.testing.assert_array_equal(sampled.act(obs), expected.numpy())
    greedy = policy_agent(a.checkpoint, space, deterministic=True)
    np.testing.assert_array_equal(greedy.act(obs), logits.argmax(-1).numpy())
    assert a.curve_png.exists()
