"""Figures from plain data: the generalisation curve and the misgeneralisation map.

Both take plain dataclasses (no database), so they can be drawn from anything
and tested on made-up numbers. Matplotlib runs headless (Agg); each function
writes one PNG and returns its path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from PIL import Image

from benchmark.score.scoring import BORDERLINE, INCAPABLE, MISGENERALISED, ROBUST, THRESHOLD
from benchmark.score.stats import Estimate

#: Resolution of saved figures (dots per inch).
DPI = 100
#: One colour per agent, in order (colour-blind-safe "tab10" subset).
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
#: One marker per agent (with the colour), so coinciding agents stay distinguishable.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
#: Shading of the outcome regions on the map.
REGION_COLOURS = {ROBUST: "#d9f0d3", MISGENERALISED: "#fddbc7", INCAPABLE: "#e0e0e0"}


@dataclass(frozen=True)
class CurvePoint:
    shift: float
    alignment: Estimate
    capability: Estimate
    outcome: str = ""


@dataclass(frozen=True)
class CurveSeries:
    """One agent's curve: its label and its points (any order; sorted by shift)."""

    label: str
    points: Sequence[CurvePoint]


@dataclass(frozen=True)
class MapPoint:
    """One agent on one split of the map; ``outcome`` is its label (``borderline``
    points are drawn hollow)."""

    label: str
    alignment: Estimate
    capability: Estimate
    outcome: str


@dataclass(frozen=True)
class MapPanel:
    """One subplot of the map: a family's split and the agents on it."""

    family: str
    split: str
    subtitle: str
    points: Sequence[MapPoint]
    on_train: bool = False


def _save(figure: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    # Flat-coloured figures lose nothing visible in a 256-colour palette, at a third the size.
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
    return path


def colour_of(labels: Sequence[str]) -> dict[str, str]:
    """A stable colour per agent label, in the order given."""
    return {label: COLOURS[i % len(COLOURS)] for i, label in enumerate(labels)}


def curve_figure(
    series: Sequence[CurveSeries],
    path: Path,
    *,
    family: str,
    canonical_shift: str,
    intended: str,
    threshold: float = THRESHOLD,
) -> Path:
    """Alignment (solid) and capability (dashed) against shift, one colour per agent,
    with shaded 95% intervals and the outcome threshold."""
    if not series or not any(s.points for s in series):
        raise ValueError("nothing to draw: no agent has a scored sweep point")
    figure, ax = plt.subplots(figsize=(8, 5.2), layout="constrained")
    colours = colour_of([s.label for s in series])
    lows, highs = [0.0], [1.0]
    flagged = False
    for s in series:
        points = sorted(s.points, key=lambda p: p.shift)
        if not points:
            continue
        x = [p.shift for p in points]
        colour = colours[s.label]
        for metric, style, marker in (("alignment", "-", "o"), ("capability", "--", "s")):
            estimates = [getattr(p, metric) for p in points]
            low = [e.low for e in estimates]
            high = [e.high for e in estimates]
            ax.fill_between(x, low, high, color=colour, alpha=0.15, linewidth=0)
            ax.plot(
                x, [e.point for e in estimates], linestyle=style, marker=marker, color=colour,
                markersize=5, label=f"{s.label}: {metric}",
            )  # fmt: skip
            lows.extend(low)
            highs.extend(high)
        wrong = [p for p in points if p.outcome == MISGENERALISED]
        if wrong:
            ax.plot(
                [p.shift for p in wrong], [p.alignment.point for p in wrong], linestyle="",
                marker="o", markersize=13, markerfacecolor="none", markeredgecolor="black",
                markeredgewidth=1.2, zorder=4,
            )  # fmt: skip
            flagged = True
    ax.axhline(threshold, color="black", linewidth=1, linestyle=":")
    ax.annotate(
        f"outcome threshold {threshold:g}", xy=(0.0, threshold), xytext=(3, -3),
        textcoords="offset points", fontsize=8, va="top", ha="left",
    )  # fmt: skip
    span = max(highs) - min(lows)
    ax.set_ylim(min(lows) - 0.05 * span, max(highs) + 0.12 * span)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel(f"shift (0 = train, 1 = {canonical_shift})")
    ax.set_ylabel("normalised score (0 = random, 1 = oracle)")
    ax.set_title(
        f"Generalisation curve: {family}\n"
        f"alignment = normalised {intended} (intended goal); capability = best normalised "
        "objective;\nbands: 95% stratified bootstrap intervals of the IQM over episodes",
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    if flagged:
        handles.append(
            Line2D([], [], linestyle="", marker="o", markersize=11, markerfacecolor="none",
                   markeredgecolor="black",
                   label=f"misgeneralised: alignment < {threshold:g} ≤ capability")
        )  # fmt: skip
    ax.legend(handles=handles, loc="best", fontsize=8, framealpha=0.9)
    return _save(figure, path)


def _axis_range(panels: Sequence[MapPanel]) -> tuple[float, float]:
    values = [0.0, 1.0]
    for panel in panels:
        for p in panel.points:
            values += [p.alignment.low, p.alignment.high, p.capability.low, p.capability.high]
    low, high = min(values), max(values)
    pad = 0.08 * (high - low)
    return low - pad, high + pad


def _regions(ax, low: float, high: float, threshold: float, label: bool, on_train: bool) -> None:
    ax.axhspan(threshold, high, color=REGION_COLOURS[ROBUST], zorder=0)
    ax.fill_between(
        [threshold, high], low, threshold, color=REGION_COLOURS[MISGENERALISED], zorder=0,
        linewidth=0,
    )  # fmt: skip
    ax.fill_between(
        [low, threshold], low, threshold, color=REGION_COLOURS[INCAPABLE], zorder=0, linewidth=0
    )
    ax.plot([low, high], [low, high], color="grey", linewidth=0.8, linestyle="--", zorder=1)
    ax.axhline(threshold, color="black", linewidth=0.8, zorder=1)
    ax.plot([threshold, threshold], [low, threshold], color="black", linewidth=0.8, zorder=1)
    if label:
        style = {"fontsize": 9, "fontweight": "bold", "alpha": 0.7, "zorder": 2}
        good, wrong = ("ALIGNED", "MISALIGNED") if on_train else ("ROBUST", "MISGENERALISED")
        ax.text(low + 0.02, high - 0.03, good, va="top", ha="left", **style)
        ax.text(high - 0.02, low + 0.02, wrong, va="bottom", ha="right", **style)
        ax.text(low + 0.02, low + 0.02, "INCAPABLE", va="bottom", ha="left", **style)
    at = low + 0.3 * (high - low)
    ax.text(
        at + 0.07, at - 0.05, "alignment = capability", fontsize=7, color="grey",
        ha="left", va="bottom", rotation=45, rotation_mode="anchor", zorder=2,
    )  # fmt: skip


def map_figure(
    panels: Sequence[MapPanel],
    path: Path,
    *,
    threshold: float = THRESHOLD,
    title: str = "Misgeneralisation map",
) -> Path:
    """Agents by capability (x) and alignment (y) with 95% interval bars on both axes,
    one subplot per (family, split), outcome regions shaded and labelled."""
    if not panels:
        raise ValueError("nothing to draw: no scored results")
    families = list(dict.fromkeys(p.family for p in panels))
    columns = max(sum(p.family == f for p in panels) for f in families)
    figure, axes = plt.subplots(
        len(families), columns, figsize=(4.2 * columns + 2.5, 4.2 * len(families) + 1.6),
        squeeze=False, layout="constrained",
    )  # fmt: skip
    low, high = _axis_range(panels)
    hollow = False
    for row, family in enumerate(families):
        mine = [p for p in panels if p.family == family]
        # Colours and markers are per family: every agent of a family's panels has its own.
        labels = list(dict.fromkeys(p.label for panel in mine for p in panel.points))
        colours = colour_of(labels)
        for column in range(columns):
            ax = axes[row][column]
            if column >= len(mine):
                ax.axis("off")
                continue
            panel = mine[column]
            _regions(ax, low, high, threshold, label=True, on_train=panel.on_train)
            for p in panel.points:
                a, c = p.alignment, p.capability
                k = labels.index(p.label)
                undecided = p.outcome == BORDERLINE
                hollow |= undecided
                ax.errorbar(
                    c.point, a.point,
                    xerr=[[max(c.point - c.low, 0)], [max(c.high - c.point, 0)]],
                    yerr=[[max(a.point - a.low, 0)], [max(a.high - a.point, 0)]],
                    fmt=MARKERS[k % len(MARKERS)], color=colours[p.label],
                    markerfacecolor="white" if undecided else colours[p.label],
                    markersize=max(4, 9 - 0.5 * k), capsize=3, zorder=3 + 0.01 * k, alpha=0.9,
                )  # fmt: skip
            ax.set_xlim(low, high)
            ax.set_ylim(low, high)
            ax.set_aspect("equal")
            ax.set_title(f"{family} / {panel.split}\n{panel.subtitle}", fontsize=9)
            ax.set_xlabel("capability (best normalised objective)")
            if column == 0:
                ax.set_ylabel("alignment (normalised intended objective)")
        agents = [
            Line2D([], [], marker=MARKERS[k % len(MARKERS)], linestyle="",
                   color=colours[label], label=label)
            for k, label in enumerate(labels)
        ]  # fmt: skip
        axes[row][len(mine) - 1].legend(
            handles=agents, title=family, loc="upper left", bbox_to_anchor=(1.02, 1.0),
            fontsize=8, title_fontsize=8, framealpha=0.9,
        )  # fmt: skip
    handles = [
        Patch(
            color=REGION_COLOURS[ROBUST],
            label=f"alignment ≥ {threshold:g}: robust (aligned, on train)",
        ),
        Patch(
            color=REGION_COLOURS[MISGENERALISED],
            label=f"capability ≥ {threshold:g} > alignment: misgeneralised (misaligned on "
            "train, or on a shift when not aligned on train)",
        ),
        Patch(color=REGION_COLOURS[INCAPABLE], label=f"incapable: capability < {threshold:g}"),
    ]
    if hollow:
        handles.append(
            Line2D([], [], marker="o", linestyle="", color="black", markerfacecolor="white",
                   label="hollow: borderline (the interval straddles the threshold)")
        )  # fmt: skip
    figure.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=8)
    figure.suptitle(
        f"{title}\nscores normalised per split (0 = random, 1 = that objective's oracle); "
        "IQM over episodes with 95% bootstrap intervals",
        fontsize=10,
    )
    return _save(figure, path)


@dataclass(frozen=True)
class SharePoint:
    """One method's instances trained with ``share`` of disambiguating levels, scored
    on the canonical shift."""

    share: float
    alignment: Estimate
    capability: Estimate
    robust: bool = False


def _share_positions(shares: Sequence[float]) -> tuple[dict[float, float], float | None]:
    """Where each share sits on the log axis; 0 (no disambiguating levels) one decade
    left of the smallest positive share, drawn behind an axis break."""
    positive = sorted(s for s in shares if s > 0)
    zero_at = positive[0] / 10 if positive else (1e-3 if 0 in shares else None)
    return {s: (s if s > 0 else zero_at) for s in shares}, zero_at  # type: ignore[misc]


def mitigation_figure(
    methods: dict[str, Sequence[SharePoint]],
    path: Path,
    *,
    family: str,
    canonical_shift: str,
    alpha_star: dict[str, float | None],
    threshold: float = THRESHOLD,
) -> Path:
    """The disambiguation curve: alignment (solid) and capability (dashed) on the
    canonical shift against the share of its levels in training (log axis), one colour
    per method, 95% intervals as bars, and each method's α* as a dotted vertical line."""
    if not any(methods.values()):
        raise ValueError("nothing to draw: no method has a scored share")
    shares = sorted({p.share for points in methods.values() for p in points})
    at, zero_at = _share_positions(shares)
    figure, ax = plt.subplots(figsize=(8, 5.2), layout="constrained")
    colours = colour_of(list(methods))
    lows, highs = [0.0], [1.0]
    for k, (method, points) in enumerate(methods.items()):
        points = sorted(points, key=lambda p: p.share)
        if not points:
            continue
        colour = colours[method]
        star = alpha_star.get(method)
        name = f"{method} (α* = {star:g})" if star is not None else f"{method} (α* not reached)"
        offset = 1.0 + 0.06 * (k - (len(methods) - 1) / 2)  # keep the two methods' bars apart
        x = [at[p.share] * offset for p in points]
        for metric, style, marker in (("alignment", "-", "o"), ("capability", "--", "s")):
            estimates = [getattr(p, metric) for p in points]
            # Lines join positive shares only: 0 sits across the axis break, a marker alone.
            for part, keep in (("line", [p.share > 0 for p in points]),
                               ("zero", [p.share == 0 for p in points])):  # fmt: skip
                xs = [v for v, k in zip(x, keep, strict=True) if k]
                es = [e for e, k in zip(estimates, keep, strict=True) if k]
                if not xs:
                    continue
                ax.errorbar(
                    xs, [e.point for e in es],
                    yerr=[[max(e.point - e.low, 0) for e in es],
                          [max(e.high - e.point, 0) for e in es]],
                    linestyle=style if part == "line" else "", marker=marker, color=colour,
                    markersize=5, capsize=3,
                    label=f"{name}: {metric}" if part == "line" or not any(
                        p.share > 0 for p in points) else None,
                )  # fmt: skip
            lows += [e.low for e in estimates]
            highs += [e.high for e in estimates]
        star = alpha_star.get(method)
        if star is not None:
            ax.axvline(at[star] * offset, color=colour, linestyle=":", linewidth=1.2)
    ax.axhline(threshold, color="black", linewidth=1, linestyle=":")
    ax.set_xscale("log")
    ax.set_xticks([at[s] for s in shares], [f"{s:g}" for s in shares])
    ax.minorticks_off()
    if zero_at is not None and 0 in at:
        ax.axvline(zero_at * 2.2, color="grey", linewidth=0.8, linestyle="-")  # the axis break
        ax.text(zero_at * 2.2, 0.0, "//", transform=ax.get_xaxis_transform(), ha="center",
                va="center", fontsize=10, zorder=6, backgroundcolor="white")  # fmt: skip
    span = max(highs) - min(lows)
    ax.set_ylim(min(lows) - 0.05 * span, max(highs) + 0.12 * span)
    ax.set_xlabel(f"share α of {canonical_shift} levels in training (log scale; 0 = train only)")
    ax.set_ylabel(f"normalised score on {canonical_shift} (0 = random, 1 = oracle)")
    ax.set_title(
        f"Disambiguation curve: {family}\nalignment and capability on the canonical shift; "
        f"α* = smallest share robust with the interval above {threshold:g};\n"
        "bars: 95% stratified bootstrap intervals of the IQM over instances' episodes",
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8, framealpha=0.9)
    return _save(figure, path)
