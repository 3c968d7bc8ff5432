"""Training on a mixture of distributions, decided level by level.

A :class:`LevelMixture` says which distribution each level of a batched
environment comes from: a share of levels from each component (a split's kwargs),
the rest from the environment's own kwargs. A level's component is a
deterministic function of its level seed (a salted hash of its own), so a level
seed always gives the same level, and the levels drawn from a component are
exactly that component's levels for the same seeds.

Only the kwargs an environment declares *mixable* may differ between the
components: those that change what a level holds, never the observation or the
episode's shape, so one batch can hold levels of every component.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from envs.hashing import level_uniforms


class LevelMixture:
    """Per level seed: its component (0: the env's own kwargs) and the mixable kwargs'
    values for it.

    ``base``: the env's kwargs; ``components``: ``[(kwargs, share), ...]``;
    ``mixable``: the kwarg names that may differ; ``defaults``: their values where
    a kwargs dict leaves them out; ``salt``: the family's salt of the assigning hash.
    """

    def __init__(
        self,
        base: Mapping[str, Any],
        components: Sequence[tuple[Mapping[str, Any], float]],
        *,
        mixable: Sequence[str],
        defaults: Mapping[str, Any],
        salt: int,
    ) -> None:
        shares = [float(share) for _, share in components]
        if any(not 0.0 < share <= 1.0 for share in shares) or sum(shares) > 1.0 + 1e-9:
            raise ValueError(f"mixture shares must be in (0, 1] and sum to at most 1, got {shares}")
        for kwargs, _ in components:
            fixed = sorted(
                k for k in set(base) | set(kwargs)
                if k not in mixable and kwargs.get(k) != base.get(k)
            )  # fmt: skip
            if fixed:
                raise ValueError(
                    f"a level mixture can vary only {', '.join(mixable)} from level to "
                    f"level; this component also changes {', '.join(fixed)}"
                )
        self.bounds = np.cumsum(shares)
        self.salt = int(salt)
        params = [base, *(kwargs for kwargs, _ in components)]
        self.values = {
            name: np.array([p.get(name, defaults[name]) for p in params]) for name in mixable
        }

    def components(self, level_seeds: np.ndarray) -> np.ndarray:
        """Per level: 0 for the env's own distribution, ``i`` for the ``i``-th component."""
        seeds = np.asarray(level_seeds, dtype=np.int64) ^ np.int64(self.salt)
        u = level_uniforms(seeds, 1)
        below = np.searchsorted(self.bounds, u[:, 0], side="right")  # bounds <= u
        return np.where(below < len(self.bounds), below + 1, 0)

    def params(self, level_seeds: np.ndarray) -> dict[str, np.ndarray]:
        """Per level: the value of each mixable kwarg."""
        component = self.components(level_seeds)
        return {name: values[component] for name, values in self.values.items()}


__all__ = ["LevelMixture"]
