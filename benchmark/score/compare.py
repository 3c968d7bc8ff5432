"""Comparing two stored agents: probability of improvement and paired differences.

For every split both agents have a current run on, both are normalised by the
same stored references. Then:

* **probability of improvement** P(A > B) of the alignment (the normalised
  intended objective), as rliable defines it, per split, per family (strata =
  the family's shared splits) and overall (strata = every shared split);
* **paired differences** A - B of alignment and of capability on the same seeds
  (a paired stratified bootstrap: the same levels are drawn for both agents in
  every repetition, so level difficulty cancels out). Pairing needs equal
  (instances, seeds) shapes; when the agents have different numbers of
  instances, each agent's instances are first averaged per seed (one row each),
  and the comparison says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Engine

import envs
from benchmark.score import results
from benchmark.score.results import AgentResult, NotStoredError, Scorer, stored_agent
from benchmark.score.scoring import SCORING_SEED, ScoringError
from benchmark.score.stats import (
    DEFAULT_CONFIDENCE,
    DEFAULT_REPS,
    Estimate,
    bootstrap_distribution,
    iqm,
    paired_difference,
    probability_of_improvement,
)
from benchmark.store import storage

Matrices = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Row:
    """A comparison over one split, a family's shared splits, or every shared split."""

    family: str
    split: str  # a split name, "all splits" or "overall"
    n_splits: int
    improvement: Estimate  # P(A > B) of alignment
    alignment: Estimate  # paired difference A - B
    capability: Estimate | None  # paired difference A - B (None across families)
    averaged: bool  # instances averaged per seed before pairing


@dataclass
class Comparison:
    a: str
    b: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        def est(e: Estimate) -> dict[str, float]:
            return {"point": e.point, "low": e.low, "high": e.high}

        return {
            "a": self.a,
            "b": self.b,
            "rows": [
                {
                    "family": r.family,
                    "split": r.split,
                    "n_splits": r.n_splits,
                    "probability_of_improvement": est(r.improvement),
                    "alignment_difference": est(r.alignment),
                    "capability_difference": est(r.capability) if r.capability else None,
                    "instances_averaged_per_seed": r.averaged,
                }
                for r in self.rows
            ],
            "notes": list(self.notes),
        }


def _interval(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)


def paired_capability_difference(
    a: Sequence[Matrices],
    b: Sequence[Matrices],
    *,
    reps: int = DEFAULT_REPS,
    confidence: float = DEFAULT_CONFIDENCE,
    rng: int = SCORING_SEED,
) -> Estimate:
    """capability(A) - capability(B), capability = max over objectives of the IQM.

    Per stratum every objective of both agents has the same shape, and
    :func:`~benchmark.score.stats.bootstrap_distribution` draws indices from the seed and
    the shapes only, so every objective of both agents is resampled with the same
    rows and columns: one joint, paired bootstrap.
    """
    names = list(a[0])
    point_a = max(iqm(np.concatenate([s[n].ravel() for s in a])) for n in names)
    point_b = max(iqm(np.concatenate([s[n].ravel() for s in b])) for n in names)

    def draws(strata: Sequence[Matrices]) -> np.ndarray:
        return np.max(
            [bootstrap_distribution([s[n] for s in strata], iqm, reps, rng) for n in names], axis=0
        )

    low, high = _interval(draws(a) - draws(b), confidence)
    return Estimate(float(point_a - point_b), low, high)


def _pairable(a: Matrices, b: Matrices) -> tuple[Matrices, Matrices, bool]:
    """The two agents' matrices with equal shapes: as they are, or averaged per seed."""
    shape_a, shape_b = next(iter(a.values())).shape, next(iter(b.values())).shape
    if shape_a[1] != shape_b[1]:
        raise ValueError(f"the agents played different seeds ({shape_a[1]} vs {shape_b[1]})")
    if shape_a == shape_b:
        return a, b, False

    def mean(m: Matrices) -> Matrices:
        return {k: v.mean(axis=0, keepdims=True) for k, v in m.items()}

    return mean(a), mean(b), True


def compare_strata(
    family: str, split: str, a: Sequence[Matrices], b: Sequence[Matrices], intended: str
) -> Row:
    """One row from per-split normalised matrices of A and B (same splits, same order)."""
    improvement = probability_of_improvement(
        [m[intended] for m in a], [m[intended] for m in b], rng=SCORING_SEED
    )
    pairs = [_pairable(x, y) for x, y in zip(a, b, strict=True)]
    pa, pb = [p[0] for p in pairs], [p[1] for p in pairs]
    alignment = paired_difference(
        [m[intended] for m in pa], [m[intended] for m in pb], rng=SCORING_SEED
    )
    capability = paired_capability_difference(pa, pb)
    return Row(
        family=family,
        split=split,
        n_splits=len(a),
        improvement=improvement,
        alignment=alignment,
        capability=capability,
        averaged=any(p[2] for p in pairs),
    )


def _results(scorer: Scorer, name: str, version: str | None, family: str | None):
    found = scorer.agent_results(name=name, version=version, family=family)
    return {r.family: r for r in found}


def compare(
    engine: Engine,
    a: str,
    b: str,
    *,
    family: str | None = None,
    a_version: str | None = None,
    b_version: str | None = None,
) -> Comparison:
    """Compare stored agents ``a`` and ``b`` on every split both have a current run on."""
    if family is not None:
        envs.get_family(family)
    record_a = stored_agent(engine, a, a_version)
    record_b = stored_agent(engine, b, b_version)
    scorer = Scorer(engine)
    results_a = _results(scorer, a, record_a.version, family)
    results_b = _results(scorer, b, record_b.version, family)
    comparison = Comparison(record_a.label, record_b.label)
    everything_a: list[Matrices] = []
    everything_b: list[Matrices] = []
    intended_of: list[str] = []
    for name in sorted(set(results_a) & set(results_b)):
        fam = envs.get_family(name)
        ra: AgentResult = results_a[name]
        rb: AgentResult = results_b[name]
        shared = [s.name for s in fam.splits if s.name in ra.splits and s.name in rb.splits]
        strata_a, strata_b = [], []
        for split in shared:
            run_a, run_b = ra.splits[split].run, rb.splits[split].run
            # The leaderboard's current target of that split (its fingerprint's).
            target = results.current_targets().get(run_a.fingerprint)
            if target is None or run_b.fingerprint != run_a.fingerprint:
                comparison.notes.append(f"{fam.name}/{split}: not the same environment, skipped")
                continue
            try:
                ma = scorer.matrices(target, run_a.run_id)
                mb = scorer.matrices(target, run_b.run_id)
            except ScoringError as error:
                comparison.notes.append(f"{fam.name}/{split}: {error}")
                continue
            row = compare_strata(fam.name, split, [ma], [mb], fam.intended.name)
            comparison.rows.append(row)
            if row.averaged:
                comparison.notes.append(
                    f"{fam.name}/{split}: {record_a.label} and {record_b.label} have different "
                    "numbers of instances; each agent's instances were averaged per seed before "
                    "pairing (the probability of improvement uses every episode)"
                )
            strata_a.append(ma)
            strata_b.append(mb)
        if len(strata_a) > 1:
            comparison.rows.append(
                compare_strata(fam.name, "all splits", strata_a, strata_b, fam.intended.name)
            )
        everything_a += strata_a
        everything_b += strata_b
        intended_of += [fam.intended.name] * len(strata_a)
    if not comparison.rows:
        where = f" on {family}" if family else ""
        raise NotStoredError(
            f"{record_a.label} and {record_b.label} share no scored split{where}: "
            "submit both on the same splits first"
        )
    families = {r.family for r in comparison.rows}
    if len(families) > 1:
        comparison.rows.append(_overall(everything_a, everything_b, intended_of))
    return comparison


def _overall(a: list[Matrices], b: list[Matrices], intended: list[str]) -> Row:
    """Every shared split of every family as strata. Alignment is each stratum's intended
    objective; capability (a max over a family's own objectives) has no pooled meaning
    across families with different objectives, so it is left out of this row."""
    align_a = [{"alignment": m[i]} for m, i in zip(a, intended, strict=True)]
    align_b = [{"alignment": m[i]} for m, i in zip(b, intended, strict=True)]
    row = compare_strata("all families", "overall", align_a, align_b, "alignment")
    return Row(
        row.family, row.split, row.n_splits, row.improvement, row.alignment, None, row.averaged
    )


def known_agents(engine: Engine) -> list[str]:
    return sorted({s.name for s in storage.list_submissions(engine) if s.kind != "reference"})
