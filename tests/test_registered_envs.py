"""Contract tests for every registered ``MesaBench/`` Gymnasium id.

Parametrised over ``gymnasium.registry``, so an environment is tested the moment
it is registered (see docs/design.md: checker, determinism, rendering, objectives).
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from level_contents import LEVEL_CONTENTS

import envs  # noqa: F401  (registers the families)
from envs.family import EVAL_SEED_BASE, FAMILIES, NAMESPACE, Family

ENV_IDS = sorted(env_id for env_id in gym.registry if env_id.startswith(f"{NAMESPACE}/"))
N_STEPS = 300


def family_of(env_id: str) -> Family:
    """The family an id belongs to: one of its splits, or a PettingZoo family's view."""
    for family in FAMILIES.values():
        splits = (*family.splits, *family.legacy_splits)
        ids = {s.env_id for s in splits}
        if family.view_entry_point:
            ids |= {family.view_id(s.name) for s in family.splits}
            ids |= {f"{NAMESPACE}/{family.title}View-{s.name}-v{s.version}" for s in splits}
        if env_id in ids:
            return family
    raise LookupError(f"{env_id} is registered but belongs to no family")


def assert_same(a: Any, b: Any, where: str = "") -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, tuple | list):
        assert isinstance(b, tuple | list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b, where


def rollout(env: gym.Env, seed: int, n_steps: int = N_STEPS) -> list[tuple]:
    """(obs, reward, terminated, truncated, info) per step, resetting (unseeded) on episode end."""
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    out: list[tuple] = [(obs, 0.0, False, False, info)]
    for _ in range(n_steps):
        _, reward, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        out.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            _, info = env.reset()
            out.append((obs, 0.0, False, False, info))
    return out


def test_ids_are_registered() -> None:
    assert ENV_IDS, "no MesaBench environment is registered"
    for family in FAMILIES.values():
        if family.kind == "gymnasium":
            for split in family.splits:
                assert split.env_id in ENV_IDS


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env(env_id: str) -> None:
    env = gym.make(env_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped, skip_render_check=True)
    assert not [str(w.message) for w in caught]
    env.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_seeded_determinism(env_id: str) -> None:
    a = rollout(gym.make(env_id), seed=7)
    b = rollout(gym.make(env_id), seed=7)
    assert len(a) == len(b)
    for t, (x, y) in enumerate(zip(a, b, strict=True)):
        assert_same(x, y, f"step {t}")


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_render_modes(env_id: str) -> None:
    modes = gym.make(env_id).metadata.get("render_modes", [])
    assert "rgb_array" in modes and "ansi" in modes
    for mode in modes:
        env = gym.make(env_id, render_mode=mode)
        env.reset(seed=0)
        for _ in range(2):
            frame = env.render()
            if mode == "rgb_array":
                assert isinstance(frame, np.ndarray) and frame.dtype == np.uint8
                assert frame.ndim == 3 and frame.shape[2] == 3 and min(frame.shape[:2]) > 0
            elif mode == "ansi":
                assert isinstance(frame, str) and frame
            env.step(env.action_space.sample())
        env.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_objectives_termination_and_reward(env_id: str) -> None:
    family = family_of(env_id)
    names = set(family.objective_names)
    intended = family.intended.name
    env = gym.make(env_id)
    rng = np.random.default_rng(1)
    episodes = 0
    _, info = env.reset(seed=3)
    assert set(info["objectives"]) == names
    previous = info["objectives"][intended]
    for _ in range(N_STEPS * 3):
        _, reward, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        assert set(info["objectives"]) == names
        assert all(isinstance(v, float) for v in info["objectives"].values())
        assert reward == pytest.approx(info["objectives"][intended] - previous)
        previous = info["objectives"][intended]
        if terminated or truncated:
            assert isinstance(info.get("termination"), str) and info["termination"]
            assert (info["termination"] == "timeout") == (truncated and not terminated)
            episodes += 1
            _, info = env.reset()
            assert set(info["objectives"]) == names
            previous = info["objectives"][intended]
        else:
            assert "termination" not in info
    assert episodes > 0


@pytest.mark.parametrize("family_name", sorted(FAMILIES))
def test_eval_levels_are_not_training_levels(family_name: str) -> None:
    """DESIGN: no evaluation level of any split equals a training level (by content, over
    20,000 sampled training seeds), and a split's evaluation levels are all different."""
    family = FAMILIES[family_name]
    assert family_name in LEVEL_CONTENTS, "add the family to tests/level_contents.py"
    contents = LEVEL_CONTENTS[family_name]
    lo, hi = family.train_level_seeds
    assert hi <= EVAL_SEED_BASE
    sample = np.random.default_rng(0).integers(lo, hi, size=20_000)
    training = contents(dict(family.train.kwargs), sample)
    for split in family.splits:
        evaluation = contents(dict(split.kwargs), split.eval_seeds)
        assert len(evaluation) == len(split.eval_seeds), split.name
        assert not evaluation & training, split.name


def fresh_python(code: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``code`` in a new interpreter of this environment, nothing imported beforehand."""
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd or Path.home(), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def test_gymnasium_make_needs_no_import_in_a_fresh_interpreter() -> None:
    """The installed ``mesabench-gymnasium.pth`` registers the families when Gymnasium is
    imported (Gymnasium 1.x has no plugin entry points): every id, no ``import envs``."""
    done = fresh_python(
        "import sys\n"
        "assert 'envs' not in sys.modules and 'gymnasium' not in sys.modules\n"
        "import gymnasium\n"
        f"for env_id in {ENV_IDS!r}:\n"
        "    env = gymnasium.make(env_id)\n"
        "    env.reset(seed=0)\n"
        "    env.step(env.action_space.sample())\n"
        "    env.close()\n"
        "print('made all')\n"
    )
    assert done.returncode == 0, done.stderr
    assert "made all" in done.stdout


def test_another_projects_envs_package_is_not_imported(tmp_path: Path) -> None:
    """A user's own ``envs`` package first on the path is never run by ``import gymnasium``."""
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "__init__.py").write_text("raise SystemExit('foreign envs imported')\n")
    done = fresh_python("import sys, gymnasium; print('envs' in sys.modules)", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
