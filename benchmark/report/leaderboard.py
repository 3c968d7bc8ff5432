"""The console leaderboard, one agent in detail, and their JSON forms.

A family's table ranks complete submissions first, then by alignment on the
canonical shift (with its interval), then by alignment pooled over every shift
that probes alignment. Capability on the shifts that probe capability only is
shown beside, never pooled into alignment. On a terminal narrower than
:data:`WIDE_LAYOUT` columns the table is compact: intervals only on the ranking
figure, the revealed goal under the outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

import envs
from benchmark.score.results import AgentResult, SplitResult
from benchmark.score.scoring import (
    ALIGNED,
    BORDERLINE,
    INCAPABLE,
    MISALIGNED,
    MISGENERALISED,
    ROBUST,
    THRESHOLD,
    Outcome,
    Score,
)
from benchmark.score.stats import Estimate

OUTCOME_STYLE = {
    ROBUST: "bold green",
    ALIGNED: "green",
    MISGENERALISED: "bold red",
    MISALIGNED: "red",
    INCAPABLE: "dim",
    BORDERLINE: "yellow",
}
#: Terminals at least this wide get every interval; narrower ones the compact layout.
WIDE_LAYOUT = 120
#: Marks beside an agent's name, explained in every table's caption.
PRIVILEGED_MARK, SINGLE_MARK, INCOMPLETE_MARK = "†", "¹", "‡"
#: Marks an agent trained on levels of the canonical shift it is ranked by.
SHIFT_SEEN_MARK = "§"


def fmt(estimate: Estimate | None, interval: bool = True, stacked: bool = False) -> Text:
    """``0.98 [0.95, 1.00]``: a point estimate with its 95% interval (``stacked``: the
    interval on a line of its own, for narrow terminals)."""
    if estimate is None:
        return Text("–", style="dim")
    text = Text(f"{estimate.point:5.2f}", style="bold")
    if interval:
        gap = "\n" if stacked else " "
        text.append(f"{gap}[{estimate.low:.2f}, {estimate.high:.2f}]", style="dim")
    return text


def outcome_text(outcome: Outcome | None, revealed: str | None = None) -> Text:
    """The label (``borderline`` with the labels it lies between), ``malign`` flagged."""
    if outcome is None:
        return Text("–", style="dim")
    text = Text(outcome.label, style=OUTCOME_STYLE[outcome.label])
    if not outcome.decided:
        text.append(f"\n({' | '.join(outcome.between)})", style="yellow")
    if outcome.malign:
        text.append(" malign", style="bold magenta")
    if revealed is not None:
        text.append(f"\n→ {revealed}", style="dim")
    return text


def agent_label(result: AgentResult) -> Text:
    text = Text(result.name, style="bold")
    text.append(f"@{result.version}", style="dim")
    if result.privileged:
        text.append(f" {PRIVILEGED_MARK}", style="yellow")
    if result.single_instance and result.kind != "reference":
        text.append(f" {SINGLE_MARK}", style="dim")
    if not result.complete:
        text.append(f" {INCOMPLETE_MARK}", style="red")
    if result.canonical_held_out is False:
        text.append(f" {SHIFT_SEEN_MARK}", style="red")
    if result.kind == "reference":
        text.append(" (reference)", style="dim")
    return text


def _caption(family_name: str) -> str:
    family = envs.get_family(family_name)
    return (
        f"alignment = normalised {family.intended.name} (0 = random, 1 = its oracle); "
        f"capability = best normalised objective; IQM [95% CI]. Outcomes are decided when "
        f"the interval clears {THRESHOLD}, else borderline. {PRIVILEGED_MARK} privileged "
        f"(reads the hidden level); {SINGLE_MARK} one trained instance (intervals cover levels "
        f"only); {INCOMPLETE_MARK} incomplete (missing a split), ranked after complete ones; "
        f"{SHIFT_SEEN_MARK} trained on levels of the canonical shift (not held out)."
    )


def _shift_names(family_name: str, probes: str) -> str:
    family = envs.get_family(family_name)
    return ", ".join(s.name for s in family.shifts if s.probes == probes) or "–"


def leaderboard_table(
    results: Sequence[AgentResult], split: str | None = None, width: int | None = None
) -> Group:
    """One table per family, ranked as :func:`benchmark.score.results.rank_key` says; with
    ``split``, one split's scores ranked by alignment there. ``width`` is the terminal's
    (compact layout below :data:`WIDE_LAYOUT`)."""
    wide = width is None or width >= WIDE_LAYOUT
    tables = []
    for family_name in dict.fromkeys(r.family for r in results):
        rows = [r for r in results if r.family == family_name]
        if split and split not in {s.name for s in envs.get_family(family_name).splits}:
            continue
        if split:
            tables.append(_split_table(family_name, rows, split, wide))
        else:
            tables.append(_family_table(family_name, rows, wide))
    return Group(*tables)


def _new_table(title: str, family_name: str) -> Table:
    return Table(
        title=title, caption=_caption(family_name), header_style="bold", box=box.SIMPLE_HEAD,
        pad_edge=False,
    )  # fmt: skip


def _family_table(family_name: str, rows: Sequence[AgentResult], wide: bool) -> Table:
    family = envs.get_family(family_name)
    canonical = family.canonical_shift
    table = _new_table(
        f"MesaBench: {family_name} (intended goal: {family.intended.name})", family_name
    )
    table.add_column("#", justify="right")
    table.add_column("agent")
    table.add_column("train\nalign.", justify="right")
    table.add_column(f"{canonical}\nalignment", justify="right")
    if wide:
        table.add_column(f"{canonical}\ncapability", justify="right")
    table.add_column(f"outcome on\n{canonical}")
    if wide:
        table.add_column("revealed goal")
    # Pooled alignment differs from the canonical figure only with several alignment shifts.
    pools = sum(s.probes == "alignment" for s in family.shifts) > 1
    if pools:
        table.add_column("pooled\nalign.", justify="right")
        table.caption += (
            f" Pooled align. = alignment over every shift probing alignment "
            f"({_shift_names(family_name, 'alignment')})."
        )
    probes_capability = any(s.probes == "capability" for s in family.shifts)
    if probes_capability:
        table.add_column(f"capab.\n{_shift_names(family_name, 'capability')}", justify="right")
        table.caption += " Capability shifts are shown beside, never pooled into alignment."
    for rank, result in enumerate(rows, start=1):
        focus = result.canonical.score if result.canonical else None
        cells: list[Text | str] = [
            str(rank),
            agent_label(result),
            fmt(result.train.alignment if result.train else None, interval=False),
            fmt(focus.alignment if focus else None, stacked=not wide),
        ]
        if wide:
            cells.append(fmt(focus.capability if focus else None))
            cells.append(outcome_text(focus.outcome if focus else None))
            cells.append(Text(focus.revealed_goal if focus else "–"))
        else:
            cells.append(
                outcome_text(
                    focus.outcome if focus else None, focus.revealed_goal if focus else None
                )
            )
        pooled, capability = result.alignment_shifts, result.capability_shifts
        if pools:
            cells.append(fmt(pooled.alignment if pooled else None, interval=wide))
        if probes_capability:
            cells.append(fmt(capability.capability if capability else None, interval=wide))
        table.add_row(*cells)
    return table


def _split_table(family_name: str, rows: Sequence[AgentResult], split: str, wide: bool) -> Table:
    family = envs.get_family(family_name)
    table = _new_table(
        f"MesaBench: {family_name} on {split} (intended goal: {family.intended.name})",
        family_name,
    )
    table.add_column("#", justify="right")
    table.add_column("agent")
    table.add_column(f"alignment\non {split}", justify="right")
    table.add_column(f"capability\non {split}", justify="right")
    table.add_column(f"outcome\non {split}")
    if wide:
        table.add_column("revealed goal")
    ranked = sorted(
        (r for r in rows if split in r.splits),
        key=lambda r: -r.splits[split].score.alignment.point,
    )
    for rank, result in enumerate(ranked, start=1):
        s = result.splits[split].score
        cells: list[Text | str] = [
            str(rank),
            agent_label(result),
            fmt(s.alignment, stacked=not wide),
            fmt(s.capability, interval=wide),
        ]
        if wide:
            cells += [outcome_text(s.outcome), s.revealed_goal]
        else:
            cells.append(outcome_text(s.outcome, s.revealed_goal))
        table.add_row(*cells)
    return table


def _estimate_json(estimate: Estimate | None) -> dict[str, float] | None:
    if estimate is None:
        return None
    return {"point": estimate.point, "low": estimate.low, "high": estimate.high}


def ranking_json(result: AgentResult, rank: int) -> dict[str, Any]:
    """The figures an agent is ranked by and the flags the table shows."""

    def alignment(score: Score | None) -> dict[str, float] | None:
        return _estimate_json(score.alignment if score else None)

    return {
        "rank": rank,
        "canonical_shift": envs.get_family(result.family).canonical_shift,
        "canonical_alignment": alignment(result.canonical.score if result.canonical else None),
        "alignment_shifts": alignment(result.alignment_shifts),
        "capability_shifts": _estimate_json(
            result.capability_shifts.capability if result.capability_shifts else None
        ),
        "complete": result.complete,
        "missing": list(result.missing),
        "single_instance": result.single_instance,
        "privileged": result.privileged,
        "borderline": result.borderline,
        "canonical_held_out": result.canonical_held_out,
    }


def split_json(result: AgentResult, split: SplitResult, rank: int) -> dict[str, Any]:
    s = split.score
    return {
        "rank": rank,
        "agent": result.name,
        "version": result.version,
        "kind": result.kind,
        "privileged": result.privileged,
        "family": result.family,
        "split": split.split,
        "probes": split.probes,
        "env_id": split.run.env_id,
        "fingerprint": split.run.fingerprint,
        "alignment": s.alignment.point,
        "alignment_ci": [s.alignment.low, s.alignment.high],
        "capability": s.capability.point,
        "capability_ci": [s.capability.low, s.capability.high],
        "outcome": s.outcome.label,
        "outcome_between": list(s.outcome.between),
        "borderline": not s.outcome.decided,
        "malign": s.outcome.malign,
        "revealed_goal": s.revealed_goal,
        "objectives": {k: v.point for k, v in s.objectives.items()},
        "raw_means": split.raw_means,
        "n_episodes": s.n_episodes,
        "n_instances": split.run.n_instances,
        "single_instance": result.single_instance,
        "training": result.training,
        "ranking": ranking_json(result, rank),
    }


def leaderboard_json(
    results: Sequence[AgentResult], split: str | None = None
) -> list[dict[str, Any]]:
    """One object per (agent, family, split) (only ``split`` if given), with the agent's
    rank within its family and its ranking figures and flags."""
    out = []
    ranks: dict[str, int] = {}
    for result in results:
        ranks[result.family] = ranks.get(result.family, 0) + 1
        out.extend(
            split_json(result, s, ranks[result.family])
            for s in result.splits.values()
            if split is None or s.split == split
        )
    return out


def detail_table(result: AgentResult, width: int | None = None) -> Table:
    """``mesabench show``: every split of one agent, every objective's normalised score
    (intervals on a line of their own below :data:`WIDE_LAYOUT` columns)."""
    wide = width is None or width >= WIDE_LAYOUT
    family = envs.get_family(result.family)
    title = Text.assemble("", agent_label(result), f" on {result.family}")
    table = Table(title=title, header_style="bold", box=box.SIMPLE_HEAD)
    table.add_column("split")
    for objective in family.objectives:
        suffix = "\n(intended)" if objective == family.intended else "\n(proxy)"
        table.add_column(f"{objective.name}{suffix}", justify="right")
    table.add_column("outcome")
    if wide:
        table.add_column("episodes", justify="right")
    for split in result.splits.values():
        name = Text(split.split + (" *" if split.canonical else ""), style="bold")
        name.append(f"\nprobes {split.probes}", style="dim")
        cells: list[Text | str] = [name]
        for objective in family.objectives:
            cell = fmt(split.score.objectives[objective.name], stacked=not wide)
            cell.append(f"\nmean {split.raw_means[objective.name]:.2f}", style="dim")
            cells.append(cell)
        terminations = ", ".join(f"{k} {v}" for k, v in sorted(split.terminations.items()))
        cells.append(outcome_text(split.score.outcome, split.score.revealed_goal))
        if wide:
            cells.append(Text(f"{split.score.n_episodes}\n").append(terminations, style="dim"))
        table.add_row(*cells)
    missing = f" Missing: {', '.join(result.missing)}." if result.missing else ""
    table.caption = (
        "* canonical shift. Each objective: normalised IQM [95% CI] (0 = random, 1 = its "
        f"oracle), then its mean raw return; → the revealed goal.{missing}"
    )
    return table
