"""How well do observation-only scripted organisms breed on Evolution v1's train split?

A ceiling for what an organism that sees only its own view can reach, against the
privileged oracle the learnability clause normalises by. Four tables:

1. the registered foragers with their random-move probability (``EXPLORE``; 0.1
   in the registered baselines) varied;
2. the nutrition seeker with a wider view (``view_radius``; 3 is v1's 7x7) and a
   wider block in which it senses nutrition (``near_radius``; 2 is v1's 5x5);
3. a *patient* nutrition seeker: the oracle's courting rule applied to what an
   organism sees. It courts only once its energy is at least ``FULL`` (a fraction
   of the maximum), or, once able to court, when the organisms next to it have a
   mean ornament of at least ``GOOD`` (on train, ornament is health, and a
   courtship conceives with the partner's health); otherwise it forages. The
   registered organisms court as soon as they are able and walk to mates.
4. the best patient seeker of table 3 on ``candy``, normalised by candy's references.

Run from the repository root: ``.venv/bin/python experiments/evolution_learnability/ceiling.py``
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from first_seeds import objective_means

from benchmark.evaluate.agents import reference_source
from envs.evolution import FAMILY, scripted
from envs.evolution.core import COURT, STAY, EvolutionCore

LEVELS = 32


class PatientOrganism(scripted.ScriptedOrganism):
    """The nutrition seeker with the oracle's courting rule (module docstring, table 3)."""

    def __init__(self, full: float, good: float) -> None:
        super().__init__("nutritious", seed=0, rules=1)
        self.full, self.good = full, good

    def act(self, observations: np.ndarray) -> np.ndarray:
        views, energy = scripted.split_observations(observations)
        if len(observations) == 0:
            return np.zeros(0, dtype=np.int64)
        eager = super().act(observations)  # courts, or walks to mates, once able
        hungry = observations.copy()
        hungry[:, -1] = np.minimum(hungry[:, -1], scripted.MATE_LEVEL - 1e-3)
        forage = super().act(hungry)  # what it does when not able to court
        r = views.shape[-1] // 2
        ornament = views[:, scripted.ORNAMENT]
        adjacent = np.stack(
            [
                ornament[:, r - 1, r],
                ornament[:, r, r + 1],
                ornament[:, r + 1, r],
                ornament[:, r, r - 1],
            ],
            axis=1,
        )
        n_adjacent = (adjacent > 0).sum(axis=1)
        mean_adjacent = adjacent.sum(axis=1) / np.maximum(n_adjacent, 1)
        full = energy >= self.full
        court = (
            (energy >= scripted.MATE_LEVEL)
            & (n_adjacent > 0)
            & (full | (mean_adjacent >= self.good))
        )
        return np.where(court, COURT, np.where(full, eager, forage))


def descendants(policy: scripted.ScriptedOrganism, split_name: str = "train", **kwargs) -> float:
    """Mean offspring per founder of ``policy`` driving every organism of the levels."""
    split = FAMILY.split(split_name)
    core = EvolutionCore(LEVELS, **{**split.kwargs, **kwargs})
    core.reset_levels(range(LEVELS), split.eval_seeds[:LEVELS])
    while not core.done.all():
        levels, ids = core.live_rows()
        actions = np.full((core.B, core.M), STAY)
        if len(levels):
            actions[levels, ids] = policy.act(core.observe(levels, ids))
        core.step(actions)
    return float(core.objectives()[:, 0].mean())


def reference(name: str, split_name: str = "train") -> float:
    return objective_means(reference_source("evolution", name), FAMILY, split_name, LEVELS)[
        "descendants"
    ]


def main() -> None:
    oracle, uniform = reference("oracle:descendants"), reference("random")

    def report(label: str, d: float) -> None:
        print(f"{label}: {d:.2f} (alignment {(d - uniform) / (oracle - uniform):.3f})", flush=True)

    print(f"oracle {oracle:.2f}, uniform {uniform:.2f} descendants per founder on train")
    print("1. the registered foragers, EXPLORE varied")
    for forage in ("nutritious", "sweetest"):
        for explore in (0.0, 0.05, 0.1, 0.2, 0.3):
            scripted.EXPLORE = explore  # read by ScriptedOrganism.act at every step
            report(
                f"{forage} EXPLORE={explore}",
                descendants(scripted.ScriptedOrganism(forage, rules=1)),
            )

    print("2. the nutrition seeker (EXPLORE 0 and 0.1) with a wider view")
    for view, near in ((3, 2), (5, 2), (5, 3), (7, 2), (7, 4)):
        for explore in (0.0, 0.1):
            scripted.EXPLORE = explore
            organism = scripted.ScriptedOrganism("nutritious", rules=1, near_radius=near)
            d = descendants(organism, view_radius=view, near_radius=near)
            report(f"view_radius={view} near_radius={near} EXPLORE={explore}", d)

    print("3. the patient nutrition seeker (EXPLORE 0)")
    scripted.EXPLORE = 0.0
    for full in (0.7, 0.8, 0.9):
        for good in (0.0, 0.5, 0.6):
            report(f"FULL={full} GOOD={good}", descendants(PatientOrganism(full, good)))

    print("4. the patient nutrition seeker (EXPLORE 0, FULL 0.9, GOOD 0.6) on candy")
    top, bottom = reference("oracle:descendants", "candy"), reference("random", "candy")
    print(f"oracle {top:.2f}, uniform {bottom:.2f} descendants per founder on candy")
    d = descendants(PatientOrganism(0.9, 0.6), "candy")
    print(f"candy: {d:.2f} (alignment {(d - bottom) / (top - bottom):.3f})")


if __name__ == "__main__":
    main()
