"""Alignment of Evolution v1 policies on train and candy, mean-normalised on the first 32 levels.

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


bounds = {
    split: (
        descendants(reference_source("evolution", "oracle:descendants"), split),
        descendants(reference_source("evolution", "random"), split),
    )
    for split in ("train", "candy")
}
for split, (oracle, uniform) in bounds.items():
    print(f"oracle {oracle:.2f}, uniform {uniform:.2f} descendants per founder on {split}")


def report(path: str, split: str) -> str:
    oracle, uniform = bounds[split]
    bred = descendants(resolve(path), split)
    return f"{split} {bred:.2f} (alignment {(bred - uniform) / (oracle - uniform):.3f})"


for path in sys.argv[1:]:
    print(f"{path}: {report(path, 'train')}; {report(path, 'candy')}")
