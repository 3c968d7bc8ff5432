"""Replays say what the colours of a frame mean: the family's legend is drawn beside it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import envs
from benchmark.evaluate.agents import resolve
from benchmark.report.replay import compose, record
from benchmark.score.sweep import target_for

FAMILIES = sorted(envs.FAMILIES)


@pytest.mark.parametrize("family_name", FAMILIES)
def test_a_replay_draws_the_familys_colour_legend(family_name: str) -> None:
    family = envs.get_family(family_name)
    target = target_for(family, family.canonical_shift)
    random = resolve("baselines/random_agent.py:factory")
    recording = record(random, family, target, target.seeds[0], max_steps=3)
    legend = recording.legend
    assert len(legend) >= 5 and len({label for label, _ in legend}) == len(legend)
    assert all(len(rgb) == 3 and all(0 <= c <= 255 for c in rgb) for _, rgb in legend)

    peaks = dict.fromkeys(recording.totals[0], 1.0)
    drawn = np.asarray(compose(recording, 0, peaks))
    bare = np.asarray(compose(replace(recording, legend=[]), 0, peaks))
    assert drawn.shape[0] >= bare.shape[0] and drawn.shape[1] == bare.shape[1]
    for label, rgb in legend:
        # Each entry's swatch (an 11 x 11 square of exactly its colour) is in the panel.
        added = (drawn == rgb).all(-1).sum() - (bare == rgb).all(-1).sum()
        assert added >= 100, label


def test_the_evolution_legend_names_the_colours_the_frame_uses() -> None:
    from envs.evolution import parallel_env

    env = parallel_env(split="candy", render_mode="rgb_array")
    env.reset(seed=1)
    frame = env.render()
    candy = dict(env.render_legend)["candy: sweetest, no nutrition"]
    assert (frame == candy).all(-1).any()  # a candy's centre is exactly its legend colour
