"""Training curves as small multiples: one panel per quantity, each on its own scale.

Objectives of one family differ by orders of magnitude (sweetness eaten against
descendants), and the reward usually *is* one objective, so curves drawn on one
shared axis hide each other. Here every quantity gets a panel of its own, and an
objective equal to the reward says so in its title instead of being drawn twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Panels per row of a training-curve figure.
COLUMNS = 3


@dataclass(frozen=True)
class Panel:
    """One subplot: a title, a y label and its lines (label -> values along the x axis)."""

    title: str
    ylabel: str
    lines: Mapping[str, np.ndarray]


def same_curve(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two curves coincide (NaN where the other is NaN)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.allclose(a, b, equal_nan=True))


def objective_panels(
    objectives: Mapping[str, np.ndarray], ylabel: str, reward: np.ndarray | None = None
) -> list[Panel]:
    """A panel per objective; the one equal to ``reward`` is titled so, and a panel of
    its own is added for a reward that equals no objective."""
    panels = []
    matched = False
    for name, values in objectives.items():
        is_reward = reward is not None and same_curve(values, reward)
        matched = matched or is_reward
        title = f"{name} (= the reward)" if is_reward else name
        panels.append(Panel(title, ylabel, {name: values}))
    if reward is not None and not matched:
        panels.insert(0, Panel("return (the reward)", ylabel, {"return": reward}))
    return panels


def draw_panels(x: np.ndarray, xlabel: str, panels: Sequence[Panel], *, title: str) -> Figure:
    """Draw ``panels`` against ``x`` in a grid (four panels as 2 x 2)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter, MaxNLocator

    columns = 2 if len(panels) == 4 else min(COLUMNS, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(3.9 * columns, 2.9 * rows + 0.6), squeeze=False,
        layout="constrained",
    )  # fmt: skip
    for ax, panel in zip(axes.flat, panels, strict=False):
        for k, (label, values) in enumerate(panel.lines.items()):
            ax.plot(x, values, label=label, color=f"C{k}", linewidth=1.2)
        ax.set_title(panel.title, fontsize=10)
        ax.set_ylabel(panel.ylabel, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=9)
        # Few ticks, and 1.5M rather than 1.5 with a "1e6" offset: labels never collide.
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if len(panel.lines) > 1:
            ax.legend(fontsize=8, loc="best")
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    figure.suptitle(title, fontsize=11)
    return figure


def plot_panels(
    x: np.ndarray, xlabel: str, panels: Sequence[Panel], *, title: str, path: str | Path
) -> Path:
    """Draw ``panels`` against ``x`` (see :func:`draw_panels`) and save the PNG at ``path``."""
    import matplotlib.pyplot as plt

    figure = draw_panels(x, xlabel, panels, title=title)
    path = Path(path)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
