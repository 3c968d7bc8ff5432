"""Robust PLR (baselines/plr.py) on hand-made buffers, and the trainer using it."""

import json

import numpy as np
import pytest

from baselines.plr import LevelBuffer, PLRSampler, PLRSettings, positive_value_loss


def filled(scores, last_visit, temperature=0.3, staleness_coef=0.3) -> LevelBuffer:
    buffer = LevelBuffer(len(scores), temperature, staleness_coef)
    for seed, (score, when) in enumerate(zip(scores, last_visit, strict=True)):
        assert buffer.observe(100 + seed, score, when)
    return buffer


def test_replay_probabilities_follow_rank_and_staleness():
    scores, visits = [0.5, 2.0, 1.0], [0, 4, 8]
    buffer = filled(scores, visits, temperature=0.5, staleness_coef=0.25)
    # ranks by score: 2.0 -> 1, 1.0 -> 2, 0.5 -> 3; h = (1 / rank) ** (1 / 0.5)
    h = np.array([1 / 9, 1.0, 1 / 4])
    staleness = np.array([10 - 0, 10 - 4, 10 - 8], dtype=float)
    expected = 0.75 * h / h.sum() + 0.25 * staleness / staleness.sum()
    np.testing.assert_allclose(buffer.replay_probs(now=10), expected)
    assert buffer.replay_probs(10).sum() == pytest.approx(1.0)


def test_a_colder_temperature_replays_the_top_level_more():
    scores, visits = [3.0, 2.0, 1.0], [0, 0, 0]
    warm = filled(scores, visits, temperature=1.0, staleness_coef=0.0).replay_probs(5)
    cold = filled(scores, visits, temperature=0.1, staleness_coef=0.0).replay_probs(5)
    assert cold[0] > warm[0] and cold[0] > 0.99
    assert list(np.argsort(-warm)) == [0, 1, 2]


def test_staleness_alone_prefers_the_level_least_recently_sampled():
    buffer = filled([1.0, 1.0, 1.0], [9, 1, 5], staleness_coef=1.0)
    probs = buffer.replay_probs(now=10)
    np.testing.assert_allclose(probs, np.array([1, 9, 5]) / 15)


def test_sampling_marks_the_level_visited_and_follows_the_distribution():
    buffer = filled([5.0, 1.0], [0, 0], temperature=1.0, staleness_coef=0.0)
    rng = np.random.default_rng(0)
    draws = [buffer.sample(rng, now=t) for t in range(1, 4001)]
    # rank 1 -> 1, rank 2 -> 1/2: the first level two thirds of the time
    assert np.mean(np.array(draws) == 0) == pytest.approx(2 / 3, abs=0.03)
    assert buffer.last_visit.max() == 4000


def test_a_full_buffer_replaces_its_lowest_score_only_with_a_higher_one():
    buffer = filled([1.0, 3.0], [0, 0])
    assert buffer.full and buffer.min_score == 1.0
    assert not buffer.observe(500, 0.5, now=1)  # lower than every entry: not admitted
    assert 500 not in buffer and 100 in buffer
    assert buffer.observe(501, 2.0, now=2, optimum=4.0)  # replaces seed 100 (score 1.0)
    assert 100 not in buffer and 501 in buffer
    assert buffer.optimum_of(501) == 4.0 and np.isnan(buffer.optimum_of(100))
    assert buffer.observe(101, 0.1, now=3)  # a level in the buffer takes its newest score
    assert buffer.min_score == 0.1 and len(buffer) == 2


def test_the_sampler_replays_only_once_the_buffer_is_full_enough():
    settings = PLRSettings(buffer_size=4, replay_prob=1.0, min_fill=0.5)
    sampler = PLRSampler(settings, (10, 20), np.random.default_rng(1))
    first = sampler.next_level()
    assert not first[1] and 10 <= first[0] < 20  # empty buffer: a new level
    sampler.record(first[0], 1.0)
    assert not sampler.next_level()[1]  # 1 of 4 < min_fill
    sampler.record(15, 2.0)
    seed, replayed = sampler.next_level()
    assert replayed and seed in (first[0], 15)
    never = PLRSampler(
        PLRSettings(buffer_size=1, replay_prob=0.0), (0, 5), np.random.default_rng(2)
    )
    never.record(3, 9.0)
    assert not any(never.next_level()[1] for _ in range(50))


def test_positive_value_loss_averages_the_positive_advantages():
    assert positive_value_loss(np.array([1.0, -2.0, 3.0, 0.0])) == pytest.approx(1.0)
    assert positive_value_loss(np.array([])) == 0.0


@pytest.mark.parametrize(
    "field, value",
    [("buffer_size", 0), ("replay_prob", 1.5), ("temperature", 0.0), ("score", "regert")],
)
def test_bad_settings_are_refused_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        PLRSettings(**{field: value})


@pytest.mark.parametrize("score", ["regret", "pvl"])
def test_ppo_with_plr_trains_and_records_its_sampler(tmp_path, score):
    from baselines.ppo import PPOArgs, read_curve, train
    from benchmark.evaluate.agents import policy_metadata

    args = PPOArgs(
        family="keys_chests", seed=3, total_steps=4096, num_envs=16, num_steps=64,
        mix="many_keys:0.5", sampler="plr", plr_buffer_size=16, plr_score=score,
        out_dir=str(tmp_path),
    )  # fmt: skip
    result = train(args, progress=False)
    training = policy_metadata(result.checkpoint)["training"]
    assert training["sampler"] == "plr"
    assert training["sampler_args"]["score"] == score
    assert training["sampler_args"]["buffer_size"] == 16
    assert training["splits"] == {"train": 0.5, "many_keys": 0.5}
    curve = read_curve(result.curve_csv)
    assert curve["plr_buffer_fill"][-1] == 1.0  # 4096 steps end far more than 16 episodes
    assert 0.0 < curve["plr_replayed"][-1] < 1.0
    # The buffer holds both components' levels: a level's component follows its seed.
    assert 0.0 <= curve["plr_mixed_share"][-1] <= 1.0
    assert json.loads(result.args_json.read_text())["sampler"] == "plr"


def test_plr_refuses_what_it_cannot_do_and_the_sampler_is_a_known_name():
    from baselines.ppo import PPOArgs, train

    with pytest.raises(ValueError, match="sampler must be one of"):
        PPOArgs(family="keys_chests", sampler="prioritised")
    args = PPOArgs(family="evolution", sampler="plr", plr_score="regret", total_steps=192,
                   num_envs=192, num_steps=1)  # fmt: skip
    with pytest.raises(ValueError, match="no level_optimum"):
        train(args, progress=False)
    # A vector env that cannot reset one slot alone would silently reset them all.
    args = PPOArgs(family="keys_chests", env_id="CartPole-v1", sampler="plr", total_steps=64,
                   num_envs=2, num_steps=32)  # fmt: skip
    with pytest.raises(ValueError, match="resets single slots"):
        train(args, progress=False)


def test_positive_value_loss_spans_rollouts_and_is_scored_per_episode():
    from baselines.ppo import PPOArgs, _PLRLevels, _resolve, make_vector_env

    args = PPOArgs(family="keys_chests", sampler="plr", plr_score="pvl", plr_buffer_size=8,
                   num_envs=2)  # fmt: skip
    target = _resolve(args)
    plr = _PLRLevels(args, target, make_vector_env(target.env_id, 2))
    plr.start_all()
    first, second = int(plr.seeds[0]), int(plr.seeds[1])
    valid = np.ones((4, 2))
    # Rollout 1: slot 0's episode ends at step 1; slot 1's runs on.
    plr.ended(1, np.array([0]), np.zeros(2))
    plr.rollout_done(np.array([[1.0, -1.0], [3.0, 2.0], [-5.0, 4.0], [2.0, 0.0]]), valid)
    assert plr.sampler.buffer.scores[plr.sampler.buffer._index[first]] == pytest.approx(2.0)
    # Rollout 2: slot 1's episode (4 steps before, 1 now) ends at step 0.
    plr.ended(0, np.array([1]), np.zeros(2))
    plr.rollout_done(np.array([[0.0, 6.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]), valid)
    assert plr.sampler.buffer.scores[plr.sampler.buffer._index[second]] == pytest.approx(12 / 5)


@pytest.mark.parametrize("split", ["train", "many_keys"])
def test_the_regret_bound_never_falls_below_the_exact_optimum(split):
    import gymnasium as gym

    import envs

    family = envs.get_family("keys_chests")
    env = gym.make_vec(family.split(split).env_id, num_envs=24,
                       vectorization_mode="vector_entry_point")  # fmt: skip
    env.reset(seed=777)
    for slot in range(24):
        level = family.level_optimum(env, slot)
        assert level.bound >= level.solve() >= 0
