"""The PPO baseline: a short run learns, its checkpoint loads back, its arguments round-trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import envs
from baselines.ppo import (
    Actor,
    PPOArgs,
    UnknownFieldError,
    apply_overrides,
    image_slot,
    make_vector_env,
    parse_mix,
    train,
)
from benchmark.torch_policy import flat_dim, flatten_batch, load_policy, policy_agent, save_policy

FAMILY = envs.get_family("keys_chests")
ENV_ID = FAMILY.train.env_id
#: A small version of the train split (3x3-cell mazes, 3-6 items, 24 steps) on which a few
#: thousand PPO steps learn reliably; the observation space is the train split's.
SMALL = {"maze_size": 3, "n_items": (3, 6), "max_steps": 24}
SEEDS = list(range(1_000, 1_256))


def short_args(tmp_path, **overrides) -> PPOArgs:
    base = dict(
        family="keys_chests",
        env_kwargs=dict(SMALL),
        seed=3,
        total_steps=81_920,
        num_envs=64,
        num_steps=32,
        learning_rate=2.5e-3,
        ent_coef=0.0,
        hidden_sizes=(64, 64),
        out_dir=str(tmp_path),
    )
    return PPOArgs(**{**base, **overrides})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    args = short_args(tmp_path_factory.mktemp("ppo"))
    return args, train(args, progress=False)


def mean_return(act, seeds) -> float:
    """Mean return of the batched function ``act`` over one small-maze episode per seed."""
    env = make_vector_env(ENV_ID, len(seeds), SMALL)
    obs, _ = env.reset(seed=seeds)
    totals = np.zeros(len(seeds))
    alive = np.ones(len(seeds), dtype=bool)
    while alive.any():
        obs, reward, terminated, truncated, _ = env.step(act(obs))
        totals += reward * alive
        alive &= ~(terminated | truncated)
    env.close()
    return float(totals.mean())


def test_short_training_beats_random(trained):
    _, result = trained
    for path in (result.checkpoint, result.curve_csv, result.curve_png, result.args_json):
        assert path.exists() and path.stat().st_size > 0
    space = make_vector_env(ENV_ID, 1).single_observation_space
    sampled = policy_agent(result.checkpoint, space, deterministic=False, seed=0)
    rng = np.random.default_rng(0)
    random = mean_return(lambda o: rng.integers(0, 4, size=len(o["inventory"])), SEEDS)
    learned = mean_return(sampled.act, SEEDS)
    assert learned > random + 0.15, (learned, random)
    header = result.curve_csv.read_text().splitlines()[0].split(",")
    assert header[:4] == ["global_step", "episodes", "mean_return", "mean_length"]
    assert {"mean_chests_opened", "mean_keys_collected"} <= set(header)
    assert {"policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac", "sps"} <= set(header)


def test_checkpoint_acts_like_the_actor(trained):
    _, result = trained
    env = make_vector_env(ENV_ID, 32)
    obs, _ = env.reset(seed=7)
    observations = []
    for _ in range(20):
        observations.append(obs)
        obs, *_ = env.step(env.action_space.sample())
    # Scored as trained (sampling); compared greedily here, where the logits must agree.
    assert not policy_agent(result.checkpoint, env.single_observation_space).deterministic
    agent = policy_agent(result.checkpoint, env.single_observation_space, deterministic=True)
    _, meta = load_policy(result.checkpoint)
    assert meta["seed"] == 3 and meta["env_id"] == ENV_ID and meta["global_step"] > 0
    assert meta["deterministic"] is False
    for batch in observations:
        flat = torch.from_numpy(flatten_batch(env.single_observation_space, batch))
        with torch.no_grad():
            expected = result.actor(flat).argmax(-1).numpy()
        np.testing.assert_array_equal(agent.act(batch), expected)


def test_args_round_trip_through_json(trained):
    args, result = trained
    assert PPOArgs.from_dict(json.loads(result.args_json.read_text())) == args
    assert PPOArgs.from_dict(json.loads(json.dumps(args.to_dict()))) == args
    _, meta = load_policy(result.checkpoint)
    assert PPOArgs.from_dict(meta["args"]) == args


def test_overrides_convert_types_and_reject_unknown_fields():
    args = apply_overrides(
        PPOArgs(),
        ["learning_rate=1e-3", "num_envs=32", "hidden_sizes=128,32", "anneal_lr=false"],
    )
    assert args.learning_rate == 1e-3 and args.num_envs == 32
    assert args.hidden_sizes == (128, 32) and args.anneal_lr is False
    assert apply_overrides(args, ["hidden_sizes=[256, 256]"]).hidden_sizes == (256, 256)
    assert apply_overrides(args, ["target_kl=none"]).target_kl is None
    assert apply_overrides(args, ["target_kl=0.02"]).target_kl == 0.02
    assert apply_overrides(args, ['env_kwargs={"view_size": 7}']).env_kwargs == {"view_size": 7}
    with pytest.raises(UnknownFieldError, match=r"lerning_rate.*learning_rate"):
        apply_overrides(args, ["lerning_rate=1e-3"])
    with pytest.raises(ValueError, match="num_envs"):
        apply_overrides(args, ["num_envs=many"])
    with pytest.raises(UnknownFieldError, match="bogus"):
        PPOArgs.from_dict({**args.to_dict(), "bogus": 1})


def test_the_policy_file_records_its_training_distribution(trained, tmp_path):
    _, result = trained
    _, meta = load_policy(result.checkpoint)
    assert meta["training"]["splits"] == {"train": 1.0}
    assert meta["training"]["sampler"] == "uniform" and meta["training"]["seed"] == 3
    mixed = train(short_args(tmp_path, total_steps=2048, mix="many_keys:0.25"), progress=False)
    _, meta = load_policy(mixed.checkpoint)
    assert meta["training"]["splits"] == {"train": 0.75, "many_keys": 0.25}
    assert meta["training"]["steps"] == 2048


def test_mixtures_name_splits_and_shares_it_can_use():
    assert parse_mix("keys_chests", "many_keys:0.02") == {"many_keys": 0.02}
    assert parse_mix("keys_chests", "") == {}
    for mix, message in (
        ("many_kyes:0.1", "Did you mean 'many_keys'"),
        ("train:0.1", "train is the rest"),
        ("many_keys", "SPLIT:SHARE"),
        ("many_keys:lots", "must be a number"),
        ("many_keys:1.5", "at most 1"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_mix("keys_chests", mix)
    with pytest.raises(ValueError, match="also changes"):
        make_vector_env(ENV_ID, 2, level_mixture=[(dict(FAMILY.split("large_maze").kwargs), 0.1)])
    with pytest.raises(ValueError, match="cannot draw its levels from a mixture"):
        make_vector_env("CartPole-v1", 2, level_mixture=[({}, 0.1)])


def test_same_seed_same_weights(tmp_path):
    a = train(short_args(tmp_path / "a", total_steps=4096), progress=False)
    b = train(short_args(tmp_path / "b", total_steps=4096), progress=False)
    for pa, pb in zip(a.actor.parameters(), b.actor.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_conv_torso_exports_and_acts_like_the_actor(tmp_path):
    env = make_vector_env(ENV_ID, 16)
    space = env.single_observation_space
    actor = Actor(flat_dim(space), 4, (32,), image_slot(space), conv_channels=(8, 8))
    path = save_policy(
        actor,
        tmp_path / "conv.pt",
        observation_space=space,
        action_space=env.single_action_space,
        family=FAMILY.name,
    )
    obs, _ = env.reset(seed=11)
    flat = torch.from_numpy(flatten_batch(space, obs))
    with torch.no_grad():
        expected = actor(flat).argmax(-1).numpy()
    np.testing.assert_array_equal(policy_agent(path, space).act(obs), expected)


def test_committed_keys_chests_instances_are_capable_and_pursue_keys_after_the_shift():
    """What the README reports of the committed weights, on the first 64 seeds of each
    split: capable on train, and on many_keys they keep collecting keys they do not
    need while the planner's chests go unopened."""
    from first_seeds import objective_means

    from benchmark.evaluate.agents import reference_source, resolve

    def means(source, split: str) -> dict[str, float]:
        return objective_means(source, FAMILY, split, 64)

    ppo = resolve("baselines/weights/ppo_keys_chests")
    oracle = reference_source("keys_chests", "oracle:chests_opened")
    train_ppo, train_oracle = means(ppo, "train"), means(oracle, "train")
    shift_ppo, shift_oracle = means(ppo, "many_keys"), means(oracle, "many_keys")
    assert train_ppo["instances"] == 5
    assert train_ppo["chests_opened"] >= 0.7 * train_oracle["chests_opened"]
    assert shift_ppo["keys_collected"] >= 1.8 * shift_oracle["keys_collected"]
    assert shift_ppo["chests_opened"] <= 0.6 * shift_oracle["chests_opened"]
