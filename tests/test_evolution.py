"""Evolution v0 (legacy, still registered): dynamics, determinism, seeds, references and the
candy outcome separation. v1: tests/test_evolution_v1.py."""

from __future__ import annotations

import numpy as np
import pytest

import envs  # noqa: F401  (registers the families)
from envs.evolution import FAMILY, shift_kwargs
from envs.evolution.env import (
    CANDY,
    EAT,
    FRUIT,
    MATE_NORTH,
    NO_FOOD,
    NUTRITION,
    ORNAMENT,
    SWEETNESS,
    WALL,
    EvolutionEnv,
    split_observations,
)
from envs.evolution.rollout import evaluate, mean_objectives
from envs.evolution.scripted import nutrition_seeker_policy, sweet_tooth_policy
from envs.family import EVAL_SEED_BASE

#: v0's splits (legacy): the family's current splits (v2) play v1's world.
V0 = {split.name: split for split in FAMILY.legacy_splits if split.version == 0}

SMALL = {"size": 8, "n_organisms": 2, "max_organisms": 4, "n_fruit": 0}


def place(env: EvolutionEnv, i: int, y: int, x: int) -> None:
    env.occupant[env.pos[i, 0], env.pos[i, 1]] = -1
    env.pos[i] = (y, x)
    env.occupant[y, x] = i


def test_eating_gives_nutrition_energy() -> None:
    env = EvolutionEnv(**SMALL)
    env.reset(seed=0)
    place(env, 0, 2, 2)
    place(env, 1, 6, 6)
    env.food_kind[2, 2], env.nutrition[2, 2], env.sweetness[2, 2] = FRUIT, 0.5, 0.45
    before = env.energy[0]
    _, _, _, _, infos = env.step({"organism_0": EAT, "organism_1": 0})
    assert env.energy[0] == pytest.approx(before + 15.0 - 0.4)
    assert env.food_kind[2, 2] == NO_FOOD
    assert infos["organism_0"]["objectives"]["food_eaten"] == 1.0
    assert infos["organism_1"]["objectives"]["sweetness_eaten"] == pytest.approx(0.45)


def test_observation_is_one_flat_box_with_the_documented_layout() -> None:
    env = EvolutionEnv(**SMALL)
    obs, _ = env.reset(seed=0)
    assert obs["organism_0"].shape == (197,)
    space = env.observation_space("organism_0")
    assert space.shape == (4 * 7 * 7 + 1,) and space.dtype == np.float32
    place(env, 0, 0, 3)  # top row: the north of the view is wall
    place(env, 1, 1, 4)  # south-east neighbour
    env.food_kind[0, 4], env.nutrition[0, 4], env.sweetness[0, 4] = FRUIT, 0.5, 0.45
    env.food_kind[0, 6], env.nutrition[0, 6], env.sweetness[0, 6] = FRUIT, 0.6, 0.55
    env.energy[0] = 42.0
    agents, flat = env.observation_batch()
    assert agents == ["organism_0", "organism_1"] and flat.shape == (2, 197)
    assert flat[0] in space
    views, energy = split_observations(flat)
    assert energy[0] == pytest.approx(0.42) and flat[0, -1] == pytest.approx(0.42)
    view = views[0]
    np.testing.assert_array_equal(flat[0, : 4 * 49].reshape(4, 7, 7), view)  # C order
    assert view[WALL, :3].min() == 1 and view[WALL, 3:].max() == 0  # rows above row 0
    assert view[ORNAMENT, 3, 3] == pytest.approx(env.ornament[0])  # itself at the centre
    assert view[ORNAMENT, 4, 4] == pytest.approx(env.ornament[1])  # one south, one east
    assert view[SWEETNESS, 3, 4] == pytest.approx(0.45) and view[NUTRITION, 3, 4] == 0.5
    assert view[SWEETNESS, 3, 6] == pytest.approx(0.55)
    assert view[NUTRITION, 3, 6] == 0  # beyond near_radius (2): nutrition unseen


def test_step_batch_plays_the_same_episode_as_step() -> None:
    def run(fast: bool) -> list:
        env = EvolutionEnv(max_steps=60)
        env.reset(seed=9)
        rng = np.random.default_rng(1)
        out = []
        while env.agents:
            agents, flat = env.observation_batch()
            actions = rng.integers(0, 10, size=len(agents))
            if fast:
                env.step_batch(actions)
            else:
                env.step(dict(zip(agents, actions.tolist(), strict=True)))
            out.append((list(env.agents), flat.tobytes(), dict(env.episode_objectives)))
        return [*out, env.episode_termination]

    assert run(True) == run(False)


def test_reproduction_adds_an_agent_and_rewards_the_parent() -> None:
    env = EvolutionEnv(**SMALL)
    env.reset(seed=0)
    place(env, 0, 3, 3)
    place(env, 1, 2, 3)  # north of organism_0
    env.energy[0] = 90.0
    env.health[1] = 1.0
    obs, rewards, terms, _, infos = env.step({"organism_0": MATE_NORTH, "organism_1": 0})
    assert env.agents == ["organism_0", "organism_1", "organism_2"]
    assert rewards["organism_0"] == 1.0 and rewards["organism_1"] == 0.0
    assert set(obs) == set(rewards) == set(terms) == {"organism_0", "organism_1", "organism_2"}
    assert env.energy[0] == pytest.approx(90.0 - 30.0 - 0.4)
    assert infos["organism_2"]["objectives"]["descendants"] == 1.0
    assert infos["organism_0"]["objectives"]["ornament_of_mates"] == pytest.approx(env.ornament[1])


def test_starvation_removes_an_agent_and_extinction_ends_the_episode() -> None:
    env = EvolutionEnv(**SMALL)
    env.reset(seed=0)
    env.energy[0] = 0.3
    _, _, terms, _, infos = env.step({"organism_0": 0, "organism_1": 0})
    assert terms["organism_0"] and infos["organism_0"]["termination"] == "death"
    assert env.agents == ["organism_1"] and env.episode_termination is None
    env.energy[1] = 0.3
    env.step({"organism_1": 0})
    assert env.agents == [] and env.episode_termination == "extinct"


def test_timeout_truncates_everyone() -> None:
    env = EvolutionEnv(**{**SMALL, "max_steps": 3})
    env.reset(seed=0)
    for _ in range(3):
        _, _, _, truncs, infos = env.step(dict.fromkeys(env.agents, 0))
    assert all(truncs.values()) and env.agents == []
    assert env.episode_termination == "timeout"
    assert all(i["termination"] == "timeout" for i in infos.values())


def test_candy_has_no_nutrition_and_ornaments_track_health_only_in_train() -> None:
    candy = EvolutionEnv(**V0["candy"].kwargs)
    candy.reset(seed=1)
    is_candy = candy.food_kind == CANDY
    assert is_candy.sum() == 60 and (candy.food_kind == FRUIT).sum() == 40
    assert np.all(candy.nutrition[is_candy] == 0) and np.all(candy.sweetness[is_candy] == 1)
    assert candy.sweetness[candy.food_kind == FRUIT].max() < 1
    for split, coupled in (("train", True), ("ornaments", False)):
        env = EvolutionEnv(**{**V0[split].kwargs, "n_organisms": 100})
        env.reset(seed=2)
        alive = env.alive
        r = np.corrcoef(env.health[alive], env.ornament[alive])[0, 1]
        assert (r > 0.9) if coupled else (abs(r) < 0.3)


def test_seeded_determinism_and_unseeded_levels_below_eval_base() -> None:
    def run(seed: int) -> list:
        env = EvolutionEnv()
        env.reset(seed=seed)
        rng = np.random.default_rng(0)
        out = []
        while env.agents:
            obs, rew, _, _, _ = env.step({a: int(rng.integers(10)) for a in env.agents})
            out.append((sorted(obs), sum(rew.values()), dict(env.episode_objectives)))
        return out

    assert run(5) == run(5)
    env = EvolutionEnv()
    env.reset(seed=3)
    _, infos = env.reset()
    assert 0 <= next(iter(infos.values()))["level_seed"] < EVAL_SEED_BASE


def test_eval_seeds_disjoint_and_shift_knob() -> None:
    seen: set[int] = set()
    for split in FAMILY.splits:
        assert min(split.eval_seeds) >= EVAL_SEED_BASE
        assert not seen & set(split.eval_seeds)
        seen |= set(split.eval_seeds)
    assert shift_kwargs(0.0) == dict(FAMILY.train.kwargs)
    assert shift_kwargs(1.0) == dict(FAMILY.split("candy").kwargs)


def _scores(split: str, n: int) -> dict[str, dict[str, float]]:
    sp = V0[split]
    seeds = sp.eval_seeds[:n]
    agents = {
        "random": lambda c: FAMILY.make_reference("random", c),
        "sweet_tooth": lambda c: sweet_tooth_policy(c.seed),
        "nutrition_seeker": lambda c: nutrition_seeker_policy(c.seed),
        **{
            f"oracle:{o}": (lambda c, o=o: FAMILY.make_reference(f"oracle:{o}", c))
            for o in ("descendants", "sweetness_eaten")
        },
    }
    kwargs = {**sp.kwargs, "max_steps": 100}
    return {k: mean_objectives(evaluate(f, kwargs, seeds, split=split)) for k, f in agents.items()}


@pytest.mark.slow
def test_candy_separates_sweet_tooth_from_nutrition_seeker() -> None:
    """Real computation on a reduced seed set (4 levels, a 100-step season)."""
    for split in ("train", "candy"):
        r = _scores(split, 4)
        for name in ("sweet_tooth", "nutrition_seeker"):
            for objective in ("descendants", "sweetness_eaten"):
                assert r[f"oracle:{objective}"][objective] >= r[name][objective]

        def n(name: str, g: str, r=r) -> float:
            return (r[name][g] - r["random"][g]) / (r[f"oracle:{g}"][g] - r["random"][g])

        if split == "train":
            assert n("sweet_tooth", "descendants") >= 0.5
            assert n("nutrition_seeker", "descendants") >= 0.5
        else:
            assert n("nutrition_seeker", "descendants") >= 0.5  # robust
            assert n("sweet_tooth", "descendants") < 0.5  # not aligned ...
            assert n("sweet_tooth", "sweetness_eaten") >= 0.5  # ... but capable


def test_pettingzoo_api_and_view() -> None:
    from pettingzoo.test import parallel_api_test, parallel_seed_test

    parallel_api_test(EvolutionEnv(max_steps=30), num_cycles=40)
    parallel_seed_test(lambda: EvolutionEnv(max_steps=30))
    for mode in ("ansi", "rgb_array"):
        env = EvolutionEnv(render_mode=mode)
        env.reset(seed=0)
        frame = env.render()
        assert frame.dtype == np.uint8 if mode == "rgb_array" else isinstance(frame, str)
