"""Scores derived from the stored raw episodes, for the leaderboard, ``show`` and ``check``.

Only runs on the environments as the current code defines them (same spec
fingerprint as the registered split now has) are scored together, so results of
different environment versions are never mixed. Each run is normalised by the
reference runs stored for the same fingerprint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np
from sqlalchemy import Engine

import envs
from benchmark import storage
from benchmark.episodes import Episodes
from benchmark.runner import Target, split_target
from benchmark.scoring import Normaliser, Score, ScoringError, normalised_matrices, normalisers
from benchmark.scoring import score as score_strata
from envs.family import UnknownNameError


@dataclass(frozen=True)
class SplitResult:
    """One agent's run on one split, scored."""

    family: str
    split: str
    probes: str
    canonical: bool
    run: storage.RunRecord
    score: Score
    raw_means: dict[str, float]
    terminations: dict[str, int]


@dataclass(frozen=True)
class AgentResult:
    """One agent (name and version) on one family: per split, on train, and on the shifts."""

    name: str
    version: str
    kind: str
    privileged: bool
    family: str
    splits: dict[str, SplitResult]
    train: Score | None
    shifts: Score | None
    canonical: SplitResult | None
    problems: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"


@cache
def current_targets() -> dict[str, Target]:
    """The current fingerprint of every registered split, mapped to its target."""
    targets = {}
    for family in envs.FAMILIES.values():
        for split in family.splits:
            target = split_target(family, split.name)
            targets[target.fingerprint] = target
    return targets


class NotStoredError(LookupError):
    """Nothing stored to work on (no such agent version, no runs); the message says what."""


def stored_agent(engine: Engine, name: str, version: str | None = None) -> storage.SubmissionRecord:
    """The stored (non-reference) submission ``name``, its newest version by default.

    Raises :class:`UnknownNameError` (with the nearest stored name) or :class:`NotStoredError`.
    """
    records = [r for r in storage.list_submissions(engine) if r.kind != "reference"]
    mine = [r for r in records if r.name == name]
    if not mine:
        known = sorted({r.name for r in records})
        if not known:
            raise NotStoredError(f"no stored agent named {name!r}: the database holds no agents")
        raise UnknownNameError("stored agent", name, known)
    if version is None:
        return max(mine, key=lambda r: r.id)
    for record in mine:
        if record.version == version:
            return record
    versions = ", ".join(sorted(r.version for r in mine))
    raise NotStoredError(f"agent {name!r} has no version {version!r} (stored: {versions})")


class Scorer:
    """Loads runs and their references from one database, caching what it loaded."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._normalisers: dict[str, dict[str, Normaliser]] = {}
        self._episodes: dict[int, Episodes] = {}

    def episodes(self, run_id: int) -> Episodes:
        if run_id not in self._episodes:
            self._episodes[run_id] = storage.load_episodes(self.engine, run_id)
        return self._episodes[run_id]

    def normaliser(self, target: Target) -> dict[str, Normaliser]:
        return self.normaliser_for(target.family, target.fingerprint, target.label)

    def normaliser_for(self, family: str, fingerprint: str, label: str) -> dict[str, Normaliser]:
        """Normalisers from the references stored for ``fingerprint`` (raises ScoringError)."""
        if fingerprint not in self._normalisers:
            ids = storage.reference_runs(self.engine, fingerprint)
            references = {name: self.episodes(run_id) for name, run_id in ids.items()}
            objectives = envs.get_family(family).objective_names
            self._normalisers[fingerprint] = normalisers(objectives, references, label)
        return self._normalisers[fingerprint]

    def matrices(self, target: Target, run_id: int) -> dict[str, np.ndarray]:
        return normalised_matrices(self.episodes(run_id), self.normaliser(target))

    def split_result(self, run: storage.RunRecord, target: Target) -> SplitResult:
        family = envs.get_family(target.family)
        split = family.split(target.split)
        episodes = self.episodes(run.run_id)
        names, counts = np.unique(episodes.termination, return_counts=True)
        return SplitResult(
            family=family.name,
            split=split.name,
            probes=split.probes,
            canonical=split.name == family.canonical_shift,
            run=run,
            score=score_strata([self.matrices(target, run.run_id)], family.intended.name),
            raw_means={k: float(np.mean(v)) for k, v in episodes.objectives.items()},
            terminations=dict(zip(names.tolist(), counts.tolist(), strict=True)),
        )

    def agent_results(
        self,
        *,
        family: str | None = None,
        splits: Sequence[str] | None = None,
        name: str | None = None,
        version: str | None = None,
        all_versions: bool = False,
        include_references: bool = False,
    ) -> list[AgentResult]:
        """Scored results per (agent version, family), newest version of each name only
        unless ``all_versions``, ranked by alignment on the shifts (best first)."""
        if family is not None:
            envs.get_family(family)  # an unknown name raises with a suggestion
        targets = current_targets()
        runs = [
            r
            for r in storage.latest_runs(self.engine, family=family, name=name)
            if r.fingerprint in targets
            and (include_references or r.kind != "reference")
            and (version is None or r.version == version)
            and (not splits or r.split in splits)
        ]
        if not all_versions and version is None:
            newest: dict[str, int] = {}
            for r in runs:
                newest[r.name] = max(newest.get(r.name, 0), r.submission_id)
            runs = [r for r in runs if r.submission_id == newest[r.name]]
        groups: dict[tuple[str, str, str], list[storage.RunRecord]] = {}
        for r in runs:
            groups.setdefault((r.name, r.version, r.family), []).append(r)
        results = [self._agent_result(group, targets) for group in groups.values()]
        return sorted(results, key=_rank_key)

    def _agent_result(
        self, runs: list[storage.RunRecord], targets: dict[str, Target]
    ) -> AgentResult:
        first = runs[0]
        family = envs.get_family(first.family)
        per_split: dict[str, SplitResult] = {}
        problems = []
        for run in runs:
            try:
                per_split[run.split] = self.split_result(run, targets[run.fingerprint])
            except ScoringError as error:
                problems.append(str(error))
        order = [s.name for s in family.splits]
        per_split = dict(sorted(per_split.items(), key=lambda kv: order.index(kv[0])))
        intended = family.intended.name

        def aggregate(names: list[str]) -> Score | None:
            chosen = [per_split[n] for n in names if n in per_split]
            if not chosen:
                return None
            strata = [self.matrices(targets[r.run.fingerprint], r.run.run_id) for r in chosen]
            return score_strata(strata, intended)

        return AgentResult(
            name=first.name,
            version=first.version,
            kind=first.kind,
            privileged=any(r.privileged for r in runs),
            family=family.name,
            splits=per_split,
            train=aggregate(["train"]),
            shifts=aggregate([s.name for s in family.shifts]),
            canonical=per_split.get(family.canonical_shift),
            problems=problems,
        )


def _rank_key(result: AgentResult) -> tuple:
    shifted = result.shifts.alignment.point if result.shifts else -np.inf
    return (result.family, -shifted, result.name)
