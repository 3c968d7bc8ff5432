"""The console leaderboard, one agent in detail, and their JSON forms."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

import envs
from benchmark.results import AgentResult, SplitResult
from benchmark.scoring import INCAPABLE, MISGENERALISED, ROBUST, THRESHOLD, Score
from benchmark.stats import Estimate

OUTCOME_STYLE = {ROBUST: "bold green", MISGENERALISED: "bold red", INCAPABLE: "dim"}


def fmt(estimate: Estimate | None) -> Text:
    """``0.98 [0.95, 1.00]``: a point estimate with its 95% interval."""
    if estimate is None:
        return Text("–", style="dim")
    text = Text(f"{estimate.point:5.2f}", style="bold")
    text.append(f" [{estimate.low:.2f}, {estimate.high:.2f}]", style="dim")
    return text


def outcome_text(outcome: str | None) -> Text:
    return Text(outcome or "–", style=OUTCOME_STYLE.get(outcome or "", "dim"))


def agent_label(result: AgentResult) -> Text:
    text = Text(result.name, style="bold")
    text.append(f"@{result.version}", style="dim")
    if result.privileged:
        text.append(" †", style="yellow")
    if result.kind == "reference":
        text.append(" (reference)", style="dim")
    return text


def leaderboard_table(results: Sequence[AgentResult], split: str | None = None) -> Group:
    """One table per family: a row per agent, ranked by alignment on the shifts."""
    tables = []
    families = list(dict.fromkeys(r.family for r in results))
    for family_name in families:
        family = envs.get_family(family_name)
        rows = [r for r in results if r.family == family_name]
        focus = split or family.canonical_shift
        shift_title = f"on {split}" if split else "on the shifts"
        table = Table(
            title=f"MesaBench leaderboard: {family_name}  (intended goal: {family.intended.name})",
            caption=(
                f"alignment = normalised {family.intended.name}; capability = best normalised "
                f"objective; IQM [95% CI]. Outcome threshold {THRESHOLD}. "
                "† privileged: reads the hidden level state."
            ),
            header_style="bold",
        )
        table.add_column("#", justify="right")
        table.add_column("agent")
        table.add_column("alignment\non train", justify="right")
        table.add_column("capability\non train", justify="right")
        table.add_column(f"alignment\n{shift_title}", justify="right")
        table.add_column(f"capability\n{shift_title}", justify="right")
        table.add_column(f"outcome\non {focus}")
        table.add_column(f"revealed goal\non {focus}")
        for rank, result in enumerate(rows, start=1):
            shifted: Score | None
            if split:
                chosen = result.splits.get(split)
                shifted = chosen.score if chosen else None
            else:
                shifted = result.shifts
            focus_result = result.splits.get(focus)
            table.add_row(
                str(rank),
                agent_label(result),
                fmt(result.train.alignment if result.train else None),
                fmt(result.train.capability if result.train else None),
                fmt(shifted.alignment if shifted else None),
                fmt(shifted.capability if shifted else None),
                outcome_text(focus_result.score.outcome if focus_result else None),
                Text(focus_result.score.revealed_goal if focus_result else "–"),
            )
        tables.append(table)
    return Group(*tables)


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
        "env_id": split.run.env_id,
        "fingerprint": split.run.fingerprint,
        "alignment": s.alignment.point,
        "alignment_ci": [s.alignment.low, s.alignment.high],
        "capability": s.capability.point,
        "capability_ci": [s.capability.low, s.capability.high],
        "outcome": s.outcome,
        "revealed_goal": s.revealed_goal,
        "objectives": {k: v.point for k, v in s.objectives.items()},
        "raw_means": split.raw_means,
        "n_episodes": s.n_episodes,
        "n_instances": split.run.n_instances,
    }


def leaderboard_json(results: Sequence[AgentResult]) -> list[dict[str, Any]]:
    """One object per (agent, family, split), with the agent's rank within its family."""
    out = []
    ranks: dict[str, int] = {}
    for result in results:
        ranks[result.family] = ranks.get(result.family, 0) + 1
        out.extend(split_json(result, s, ranks[result.family]) for s in result.splits.values())
    return out


def detail_table(result: AgentResult) -> Table:
    """``mesabench show``: every split of one agent, every objective's normalised score."""
    family = envs.get_family(result.family)
    title = Text.assemble("", agent_label(result), f" on {result.family}")
    table = Table(title=title, header_style="bold")
    table.add_column("split")
    table.add_column("probes")
    for objective in family.objectives:
        suffix = "\n(intended)" if objective == family.intended else "\n(proxy)"
        table.add_column(f"{objective.name}{suffix}", justify="right")
    table.add_column("outcome")
    table.add_column("revealed goal")
    table.add_column("episodes", justify="right")
    table.add_column("terminations")
    for split in result.splits.values():
        cells: list[Text | str] = [split.split + (" *" if split.canonical else ""), split.probes]
        for objective in family.objectives:
            cell = fmt(split.score.objectives[objective.name])
            cell.append(f"\nmean return {split.raw_means[objective.name]:.2f}", style="dim")
            cells.append(cell)
        cells += [
            outcome_text(split.score.outcome),
            split.score.revealed_goal,
            f"{split.score.n_episodes}",
            ", ".join(f"{k} {v}" for k, v in sorted(split.terminations.items())),
        ]
        table.add_row(*cells)
    table.caption = (
        "* canonical shift. Each objective: normalised IQM [95% CI] (0 = random, 1 = its "
        "oracle), then the mean raw return."
    )
    return table
