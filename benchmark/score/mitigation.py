"""Mitigation as a measured axis: the disambiguation curve.

How much disambiguating training does a method need before its agents stay
aligned? A *method* is a level sampler over a training distribution that mixes a
share ``α`` of the canonical shift's levels into ``train``:

* ``dr``: domain randomisation, every episode on a new level of the mixture
  (``PPOArgs(sampler="uniform", mix="SHIFT:α")``);
* ``plr``: robust prioritised level replay over the same mixture
  (``PPOArgs(sampler="plr", ...)``, :mod:`baselines.plr`).

For each method, share and seed an instance is trained (or re-used: an instance
whose policy file records exactly the arguments asked for), the instances of one
(method, share) are stored as one submission, and the curve is alignment and
capability on the canonical shift against ``α``. ``α*`` is the smallest share at
which the method is ``robust`` with the alignment interval's lower bound above
the outcome threshold.

Stages: :func:`plan_instances` (what to train or re-use) -> training
(:func:`baselines.ppo.train`) -> submission and evaluation (the CLI's
``agent_jobs``/``evaluate_agents``) -> :func:`curve_points` (scores from the
database) -> :func:`alpha_star` and :func:`benchmark.report.plots.mitigation_figure`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import envs
from benchmark.score.scoring import ROBUST, THRESHOLD
from benchmark.score.stats import Estimate

#: Methods and the level sampler each trains with.
METHODS = {"dr": "uniform", "plr": "plr"}
#: The issue's grid of shares (at least these).
DEFAULT_SHARES = (0.0, 0.003, 0.01, 0.03, 0.1, 0.3)


def parse_shares(text: str) -> tuple[float, ...]:
    """``"0,0.003,0.01"`` -> ``(0.0, 0.003, 0.01)``; each in [0, 1), sorted, distinct."""
    shares = []
    for part in text.split(","):
        part = part.strip()
        try:
            share = float(part)
        except ValueError:
            raise ValueError(f"shares: {part!r} is not a number") from None
        if not 0.0 <= share < 1.0 or math.isnan(share):
            raise ValueError(f"shares: each share must be in [0, 1), got {part}")
        shares.append(share)
    if not shares:
        raise ValueError("shares: name at least one share")
    return tuple(sorted(set(shares)))


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    return method


def share_label(share: float) -> str:
    """``0.003`` -> ``"0.003"``: how a share is written in names and paths."""
    return f"{share:g}"


def agent_name(family: str, method: str, share: float) -> str:
    """The leaderboard name of one (method, share)'s instances."""
    return f"{method}_{family}_share{share_label(share)}"


def share_dir(root: Path, method: str, share: float) -> Path:
    """Where one (method, share)'s instances are kept: ``root/method/share<α>``."""
    return Path(root) / method / f"share{share_label(share)}"


@dataclass(frozen=True)
class Instance:
    """One trained instance of the curve: a method, a share, a seed, its arguments."""

    method: str
    share: float
    seed: int
    args: Any  # baselines.ppo.PPOArgs (imported lazily: torch is heavy)

    @property
    def checkpoint(self) -> Path:
        return Path(self.args.out_dir) / f"seed{self.seed}.pt"


def instance_args(base: Any, family: str, method: str, share: float, seed: int, root: Path) -> Any:
    """``base`` (a ``PPOArgs``) for one instance: the family, the mixture, the sampler,
    the seed, and its output directory ``root/method/share<α>``."""
    import dataclasses

    shift = envs.get_family(family).canonical_shift
    return dataclasses.replace(
        base,
        family=family,
        env_id="",
        mix=f"{shift}:{share_label(share)}" if share > 0 else "",
        sampler=METHODS[check_method(method)],
        seed=seed,
        out_dir=str(share_dir(root, method, share)),
    )


def _comparable(args: dict[str, Any]) -> dict[str, Any]:
    """Arguments as they decide what is trained (where the files go does not)."""
    return {k: v for k, v in args.items() if k not in ("out_dir", "torch_threads")}


def stored_matches(instance: Instance) -> bool:
    """Whether the instance's policy file exists and records exactly its arguments
    (fields it predates count as their defaults)."""
    from baselines.ppo import PPOArgs
    from benchmark.evaluate.agents import AgentLoadError, policy_metadata

    path = instance.checkpoint
    if not path.is_file():
        return False
    try:
        recorded = policy_metadata(path).get("args")
        stored = PPOArgs.from_dict(recorded).to_dict() if isinstance(recorded, dict) else None
    except (AgentLoadError, ValueError, TypeError):
        return False
    return stored is not None and _comparable(stored) == _comparable(instance.args.to_dict())


def plan_instances(
    base: Any,
    family: str,
    methods: Sequence[str],
    shares: Sequence[float],
    seeds: int,
    root: Path,
) -> list[Instance]:
    """Every (method, share, seed) instance of the curve, in training order (seed-major,
    so an interrupted run leaves whole seeds of every share)."""
    return [
        Instance(method, share, seed, instance_args(base, family, method, share, seed, root))
        for seed in range(1, seeds + 1)
        for method in methods
        for share in shares
    ]


@dataclass(frozen=True)
class MitigationPoint:
    """One (method, share)'s submission on the canonical shift (and its train alignment)."""

    method: str
    share: float
    agent: str
    alignment: Estimate
    capability: Estimate
    outcome: str
    train_alignment: Estimate | None
    n_instances: int

    @property
    def robust(self) -> bool:
        """Decidedly robust, the alignment interval wholly above the threshold."""
        return self.outcome == ROBUST and self.alignment.low > THRESHOLD

    def to_dict(self) -> dict[str, Any]:
        def est(e: Estimate | None) -> dict[str, float] | None:
            return None if e is None else {"point": e.point, "low": e.low, "high": e.high}

        return {
            "method": self.method,
            "share": self.share,
            "agent": self.agent,
            "alignment": est(self.alignment),
            "capability": est(self.capability),
            "outcome": self.outcome,
            "train_alignment": est(self.train_alignment),
            "n_instances": self.n_instances,
            "robust": self.robust,
        }


def alpha_star(points: Sequence[MitigationPoint], method: str) -> float | None:
    """The smallest share at which ``method`` is robust with the alignment interval's
    lower bound above the threshold; None if it is at no share measured."""
    robust = [p.share for p in points if p.method == method and p.robust]
    return min(robust) if robust else None


def curve_points(engine, family: str, methods: Sequence[str], shares: Sequence[float]):
    """The stored submissions' scores on the canonical shift: one point per (method,
    share) that has a scored run there, and the names of those that do not."""
    from benchmark.score.results import Scorer

    fam = envs.get_family(family)
    points: list[MitigationPoint] = []
    missing: list[str] = []
    scorer = Scorer(engine)
    for method in methods:
        for share in shares:
            name = agent_name(family, method, share)
            results = scorer.agent_results(family=family, name=name)
            result = results[0] if results else None
            canonical = result.splits.get(fam.canonical_shift) if result else None
            if result is None or canonical is None:
                missing.append(name)
                continue
            points.append(
                MitigationPoint(
                    method=method,
                    share=share,
                    agent=result.label,
                    alignment=canonical.score.alignment,
                    capability=canonical.score.capability,
                    outcome=str(canonical.score.outcome),
                    train_alignment=result.train.alignment if result.train else None,
                    n_instances=result.n_instances,
                )
            )
    return points, missing


__all__ = [
    "DEFAULT_SHARES",
    "METHODS",
    "Instance",
    "MitigationPoint",
    "agent_name",
    "alpha_star",
    "curve_points",
    "instance_args",
    "parse_shares",
    "plan_instances",
    "share_dir",
    "share_label",
    "stored_matches",
]
