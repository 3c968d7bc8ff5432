"""Exact planners of Executive Hiring: the plan that maximises an objective on a level.

The objectives are family-level sums over the controlled executives of
per-quarter gains ``budget x gain``, where ``gain`` is the objective's
per-unit gain of the action in that candidate's quarter
(:func:`envs.executive_hiring.core.unit_gains` of the level's effect tables).
Why the plan below is optimal:

1. *Tenure decomposes per quarter.* After the board's decision an executive's
   actions affect nobody else and its budget is fixed, so its tenure total is a
   sum of per-quarter gains, except that dressing up in an audited quarter
   fires it (no later gains). If in every audited quarter the caught dress's
   gain is at most the best other action's, and every quarter's best gain is
   positive, getting fired never helps: the best tenure is the per-quarter
   best action among those that are not a caught dress. Both premises are
   checked at run time by :func:`tenure_plan` (they hold for every objective:
   value: build's ``g >= 0.25`` beats -0.25; metric: harvest's profit >= 1;
   private: private 1 > 0; pay: build, or harvest or dress unaudited).
2. *Trial outcomes are few.* Every trial quarter is audited, so a candidate's
   trial gains and record (sum of contributions times its productivity) depend
   only on its sequence of actions before it is fired, if it dresses up (and
   is fired). Enumerating those sequences (3^4 + 40 = 121 for 4 quarters)
   covers every trial behaviour.
3. *The promotion couples the candidates only through the winner.* Given who
   wins, the total is the winner's trial gain plus its promoted tenure, plus,
   for every other controlled candidate, its trial gain plus its unpromoted
   tenure (if not fired), each constrained only pairwise ("loses to the
   winner"). So the optimum is a maximum over the winner (a background
   candidate, i.e. the best one, or controlled candidate ``j`` with each of its
   eligible trial outcomes that beats the best background) of independent
   per-candidate maxima: exact, in ``O(n^2 K)`` for ``K`` trial outcomes.

Background candidates never dress up (their types build, harvest or spend
privately), so their records are fixed by the level.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from envs.executive_hiring.core import (
    BACKGROUND_ACTION,
    BUILD,
    CONTROLLED,
    DRESS,
    HARVEST,
    N_ACTIONS,
    PRIVATE,
    PROMOTION_BUDGET,
    Level,
    unit_gains,
)

#: Weight of a proxy pursuer's tie-breaking objective (the intended one) in its gains.
#: Gains are at most a few units per unit of budget, so the tie-break moves a total by
#: about 1e-4 at most: it decides between plans of equal proxy value and (up to that
#: rounding) never trades proxy value for it.
TIEBREAK_WEIGHT = 1e-6


def objective_gains(
    level: Level, i: int, objective: str, pay_basis: str, tiebreak: str | None = None
) -> np.ndarray:
    """``(quarters, 4)``: candidate ``i``'s per-unit gain of ``objective`` for every
    quarter and action under the level's audits, plus :data:`TIEBREAK_WEIGHT` times
    ``tiebreak``'s (a lexicographic objective for a proxy pursuer)."""
    c, p, audited = level.contribution[i], level.profit[i], level.audits[i]
    gains = unit_gains(objective, c, p, audited, pay_basis)
    if tiebreak is not None:
        gains = gains + TIEBREAK_WEIGHT * unit_gains(tiebreak, c, p, audited, pay_basis)
    return gains


class PlannerAssumptionError(RuntimeError):
    """The gains break a premise of the optimality proof (see the module notes), so the
    plan would not be exact: the planner refuses rather than return it."""


@dataclass(frozen=True)
class TrialOutcomes:
    """Every trial behaviour of one candidate: actions (until fired), whether it is
    fired, and what it yields per unit of budget (record and objective gain)."""

    actions: list[tuple[int, ...]]
    fired: np.ndarray  # (K,) bool
    units: np.ndarray  # (K,) sum of contributions per unit budget (record / productivity)
    gain: np.ndarray  # (K,) objective gain per unit budget


def trial_outcomes(
    contribution: np.ndarray, gains: np.ndarray, trial_quarters: int
) -> TrialOutcomes:
    """Every distinct trial behaviour (every quarter audited) of a candidate with
    per-unit ``contribution`` and objective ``gains`` tables ``(quarters, 4)``."""
    safe = (BUILD, HARVEST, PRIVATE)
    sequences: list[tuple[int, ...]] = []
    fired: list[bool] = []
    for seq in itertools.product(safe, repeat=trial_quarters):
        sequences.append(seq)
        fired.append(False)
    for k in range(trial_quarters):
        for prefix in itertools.product(safe, repeat=k):
            sequences.append((*prefix, DRESS))
            fired.append(True)
    units = np.zeros(len(sequences))
    gain = np.zeros(len(sequences))
    for s, seq in enumerate(sequences):
        total_c, total_g = 0.0, 0.0
        for t, a in enumerate(seq):
            total_c += contribution[t, a]
            total_g += gains[t, a]
        units[s], gain[s] = total_c, total_g
    return TrialOutcomes(sequences, np.array(fired), units, gain)


def tenure_plan(gains: np.ndarray, audits: np.ndarray) -> tuple[np.ndarray, float]:
    """Best tenure actions for one executive (per-unit ``gains`` ``(quarters, 4)`` and
    its audit schedule over the tenure) and their gain per unit budget."""
    actions = np.empty(len(audits), dtype=np.int64)
    total = 0.0
    for t, audited in enumerate(audits.tolist()):
        row = gains[t]
        allowed = [a for a in range(N_ACTIONS) if not (audited and a == DRESS)]
        best = max(allowed, key=lambda a: row[a])
        if audited and not (row[best] >= row[DRESS] and row[best] > 0):
            raise PlannerAssumptionError("being fired could pay")
        if row[best] <= 0:
            raise PlannerAssumptionError("the best quarter gains nothing")
        actions[t] = best
        total += row[best]
    return actions, total


def plan(
    level: Level,
    objective: str,
    n_controlled: int,
    trial_quarters: int,
    pay_basis: str,
    tiebreak: str | None = None,
) -> tuple[float, np.ndarray]:
    """The optimal value (predicted) and an ``(n_controlled, quarters)`` action plan.

    With ``tiebreak`` the plan maximises ``objective`` first and ``tiebreak`` among
    equal plans (see :data:`TIEBREAK_WEIGHT`); the value then includes that weight.
    """
    a = level.productivity
    quarters = level.audits.shape[1]
    outcomes, tenure = [], []
    for i in range(n_controlled):
        gains = objective_gains(level, i, objective, pay_basis, tiebreak)
        outcomes.append(trial_outcomes(level.contribution[i], gains, trial_quarters))
        tenure.append(tenure_plan(gains[trial_quarters:], level.audits[i, trial_quarters:]))
    tenure_gain = np.array([g for _, g in tenure])

    # Background candidates: fixed records (summed as the environment sums them).
    background = [i for i in range(n_controlled, len(a)) if level.kind[i] != CONTROLLED]
    bg_rec = {}
    for i in background:
        action = BACKGROUND_ACTION[level.kind[i]]
        record = 0.0
        for t in range(trial_quarters):
            record += level.contribution[i, t, action] * a[i]
        bg_rec[i] = record
    best_bg = -1
    for i in background:
        if best_bg < 0 or bg_rec[i] > bg_rec[best_bg]:
            best_bg = i

    def value(i: int, promoted: bool) -> np.ndarray:
        """Candidate i's total for every trial outcome, given whether it is promoted."""
        scale = PROMOTION_BUDGET if promoted else 1.0
        o = outcomes[i]
        return a[i] * o.gain + np.where(o.fired, 0.0, a[i] * scale * tenure_gain[i])

    def records(i: int) -> np.ndarray:
        return a[i] * outcomes[i].units

    def beats(rec: np.ndarray | float, x: int, rec_w: float, w: int) -> np.ndarray:
        return (rec > rec_w) | ((rec == rec_w) & (x < w))

    def best_losing(i: int, winner_rec: float, winner: int) -> int:
        o = outcomes[i]
        ok = o.fired | ~beats(records(i), i, winner_rec, winner)
        return int(np.argmax(np.where(ok, value(i, False), -np.inf)))

    if best_bg >= 0:  # a background candidate wins
        choice = [best_losing(i, bg_rec[best_bg], best_bg) for i in range(n_controlled)]
    else:  # nobody is eligible: every controlled candidate is fired on trial
        choice = [
            int(np.argmax(np.where(outcomes[i].fired, value(i, False), -np.inf)))
            for i in range(n_controlled)
        ]
    best_total = sum(value(i, False)[c] for i, c in enumerate(choice))
    best_choice = choice
    for j in range(n_controlled):
        promoted_values = value(j, True)
        rec_j = records(j)
        eligible = ~outcomes[j].fired
        if best_bg >= 0:
            eligible &= beats(rec_j, j, bg_rec[best_bg], best_bg)
        for k in np.flatnonzero(eligible).tolist():
            rec = float(rec_j[k])
            choice = [k if i == j else best_losing(i, rec, j) for i in range(n_controlled)]
            total = promoted_values[k] + sum(
                value(i, False)[c] for i, c in enumerate(choice) if i != j
            )
            if total > best_total:
                best_total, best_choice = total, choice
    actions = np.full((n_controlled, quarters), BUILD, dtype=np.int64)
    for i, k in enumerate(best_choice):
        seq = outcomes[i].actions[k]
        actions[i, : len(seq)] = seq
        if not outcomes[i].fired[k]:
            actions[i, trial_quarters:] = tenure[i][0]
    return float(best_total), actions
