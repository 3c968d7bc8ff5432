"""Per-episode results: what the runner produces, storage keeps and scoring reads.

Scores are always derived from these raw rows, so any score can be recomputed
later from the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Episodes:
    """A table of episodes, one row per (instance, seed), as parallel arrays.

    Attributes:
        instance: which independently trained instance of the agent played (0-based).
        seed: the evaluation level seed.
        length: steps taken.
        termination: why it ended (``goal``, ``timeout``, ...; see the family).
        objectives: every objective's episode total, by objective name.
    """

    instance: np.ndarray
    seed: np.ndarray
    length: np.ndarray
    termination: np.ndarray
    objectives: Mapping[str, np.ndarray]

    def __post_init__(self) -> None:
        n = len(self.seed)
        columns = {
            "instance": self.instance,
            "length": self.length,
            "termination": self.termination,
        }
        columns |= {f"objectives[{k}]": v for k, v in self.objectives.items()}
        for name, column in columns.items():
            if len(column) != n:
                raise ValueError(f"Episodes column {name} has {len(column)} rows, seed has {n}")

    def __len__(self) -> int:
        return len(self.seed)

    @property
    def n_instances(self) -> int:
        return int(self.instance.max()) + 1 if len(self) else 0

    def matrix(self, objective: str) -> np.ndarray:
        """Returns of ``objective`` as an (instances, seeds) matrix, seeds sorted ascending.

        Every instance must have played the same seeds (as the runner guarantees).
        """
        seeds = np.unique(self.seed)
        out = np.full((self.n_instances, len(seeds)), np.nan)
        out[self.instance, np.searchsorted(seeds, self.seed)] = self.objectives[objective]
        if np.isnan(out).any():
            raise ValueError("instances did not all play the same seeds")
        return out

    @staticmethod
    def concat(parts: list[Episodes]) -> Episodes:
        if not parts:
            raise ValueError("nothing to concatenate")
        names = list(parts[0].objectives)
        return Episodes(
            instance=np.concatenate([p.instance for p in parts]),
            seed=np.concatenate([p.seed for p in parts]),
            length=np.concatenate([p.length for p in parts]),
            termination=np.concatenate([p.termination for p in parts]),
            objectives={k: np.concatenate([p.objectives[k] for p in parts]) for k in names},
        )
