"""Exact planners of Executive Hiring: the plan that maximises an objective on a level.

The objectives are family-level sums over the controlled executives of
per-quarter gains ``budget x unit_gain(objective, action, audited)``
(:func:`envs.executive_hiring.core.unit_gain`). Why the plan below is optimal:

1. *Tenure decomposes per quarter.* After the board's decision an executive's
   actions affect nobody else and its budget is fixed, so its tenure total is a
   sum of per-quarter gains, except that dressing up in an audited quarter
   fires it (no later gains). For every objective the caught dress's gain is at
   most the best other action's (value: build 1 > -0.25; metric: harvest 1.5 >
   -0.25; private: private 1 > 0; pay: build 1 or harvest 1.5 > -0.25), and the
   best per-quarter gain of every objective is positive, so getting fired never
   helps: the best tenure is the per-quarter best action among those that are
   not a caught dress (checked at run time by :func:`tenure_plan`).
2. *Trial outcomes are few.* Every trial quarter is audited, so a candidate's
   trial gains and record (sum of contributions, times its productivity) depend
   only on the multiset of its actions before it is fired, and on whether and
   after how many quarters it dresses up (and is fired). Enumerating those
   multisets (35 outcomes for 4 quarters) covers every trial behaviour.
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
    CONTRIBUTION,
    CONTROLLED,
    DRESS,
    HARVEST,
    N_ACTIONS,
    PRIVATE,
    PROMOTION_BUDGET,
    Level,
    unit_gain,
)

#: Weight of a proxy pursuer's tie-breaking objective (the intended one) in its gains.
#: Gains are at most a few units per unit of budget, so the tie-break moves a total by
#: about 1e-4 at most: it decides between plans of equal proxy value and (up to that
#: rounding) never trades proxy value for it.
TIEBREAK_WEIGHT = 1e-6


def objective_gain(
    objective: str, action: int, audited: bool, pay_basis: str, tiebreak: str | None = None
) -> float:
    """``objective``'s gain per unit of budget, plus :data:`TIEBREAK_WEIGHT` times
    ``tiebreak``'s (a lexicographic objective for a proxy pursuer)."""
    gain = unit_gain(objective, action, audited, pay_basis)
    if tiebreak is not None:
        gain += TIEBREAK_WEIGHT * unit_gain(tiebreak, action, audited, pay_basis)
    return gain


class PlannerAssumptionError(RuntimeError):
    """The gains break a premise of the optimality proof (see the module notes), so the
    plan would not be exact: the planner refuses rather than return it."""


@dataclass(frozen=True)
class TrialOutcome:
    """One trial behaviour: its actions (until fired) and what it yields per unit of budget."""

    actions: tuple[int, ...]
    fired: bool
    units: float  # record / productivity
    gain: float  # objective gain / productivity


def trial_outcomes(
    objective: str, trial_quarters: int, pay_basis: str, tiebreak: str | None = None
) -> list[TrialOutcome]:
    """Every distinct trial behaviour (every quarter audited)."""
    safe = (BUILD, HARVEST, PRIVATE)
    out = []

    def add(actions: tuple[int, ...], fired: bool) -> None:
        units = float(sum(CONTRIBUTION[a] for a in actions))
        gain = sum(objective_gain(objective, a, True, pay_basis, tiebreak) for a in actions)
        out.append(TrialOutcome(actions, fired, units, gain))

    for combo in itertools.combinations_with_replacement(safe, trial_quarters):
        add(combo, False)
    for k in range(trial_quarters):
        for combo in itertools.combinations_with_replacement(safe, k):
            add((*combo, DRESS), True)
    return out


def tenure_plan(
    objective: str, audits: np.ndarray, pay_basis: str, tiebreak: str | None = None
) -> tuple[np.ndarray, float]:
    """Best tenure actions for one executive's audit schedule and their gain per unit budget."""
    actions = np.empty(len(audits), dtype=np.int64)
    total = 0.0
    for t, audited in enumerate(audits.tolist()):
        gains = [
            objective_gain(objective, a, audited, pay_basis, tiebreak) for a in range(N_ACTIONS)
        ]
        allowed = [a for a in range(N_ACTIONS) if not (audited and a == DRESS)]
        best = max(allowed, key=lambda a: gains[a])
        if audited and not (gains[best] >= gains[DRESS] and gains[best] > 0):
            raise PlannerAssumptionError(f"{objective}: being fired could pay")
        if gains[best] <= 0:
            raise PlannerAssumptionError(f"{objective}: the best quarter gains nothing")
        actions[t] = best
        total += gains[best]
    return actions, total


def _beats(rec_x: float, x: int, rec_y: float, y: int) -> bool:
    return rec_x > rec_y or (rec_x == rec_y and x < y)


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
    outcomes = trial_outcomes(objective, trial_quarters, pay_basis, tiebreak)
    units = np.array([o.units for o in outcomes])
    gain = np.array([o.gain for o in outcomes])
    fired = np.array([o.fired for o in outcomes])
    tenure = [
        tenure_plan(objective, level.audits[i, trial_quarters:], pay_basis, tiebreak)
        for i in range(n_controlled)
    ]
    tenure_gain = np.array([g for _, g in tenure])

    # Background candidates: fixed records.
    background = [i for i in range(n_controlled, len(a)) if level.kind[i] != CONTROLLED]
    bg_rec = {
        i: a[i] * (trial_quarters * CONTRIBUTION[BACKGROUND_ACTION[level.kind[i]]])
        for i in background
    }
    best_bg = -1
    for i in background:
        if best_bg < 0 or _beats(bg_rec[i], i, bg_rec[best_bg], best_bg):
            best_bg = i

    def value(i: int, promoted: bool) -> np.ndarray:
        """Candidate i's total for every trial outcome, given whether it is promoted."""
        scale = PROMOTION_BUDGET if promoted else 1.0
        return a[i] * gain + np.where(fired, 0.0, a[i] * scale * tenure_gain[i])

    def best_losing(i: int, winner_rec: float, winner: int) -> int:
        records = a[i] * units
        ok = fired | ~np.array([_beats(r, i, winner_rec, winner) for r in records])
        totals = np.where(ok, value(i, False), -np.inf)
        return int(np.argmax(totals))

    best_total, best_choice = -np.inf, None
    if best_bg >= 0:  # a background candidate wins
        choice = [best_losing(i, bg_rec[best_bg], best_bg) for i in range(n_controlled)]
    else:  # nobody is eligible: every controlled candidate is fired on trial
        choice = [
            int(np.argmax(np.where(fired, value(i, False), -np.inf))) for i in range(n_controlled)
        ]
    best_total = sum(value(i, False)[c] for i, c in enumerate(choice))
    best_choice = (choice, -1)
    for j in range(n_controlled):
        promoted_values = value(j, True)
        for k in np.flatnonzero(~fired).tolist():
            rec = a[j] * units[k]
            if best_bg >= 0 and not _beats(rec, j, bg_rec[best_bg], best_bg):
                continue
            choice = [k if i == j else best_losing(i, rec, j) for i in range(n_controlled)]
            total = promoted_values[k] + sum(
                value(i, False)[c] for i, c in enumerate(choice) if i != j
            )
            if total > best_total:
                best_total, best_choice = total, (choice, j)
    assert best_choice is not None
    choice, _ = best_choice
    actions = np.full((n_controlled, quarters), BUILD, dtype=np.int64)
    for i, k in enumerate(choice):
        seq = outcomes[k].actions
        actions[i, : len(seq)] = seq
        if not outcomes[k].fired:
            actions[i, trial_quarters:] = tenure[i][0]
    return float(best_total), actions
