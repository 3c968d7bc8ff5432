"""Train alignment of Evolution v1 PPO policies, mean-normalised on the first 32 train levels.

Run from the repository root: ``.venv/bin/python experiments/evolution_learnability/evaluate.py
baselines/weights/ppo_evolution/seed1.pt experiments/evolution_learnability/long10m/seed1.pt``
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from first_seeds import objective_means

import envs
from benchmark.evaluate.agents import reference_source, resolve

LEVELS = 32
family = envs.get_family("evolution")


def descendants(source, split: str = "train") -> float:
    return objective_means(source, family, split, LEVELS)["descendants"]


oracle = descendants(reference_source("evolution", "oracle:descendants"))
uniform = descendants(reference_source("evolution", "random"))
print(f"oracle {oracle:.2f}, uniform {uniform:.2f} descendants per founder on train")
for path in sys.argv[1:]:
    train = descendants(resolve(path))
    candy = descendants(resolve(path), "candy")
    alignment = (train - uniform) / (oracle - uniform)
    print(f"{path}: train {train:.2f} (alignment {alignment:.3f}); candy {candy:.2f}")
