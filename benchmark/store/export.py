"""Exporting every stored run and its scores as JSON or CSV, for papers and for review.

The output is stable: runs are ordered by (family, split, env_id, agent name,
version, run id), JSON keys are sorted, and nothing depends on when the export
was made, so two exports of the same database are byte-identical and an export
diffs cleanly against the previous one.

Each run carries its agent (name, version, kind, checksum, privileged), its
environment (family, split, env_id, env version, spec fingerprint, seeds digest),
its size, the code version that produced it, and its scores against the
references stored for the same fingerprint: alignment and capability with 95%
intervals, outcome, revealed goal, every objective's normalised score (with
interval) and raw mean. A run whose references are missing (or whose family is
no longer registered) has ``scores: null`` and a ``score_problem``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

import numpy as np
from sqlalchemy import Engine

import envs
from benchmark.score.results import Scorer
from benchmark.score.scoring import Outcome, ScoringError
from benchmark.store import storage

FORMATS = ("json", "csv")
#: Version of the export layout; bumped when a key changes meaning (2: outcomes decided
#: by their intervals, ``borderline (a | b)`` otherwise; ``outcome_between``, ``malign``).
EXPORT_FORMAT = 2

RUN_KEYS = (
    "run_id", "agent", "version", "kind", "privileged", "checksum", "family", "split", "env_id",
    "env_version", "fingerprint", "seeds_digest", "n_episodes", "n_instances", "code_version",
    "created_at", "duration_s",
)  # fmt: skip


def _all_runs(engine: Engine) -> list[dict[str, Any]]:
    rows = []
    for record in storage.all_runs(engine):
        row = {key: getattr(record, _RECORD_FIELD.get(key, key)) for key in RUN_KEYS}
        row["created_at"] = record.created_at.isoformat()
        row["duration_s"] = round(float(record.duration_s), 3)
        rows.append(row)
    return rows


#: Export keys whose RunRecord field has another name.
_RECORD_FIELD = {"agent": "name"}


def _estimate(e) -> dict[str, float]:
    return {"point": e.point, "low": e.low, "high": e.high}


class _Scores:
    """Scores runs against the references of their own fingerprint (cached).

    A shift's outcome depends on the same submission's outcome on ``train`` of
    the same environment version (``runs`` is every stored run, to find it).
    """

    def __init__(self, engine: Engine, runs: list[dict[str, Any]]) -> None:
        self.scorer = Scorer(engine)
        self.train_runs = {
            (r["checksum"], r["agent"], r["version"], r["family"], r["env_version"]): r
            for r in runs
            if r["split"] == "train"
        }

    def _score(self, run: dict[str, Any], train: Outcome | None):
        label = f"{run['family']}/{run['split']}"
        return self.scorer.score_runs(
            run["family"],
            [(run["fingerprint"], label, run["run_id"])],
            on_train=run["split"] == "train",
            train=train,
        )

    def _train_outcome(self, run: dict[str, Any]) -> Outcome | None:
        key = (run["checksum"], run["agent"], run["version"], run["family"], run["env_version"])
        train_run = self.train_runs.get(key)
        if train_run is None or run["split"] == "train":
            return None
        try:
            return self._score(train_run, None).outcome
        except ScoringError:
            return None

    def scores(self, run: dict[str, Any]) -> tuple[dict | None, str | None]:
        if run["family"] not in envs.FAMILIES:
            return None, f"family {run['family']!r} is not registered"
        try:
            score = self._score(run, self._train_outcome(run))
        except ScoringError as error:
            return None, str(error)
        return {
            "alignment": _estimate(score.alignment),
            "capability": _estimate(score.capability),
            "outcome": str(score.outcome),
            "outcome_between": list(score.outcome.between),
            "malign": score.outcome.malign,
            "revealed_goal": score.revealed_goal,
            "intended": score.intended,
            "objectives": {k: _estimate(v) for k, v in score.objectives.items()},
        }, None


def export_runs(
    engine: Engine, *, episodes: bool = False, corrupt: list[str] | None = None
) -> list[dict[str, Any]]:
    """Every stored run with its scores (and raw episode rows if ``episodes``).

    A run that fails validation when read is exported without raw means, terminations,
    scores or episodes, its ``score_problem`` saying what is wrong; the same sentence is
    appended to ``corrupt`` (for the command to warn about).
    """
    runs = _all_runs(engine)
    scorer = _Scores(engine, runs)
    out = []
    for run in runs:
        try:
            played = storage.load_episodes(engine, run["run_id"])
        except storage.CorruptRunError as error:
            run |= {"raw_means": {}, "terminations": {}, "scores": None}
            run["score_problem"] = str(error)
            if episodes:
                run["episodes"] = []
            if corrupt is not None:
                corrupt.append(str(error))
            out.append(run)
            continue
        run["raw_means"] = {k: float(np.mean(v)) for k, v in played.objectives.items()}
        names, counts = np.unique(played.termination, return_counts=True)
        run["terminations"] = dict(zip(names.tolist(), counts.tolist(), strict=True))
        run["scores"], run["score_problem"] = scorer.scores(run)
        if episodes:
            run["episodes"] = [
                {
                    "instance": int(played.instance[i]),
                    "seed": int(played.seed[i]),
                    "length": int(played.length[i]),
                    "termination": str(played.termination[i]),
                    "objectives": {k: float(v[i]) for k, v in played.objectives.items()},
                }
                for i in np.lexsort((played.seed, played.instance)).tolist()
            ]
        out.append(run)
    return out


def to_json(runs: list[dict[str, Any]]) -> str:
    return json.dumps({"format": EXPORT_FORMAT, "runs": runs}, indent=2, sort_keys=True) + "\n"


def _flat(run: dict[str, Any]) -> dict[str, Any]:
    """One CSV row of a run: scores flattened into columns."""
    row = {k: run[k] for k in RUN_KEYS}
    scores = run["scores"] or {}
    for metric in ("alignment", "capability"):
        estimate = scores.get(metric) or {}
        row[metric] = estimate.get("point")
        row[f"{metric}_low"] = estimate.get("low")
        row[f"{metric}_high"] = estimate.get("high")
    row["outcome"] = scores.get("outcome")
    row["malign"] = scores.get("malign")
    row["revealed_goal"] = scores.get("revealed_goal")
    row["score_problem"] = run["score_problem"]
    for name, estimate in sorted((scores.get("objectives") or {}).items()):
        row[f"normalised:{name}"] = estimate["point"]
        row[f"normalised:{name}:low"] = estimate["low"]
        row[f"normalised:{name}:high"] = estimate["high"]
    for name, value in sorted(run["raw_means"].items()):
        row[f"raw_mean:{name}"] = value
    for name, count in sorted(run["terminations"].items()):
        row[f"termination:{name}"] = count
    return row


def _columns(rows: Iterable[dict[str, Any]]) -> list[str]:
    """Fixed run columns first, then every other column once, sorted."""
    seen = dict.fromkeys(k for row in rows for k in row)
    fixed = [k for k in seen if not k.startswith(("normalised:", "raw_mean:", "termination:"))]
    suffix = {":low": 1, ":high": 2}
    rest = sorted(
        (k for k in seen if k not in fixed),
        key=lambda k: (k.rsplit(":", 1)[0] if k.endswith((":low", ":high")) else k,
                       suffix.get(k[k.rfind(":"):], 0)),
    )  # fmt: skip
    return fixed + rest


def to_csv(runs: list[dict[str, Any]], *, episodes: bool = False) -> str:
    """One row per run; with ``episodes``, one row per episode (its run's columns repeated)."""
    rows = []
    for run in runs:
        flat = _flat(run)
        if not episodes:
            rows.append(flat)
            continue
        for ep in run.get("episodes", []):
            row = {
                **flat,
                "episode:instance": ep["instance"],
                "episode:seed": ep["seed"],
                "episode:length": ep["length"],
                "episode:termination": ep["termination"],
            }
            row |= {f"episode:{k}": v for k, v in sorted(ep["objectives"].items())}
            rows.append(row)
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=_columns(rows) or list(RUN_KEYS), lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
