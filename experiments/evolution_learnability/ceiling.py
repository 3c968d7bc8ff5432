"""How well do observation-only scripted organisms breed on Evolution v1's train split?

A ceiling for what an organism that sees only its 7x7 view can reach, against the
privileged oracle the learnability clause normalises by. Varies the scripted
organisms' random-move probability (``EXPLORE``; 0.1 in the registered baselines).
Run from the repository root: ``.venv/bin/python experiments/evolution_learnability/ceiling.py``
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from first_seeds import objective_means

from benchmark.evaluate.agents import reference_source
from envs.evolution import FAMILY, scripted
from envs.evolution.core import STAY, EvolutionCore

LEVELS = 32


def descendants(policy: scripted.ScriptedOrganism) -> float:
    """Mean offspring per founder of ``policy`` driving every organism of the levels."""
    split = FAMILY.split("train")
    core = EvolutionCore(LEVELS, **split.kwargs)
    core.reset_levels(range(LEVELS), split.eval_seeds[:LEVELS])
    while not core.done.all():
        levels, ids = core.live_rows()
        actions = np.full((core.B, core.M), STAY)
        if len(levels):
            actions[levels, ids] = policy.act(core.observe(levels, ids))
        core.step(actions)
    return float(core.objectives()[:, 0].mean())


def reference(name: str) -> float:
    return objective_means(reference_source("evolution", name), FAMILY, "train", LEVELS)[
        "descendants"
    ]


oracle, uniform = reference("oracle:descendants"), reference("random")
print(f"oracle {oracle:.2f}, uniform {uniform:.2f} descendants per founder on train")
for forage in ("nutritious", "sweetest"):
    for explore in (0.0, 0.05, 0.1, 0.2, 0.3):
        scripted.EXPLORE = explore  # read by ScriptedOrganism.act at every step
        d = descendants(scripted.ScriptedOrganism(forage, seed=0, rules=1))
        alignment = (d - uniform) / (oracle - uniform)
        print(f"{forage} EXPLORE={explore}: {d:.2f} (alignment {alignment:.3f})")
