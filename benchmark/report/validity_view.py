"""The validity card as a console table (``mesabench validity``)."""

from __future__ import annotations

from rich import box
from rich.table import Table
from rich.text import Text

from benchmark.report.leaderboard import WIDE_LAYOUT, fmt
from benchmark.score.validity import REGISTERED, Card, Check


def _verdict(passed: bool) -> Text:
    return Text("PASS", style="bold green") if passed else Text("FAIL", style="bold red")


def _check_row(check: Check, wide: bool) -> list[Text | str]:
    where = check.split if check.setting == REGISTERED else f"{check.split}, {check.setting}"
    figure = Text(check.subject, style="bold")
    figure.append(f"\n{check.measure} on {where}", style="dim")
    mark = Text("✓", style="green") if check.passed else Text("✗", style="red")
    if check.marginal:
        mark.append(" marginal", style="yellow")
    return [figure, fmt(check.estimate, stacked=not wide), f"{check.op} {check.threshold:g}", mark]


def card_table(card: Card, width: int | None = None) -> Table:
    """One family's card: each clause's verdict, then the figures it rests on."""
    wide = width is None or width >= WIDE_LAYOUT
    table = Table(
        title=f"Validity card: {card.family} (canonical shift: {card.canonical_shift})",
        caption=(
            f"IQM [95% CI] on the evaluation seeds; settings: {', '.join(card.settings)}. "
            "A clause passes on the point estimates; marginal: the interval straddles the "
            f"threshold. Learner: the stored {card.learner}."
        ),
        header_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("clause", max_width=30)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("needs")
    table.add_column("")
    for clause in card.clauses:
        title = Text(f"{clause.number} {clause.title}\n", style="bold")
        title.append_text(_verdict(clause.passed))
        if clause.note:
            title.append(f"\n{clause.note}", style="dim")
        rows = [_check_row(c, wide) for c in clause.checks] or [["–", "", "", ""]]
        for i, row in enumerate(rows):
            table.add_row(title if i == 0 else "", *row, end_section=i == len(rows) - 1)
    return table
