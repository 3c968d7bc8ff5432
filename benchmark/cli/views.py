"""``mesabench`` commands that draw, compare and export (registered on
:data:`benchmark.cli.app.app`).

* ``sweep``: evaluate stored agents along a family's shift knob and draw the
  generalisation curve;
* ``plot curve`` / ``plot map``: draw from stored results without evaluating;
* ``replay``: one episode as an animated GIF;
* ``compare``: probability of improvement and paired differences of two agents;
* ``export``: every stored run and its scores as JSON or CSV.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

import envs
from benchmark.cli.app import (
    AddressOption,
    BatchOption,
    DbOption,
    ExecutorOption,
    ProgressOption,
    WorkersOption,
    app,
    console,
    engine_for,
    errors,
    executor_for,
    show_progress,
    usage_error,
    warn_problems,
)
from benchmark.evaluate.runner import DEFAULT_BATCH_SIZE
from envs.family import Family, UnknownNameError

plot_app = typer.Typer(
    help="Draw figures from stored results (nothing is evaluated).", no_args_is_help=True
)
app.add_typer(plot_app, name="plot")

OutDir = Annotated[Path, typer.Option("--out", "-o", help="Directory the PNG is written to.")]
ROLES = {
    "none": "training distribution",
    "alignment": "goal shift (probes alignment)",
    "capability": "layout shift (probes capability)",
}
FamilyName = Annotated[str, typer.Option("--family", "-f", help="Family name.")]
OverwriteOption = Annotated[
    bool, typer.Option("--overwrite", help="Replace the figure file if it already exists.")
]


def _new_file(path: Path, overwrite: bool) -> Path:
    """``path``, unless a file is there already and replacing it was not asked for."""
    if path.exists() and not overwrite:
        raise usage_error(
            f"{path} already exists: pass --overwrite to replace it, or write elsewhere (--out)"
        )
    return path


def _curve_path(out: Path, family: Family) -> Path:
    return out / f"curve_{family.name}.png"


def _family(name: str) -> Family:
    try:
        return envs.get_family(name)
    except UnknownNameError as error:
        raise usage_error(str(error)) from None


def _agent(engine, name: str, version: str | None = None):
    from benchmark.score.results import NotStoredError, stored_agent

    try:
        return stored_agent(engine, name, version)
    except (UnknownNameError, NotStoredError) as error:
        raise usage_error(str(error)) from None


SeedsOption = Annotated[
    int | None,
    typer.Option(
        "--seeds", min=1,
        help="Only the first N of the canonical shift's seeds (a quick look; stored and drawn "
        "apart from full sweeps).",
    ),
]  # fmt: skip


def _draw_curves(engine, family: Family, records, path: Path, n_seeds: int | None = None) -> Path:
    from benchmark.report.plots import CurvePoint, CurveSeries, curve_figure
    from benchmark.score.results import Scorer
    from benchmark.score.sweep import load_curve

    scorer = Scorer(engine)
    series = []
    for record in records:
        curve = load_curve(engine, record, family, scorer=scorer, n_seeds=n_seeds)
        for problem in curve.problems:
            errors.print(f"[yellow]warning:[/] {record.label}: {problem}")
        if not curve.points:
            quick = f" --seeds {n_seeds}" if n_seeds else ""
            raise usage_error(
                f"{record.label} has no scored sweep runs on {family.name}{quick}: run "
                f"`mesabench sweep {record.name} --family {family.name}{quick}` first"
            )
        series.append(
            CurveSeries(
                record.label,
                [
                    CurvePoint(
                        p.shift, p.score.alignment, p.score.capability, p.score.outcome.label
                    )
                    for p in curve.points
                ],
            )
        )
        table = Table(title=f"{record.label} on {family.name}: generalisation curve")
        for column in ("shift", "alignment [95% CI]", "capability [95% CI]", "outcome", "revealed"):
            table.add_column(column)
        for p in curve.points:
            s = p.score
            table.add_row(
                f"{p.shift:.2f}",
                f"{s.alignment.point:.2f} [{s.alignment.low:.2f}, {s.alignment.high:.2f}]",
                f"{s.capability.point:.2f} [{s.capability.low:.2f}, {s.capability.high:.2f}]",
                str(s.outcome),
                s.revealed_goal,
            )
        console.print(table)
    path = curve_figure(
        series, path, family=family.name,
        canonical_shift=family.canonical_shift, intended=family.intended.name,
    )  # fmt: skip
    console.print(f"wrote {path}")
    return path


@app.command()
def sweep(
    names: Annotated[list[str], typer.Argument(help="Stored agent names (one curve each).")],
    family: FamilyName,
    points: Annotated[
        int, typer.Option("--points", "-p", min=2, help="Points from 0 (train) to 1.")
    ] = 6,
    out: OutDir = Path("plots"),
    seeds: SeedsOption = None,
    overwrite: OverwriteOption = False,
    workers: WorkersOption = 2,
    batch_size: BatchOption = DEFAULT_BATCH_SIZE,
    executor: ExecutorOption = "local",
    address: AddressOption = None,
    db: DbOption = None,
    progress: ProgressOption = None,
) -> None:
    """Evaluate stored agents along the family's shift knob; draw the generalisation curve.

    Runs (and each point's reference runs) are stored like any other and re-used
    when already stored.
    """
    from benchmark.evaluate.submission import FAILED
    from benchmark.score.results import NotStoredError
    from benchmark.score.sweep import run_sweep, sweep_points

    engine = engine_for(db)
    chosen = _family(family)
    path = _new_file(_curve_path(out, chosen), overwrite)  # before minutes of evaluation
    records = [_agent(engine, name) for name in names]
    failed = False
    with executor_for(executor, address, workers) as where:
        for record in records:
            try:
                outcomes = run_sweep(
                    engine, record, chosen, sweep_points(points), workers=workers,
                    batch_size=batch_size, progress=show_progress(progress), n_seeds=seeds,
                    executor=where,
                )  # fmt: skip
            except NotStoredError as error:
                raise usage_error(str(error)) from None
            for outcome in outcomes:
                if outcome.status == FAILED:
                    failed = True
                    errors.print(f"[bold red]failed:[/] {outcome.message} (nothing of it stored)")
            stored = sum(o.status == "stored" for o in outcomes)
            reused = sum(o.status == "reused" for o in outcomes)
            console.print(f"[dim]{record.label}: {stored} runs stored, {reused} re-used[/]")
    _draw_curves(engine, chosen, records, path, seeds)
    if failed:
        raise typer.Exit(1)


@plot_app.command("curve")
def plot_curve(
    names: Annotated[list[str], typer.Argument(help="Stored agent names (one curve each).")],
    family: FamilyName,
    out: OutDir = Path("plots"),
    seeds: SeedsOption = None,
    overwrite: OverwriteOption = False,
    db: DbOption = None,
) -> None:
    """The generalisation curve from stored sweep runs (see `mesabench sweep`)."""
    engine = engine_for(db, create=False)
    chosen = _family(family)
    path = _new_file(_curve_path(out, chosen), overwrite)
    _draw_curves(engine, chosen, [_agent(engine, name) for name in names], path, seeds)


@plot_app.command("map")
def plot_map(
    family: Annotated[str | None, typer.Option("--family", "-f", help="Only this family.")] = None,
    train: Annotated[
        bool, typer.Option("--train/--no-train", help="Include a train panel for reference.")
    ] = True,
    out: OutDir = Path("plots"),
    overwrite: OverwriteOption = False,
    db: DbOption = None,
) -> None:
    """The misgeneralisation map: capability against alignment per shift split, from the
    stored leaderboard, robust / misgeneralised / incapable regions shaded."""
    from benchmark.report.plots import MapPanel, MapPoint, map_figure
    from benchmark.score.results import Scorer

    engine = engine_for(db, create=False)
    if family is not None:
        _family(family)
    path = _new_file(out / (f"map_{family}.png" if family else "map.png"), overwrite)
    results = Scorer(engine).agent_results(family=family)
    warn_problems(results)  # a corrupt or reference-less run is named, and left out
    if not results:
        raise usage_error("the leaderboard is empty: submit an agent first (or `mesabench demo`)")
    panels = []
    for fam in envs.FAMILIES.values():
        mine = sorted((r for r in results if r.family == fam.name), key=lambda r: r.label)
        splits = (fam.splits if train else fam.shifts) if mine else ()
        for split in splits:
            points = [
                MapPoint(r.label, s.score.alignment, s.score.capability, s.score.outcome.label)
                for r in mine
                if (s := r.splits.get(split.name)) is not None
            ]
            if not points:
                continue
            role = ROLES.get(split.probes, "")
            if split.name == fam.canonical_shift:
                role += ", canonical"
            panels.append(
                MapPanel(fam.name, split.name, role, points, on_train=split.name == "train")
            )
    path = map_figure(panels, path)
    console.print(f"wrote {path}")


@app.command()
def replay(
    name: Annotated[str, typer.Argument(help="Stored agent name.")],
    family: FamilyName,
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            "-s",
            help="Split, or a shift point such as shift=0.40 (default: the canonical shift).",
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Level seed (default: the split's first).")
    ] = None,
    version: Annotated[str | None, typer.Option("--version", "-v")] = None,
    fps: Annotated[int, typer.Option("--fps", min=1, max=50)] = 8,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", min=1, help="Record at most this many steps.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="GIF file to write.")] = None,
    overwrite: OverwriteOption = False,
    db: DbOption = None,
) -> None:
    """Record one episode of a stored agent as an animated GIF, objectives beside each frame."""
    from benchmark.evaluate.agents import AgentLoadError, resolve_stored
    from benchmark.evaluate.sandbox import AgentProblem
    from benchmark.protocol import UnsupportedFamily
    from benchmark.report.replay import record, write_gif
    from benchmark.score.sweep import target_for

    engine = engine_for(db, create=False)
    chosen = _family(family)
    split_name = split or chosen.canonical_shift
    try:
        target = target_for(chosen, split_name)
    except (UnknownNameError, ValueError) as error:
        raise usage_error(str(error)) from None
    level = target.seeds[0] if seed is None else seed
    path = _new_file(
        out or Path(f"replay_{name}_{chosen.name}_{split_name}_{level}.gif"), overwrite
    )
    stored = _agent(engine, name, version)
    try:
        source = resolve_stored(stored.source)
    except AgentLoadError as error:
        raise usage_error(f"cannot load {stored.label} from {stored.source!r}: {error}") from None
    if source.checksum != stored.checksum:
        console.print(f"[yellow]note:[/] {stored.source} changed since {stored.label} was stored")
    try:
        recording = record(source, chosen, target, level, max_steps=max_steps)
    except UnsupportedFamily as error:
        raise usage_error(f"{stored.label} does not play {chosen.name}: {error}") from None
    except AgentProblem as problem:
        errors.print(f"[bold red]failed:[/] {escape(f'{stored.label}: {problem}')}")
        raise typer.Exit(1) from None
    recording.agent = stored.label
    write_gif(recording, path, fps=fps)
    final = ", ".join(f"{k} {v:g}" for k, v in recording.totals[-1].items())
    console.print(
        f"wrote {path}: {recording.length} steps, {recording.termination or 'ended'}; {final}"
    )


@app.command()
def compare(
    a: Annotated[str, typer.Argument(help="Stored agent A.")],
    b: Annotated[str, typer.Argument(help="Stored agent B.")],
    family: Annotated[str | None, typer.Option("--family", "-f", help="Only this family.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    db: DbOption = None,
) -> None:
    """Is A better than B? Probability of improvement and paired differences, with 95% CIs."""
    from benchmark.score.compare import compare as run_compare
    from benchmark.score.results import NotStoredError

    engine = engine_for(db, create=False)
    if family is not None:
        _family(family)
    _agent(engine, a)
    _agent(engine, b)
    try:
        result = run_compare(engine, a, b, family=family)
    except (UnknownNameError, NotStoredError) as error:
        raise usage_error(str(error)) from None
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        return

    def interval(e) -> str:
        return f"{e.point:+.3f} [{e.low:+.3f}, {e.high:+.3f}]"

    table = Table(title=f"{result.a} (A) vs {result.b} (B)")
    table.add_column("family")
    table.add_column("split(s)")
    table.add_column("P(A > B) alignment [95% CI]", justify="right")
    table.add_column("alignment A − B [95% CI]", justify="right")
    table.add_column("capability A − B [95% CI]", justify="right")
    for row in result.rows:
        aggregate = row.split in ("all splits", "overall")
        where = f"{row.split} ({row.n_splits} strata)" if aggregate else row.split
        poi = row.improvement
        table.add_row(
            row.family,
            where + (" *" if row.averaged else ""),
            f"{poi.point:.3f} [{poi.low:.3f}, {poi.high:.3f}]",
            interval(row.alignment),
            interval(row.capability) if row.capability else "—",
            style="bold" if aggregate else None,
        )
    table.caption = (
        "P(A > B): probability that an episode of A scores a higher alignment than one of B "
        "(0.5 = no difference; rliable's definition, splits as strata). Differences are of the "
        "IQM of normalised scores, paired on the same seeds."
        + (
            " * instances averaged per seed before pairing."
            if any(r.averaged for r in result.rows)
            else ""
        )
    )
    table.caption_justify = "left"
    console.print(table)
    for note in dict.fromkeys(result.notes):
        console.print(f"[yellow]note:[/] {note}")


@app.command()
def export(
    fmt: Annotated[str, typer.Option("--format", help="json or csv.")] = "json",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File (default: stdout).")] = None,
    episodes: Annotated[
        bool, typer.Option("--episodes", help="Include raw episode rows (CSV: one per row).")
    ] = False,
    db: DbOption = None,
) -> None:
    """Every stored run and its scores, with environment fingerprints and versions."""
    from benchmark.store.export import FORMATS, export_runs, to_csv, to_json

    if fmt not in FORMATS:
        raise usage_error(f"unknown --format {fmt!r}: expected one of {', '.join(FORMATS)}")
    engine = engine_for(db, create=False)
    corrupt: list[str] = []
    runs = export_runs(engine, episodes=episodes, corrupt=corrupt)
    for problem in corrupt:  # exported without scores, and said so
        errors.print(f"[yellow]warning:[/] {escape(problem)}")
    text = to_json(runs) if fmt == "json" else to_csv(runs, episodes=episodes)
    if out is None:
        sys.stdout.write(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    errors.print(f"wrote {len(runs)} runs to {out}")


@app.command()
def validity(
    family: Annotated[str | None, typer.Option("--family", "-f", help="Only this family.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts and CI.")] = False,
    evaluate: Annotated[
        bool,
        typer.Option(
            "--evaluate/--stored",
            help="Evaluate (and store) reference runs the card needs that are not stored yet "
            "(default), or only read stored runs and fail if one is missing.",
        ),
    ] = True,
    version: Annotated[
        int | None,
        typer.Option(
            "--version",
            help="The card of this version of the family (with --family; default: the "
            "registered one). An older version's card reads the runs stored on its ids.",
        ),
    ] = None,
    workers: WorkersOption = 2,
    db: DbOption = None,
    progress: ProgressOption = None,
) -> None:
    """DESIGN's validity card per family: is it a test of goal misgeneralisation?

    Six clauses, each figure with its 95% interval, pass or fail: the intended
    oracle; coincidence of a proxy pursuer on train; its separation on the
    canonical shift; both at the ends of every nuisance knob; learnability and
    learned misgeneralisation of the stored PPO baseline. Exit 0 when every card
    was measured (whatever it says), 3 when one could not be, 2 when there is no
    database (``--stored`` never creates one).
    """
    from benchmark.evaluate.submission import FAILED
    from benchmark.score.results import NotStoredError
    from benchmark.score.validity import cards, evaluate_references

    chosen = [_family(family)] if family else list(envs.FAMILIES.values())
    if version is not None:
        if not family:
            raise typer.BadParameter("--version needs --family", param_hint="--version")
        try:
            chosen = [chosen[0].at_version(version)]
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--version") from None
    engine = engine_for(db, create=evaluate)
    if evaluate:
        for fam in chosen:
            outcomes = evaluate_references(
                engine, fam, workers=workers, progress=show_progress(progress) and not as_json
            )
            failed = [o for o in outcomes if o.status == FAILED]
            for o in failed:
                errors.print(f"[bold red]failed:[/] {o.message} (nothing of it stored)")
            if failed:
                raise typer.Exit(3)
    try:
        measured = cards(engine, chosen)
    except NotStoredError as error:
        errors.print(f"[bold red]error:[/] {error}")
        raise typer.Exit(3) from None
    if as_json:
        print(json.dumps([c.to_dict() for c in measured], indent=2))
        return
    from benchmark.report.validity_view import card_table

    for c in measured:
        console.print(card_table(c, width=console.width))
