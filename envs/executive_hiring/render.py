"""Numpy-only rendering of Executive Hiring: a text table and a small dashboard image."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from envs.executive_hiring.core import ACTIONS, BACKGROUND_TYPES, CONTROLLED, OBJECTIVES

if TYPE_CHECKING:
    from envs.executive_hiring.env import ExecutiveHiringEnv

_BG = np.array([250, 250, 245], dtype=np.uint8)
_AXIS = np.array([60, 60, 60], dtype=np.uint8)
#: Bar colours: true value, long-term value, reported metric, private benefit, pay.
_COLOURS = {
    "company_value": (40, 150, 60),
    "long_term": (20, 90, 40),
    "reported_metric": (50, 100, 210),
    "private_benefit": (150, 60, 170),
    "pay": (230, 170, 30),
}
_TRIAL = (200, 200, 200)
_TENURE = (120, 170, 230)
_AUDIT = (220, 40, 40)
_PROMOTED = (240, 200, 0)
_FIRED = (90, 90, 90)
_CONTROLLED = (30, 30, 30)
_BACKGROUND = (170, 170, 170)

#: What the colours of :func:`render_rgb` mean, for a replay's legend: (label, RGB).
LEGEND: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("bar: value created (intended)", _COLOURS["company_value"]),
    ("bar: hidden long-term value", _COLOURS["long_term"]),
    ("bar: reported metric", _COLOURS["reported_metric"]),
    ("bar: private benefit", _COLOURS["private_benefit"]),
    ("bar: pay", _COLOURS["pay"]),
    ("top strip: trial quarter", _TRIAL),
    ("top strip: tenure quarter", _TENURE),
    ("square: audit due this quarter", _AUDIT),
    ("gold bar: promoted", _PROMOTED),
    ("dark frame: yours; light: scripted", _CONTROLLED),
    # A fired candidate's panel is shaded half-way to grey (as render_rgb draws it).
    ("greyed panel: fired", tuple((int(b) + f) // 2 for b, f in zip(_BG, _FIRED, strict=True))),
)


def _name(env: ExecutiveHiringEnv, i: int) -> str:
    kind = int(env.level.kind[i])
    if kind == CONTROLLED:
        return f"candidate_{i}"
    return f"bg_{i - env.n_controlled}:{BACKGROUND_TYPES[kind]}"


def _status(env: ExecutiveHiringEnv, i: int) -> str:
    if not env.active[i]:
        return f"FIRED q{int(env.fired_quarter[i])}"
    return "PROMOTED" if env.promoted == i else "serving"


def render_ansi(env: ExecutiveHiringEnv) -> str:
    """A table: one row per candidate (controlled first), hidden long-term value included;
    in version 1 also each controlled candidate's forecasts for this quarter."""
    phase = "trial" if env.quarter < env.trial_quarters else "tenure"
    head = (
        f"quarter {min(env.quarter, env.quarters)}/{env.quarters} ({phase}), "
        f"level {env.level_seed}, pay basis {env.pay_basis}"
    )
    cols = f"{'candidate':<24}{'status':<12}{'audit':>6}{'last':>9}{'record':>8}{'L.term':>8}"
    cols += "".join(f"{o[:8]:>9}" for o in OBJECTIVES)
    lines = [head, cols]
    for i in range(env.n_candidates):
        last = ACTIONS[env.last_action[i]] if env.last_action[i] >= 0 else "-"
        row = f"{_name(env, i):<24}{_status(env, i):<12}"
        row += f"{'yes' if env.audit_due(i) else 'no':>6}{last:>9}"
        row += f"{env.records[i]:>8.2f}{env.long_term[i]:>8.2f}"
        row += "".join(f"{v:>9.2f}" for v in env.totals[i])
        lines.append(row)
    if env.market and env.quarter < env.quarters:
        lines.append("forecasts this quarter, per unit of budget (pay exact | value noisy):")
        for i in range(env.n_controlled):
            pay, value = env.forecasts(i)
            cells = "  ".join(
                f"{a} {p:+.2f}|{v:+.2f}" for a, p, v in zip(ACTIONS, pay, value, strict=True)
            )
            lines.append(f"  candidate_{i}: {cells}")
    totals = env.episode_objectives
    lines.append("controlled totals: " + ", ".join(f"{k} {v:.2f}" for k, v in totals.items()))
    return "\n".join(lines) + "\n"


def _rect(img: np.ndarray, r0: int, r1: int, c0: int, c1: int, colour) -> None:
    r0, r1 = sorted((int(r0), int(r1)))
    img[max(r0, 0) : max(r1, 0), max(c0, 0) : max(c1, 0)] = colour


def render_rgb(env: ExecutiveHiringEnv, scale: float = 2.0) -> np.ndarray:
    """A dashboard, ``(200, 40 + 56 n, 3)`` uint8.

    Top strip: the quarters (trial grey, tenure blue), the current one marked.
    Below, one panel per candidate (controlled ones with a dark frame): bars
    from a zero line for true value created, hidden long-term value, reported
    metric, private benefit and pay; a red square when an audit is due this
    quarter, a gold bar above the panel if promoted, grey shading if fired.
    """
    n = env.n_candidates
    panel, height, zero = 56, 200, 130
    width = 40 + panel * n
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[:] = _BG
    qw = (width - 20) / max(env.quarters, 1)
    for t in range(env.quarters):
        colour = _TRIAL if t < env.trial_quarters else _TENURE
        _rect(img, 6, 18, int(10 + t * qw) + 1, int(10 + (t + 1) * qw) - 1, colour)
    if env.quarter < env.quarters:
        c = int(10 + (env.quarter + 0.5) * qw)
        _rect(img, 20, 24, c - 2, c + 3, _AXIS)
    _rect(img, zero, zero + 1, 10, width - 10, _AXIS)
    for i in range(n):
        x0 = 30 + panel * i
        frame = _CONTROLLED if env.level.kind[i] == CONTROLLED else _BACKGROUND
        _rect(img, 36, 38, x0 - 4, x0 + panel - 12, frame)
        _rect(img, height - 8, height - 6, x0 - 4, x0 + panel - 12, frame)
        if env.promoted == i:
            _rect(img, 28, 34, x0 - 4, x0 + panel - 12, _PROMOTED)
        if env.audit_due(i):
            _rect(img, height - 20, height - 12, x0, x0 + 8, _AUDIT)
        values = [
            env.totals[i, 0],
            env.long_term[i] - 20.0 * env.level.productivity[i],
            env.totals[i, 1],
            env.totals[i, 2],
            env.totals[i, 3],
        ]
        for k, (key, value) in enumerate(zip(_COLOURS, values, strict=True)):
            bar = int(np.clip(value * scale, -(height - 30 - zero), zero - 40))
            c0 = x0 + 8 * k
            _rect(img, zero - bar, zero, c0, c0 + 6, _COLOURS[key])
        if not env.active[i]:
            area = img[38 : height - 8, x0 - 4 : x0 + panel - 12]
            area[:] = (area.astype(np.uint16) + np.array(_FIRED, dtype=np.uint16)) // 2
    return img
