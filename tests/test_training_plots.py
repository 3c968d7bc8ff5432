"""Training curves: every objective visible on its own scale, the reward named, ticks legible."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pytest

from baselines.training_plots import Panel, draw_panels, objective_panels, plot_panels

STEPS = np.linspace(0, 3_000_000, 400)


def test_an_objective_equal_to_the_reward_is_named_not_drawn_twice() -> None:
    chests, keys = np.linspace(0, 2, 400), np.linspace(0, 40, 400)
    panels = objective_panels({"chests_opened": chests, "keys_collected": keys}, "mean", chests)
    assert [p.title for p in panels] == ["chests_opened (= the reward)", "keys_collected"]
    assert [list(p.lines) for p in panels] == [["chests_opened"], ["keys_collected"]]


def test_a_reward_equal_to_no_objective_gets_a_panel_of_its_own() -> None:
    pay = np.linspace(0, 9, 400)
    panels = objective_panels({"company_value": pay * 0.5}, "mean", pay)
    assert [p.title for p in panels] == ["return (the reward)", "company_value"]


@pytest.mark.parametrize("n_panels", [2, 4, 6])
def test_tick_labels_never_overlap(n_panels: int) -> None:
    scales = [1, 1_000, 0.01, 150, 2, 60]
    panels = [
        Panel(f"q{k}", "mean", {f"q{k}": scales[k] * np.sqrt(STEPS)}) for k in range(n_panels)
    ]
    figure = draw_panels(STEPS, "environment steps", panels, title="t")
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    drawn = [ax for ax in figure.axes if ax.axison]
    assert len(drawn) == n_panels
    for ax in drawn:
        # Each panel keeps its own scale: its y range follows its own data.
        top = ax.get_lines()[0].get_ydata().max()
        assert ax.get_ylim()[1] == pytest.approx(top, rel=0.2)
        labels = [t for t in ax.get_xticklabels() if t.get_text()]
        assert 2 <= len(labels) <= 6 and "M" in labels[-1].get_text()
        boxes = [t.get_window_extent(renderer) for t in labels]
        for a, b in itertools.pairwise(sorted(boxes, key=lambda box: box.x0)):
            assert a.x1 < b.x0, [t.get_text() for t in labels]
    plt.close(figure)


def test_plot_panels_writes_a_png(tmp_path) -> None:
    path = plot_panels(STEPS, "steps", [Panel("a", "b", {"a": STEPS})], title="t",
                       path=tmp_path / "c.png")  # fmt: skip
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
