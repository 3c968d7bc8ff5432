"""The ``mesabench`` command line (also ``python -m benchmark``).

Exit codes: 0 success; 1 a check found a regression or a run failed; 2 bad usage
(unknown names, unloadable agents, bad options, an unwritable database), always
found before any evaluation starts; 3 ``check`` could not evaluate.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

import envs
from benchmark.evaluate.agents import AgentLoadError, resolve
from benchmark.evaluate.runner import DEFAULT_BATCH_SIZE, preflight, select_targets
from benchmark.evaluate.sandbox import Limits, isolation_note
from benchmark.store import storage
from benchmark.store.storage import SubmissionConflictError
from envs.family import UnknownNameError

app = typer.Typer(
    name="mesabench",
    help="MesaBench: does an agent keep the intended goal when the world shifts?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Off a terminal (CI logs, pipes) rich would wrap tables at 80 columns; give them room.
_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
console = Console(width=_WIDTH, emoji=False)
errors = Console(stderr=True, width=_WIDTH, emoji=False)

REPO = Path(__file__).resolve().parents[2]

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="SQLAlchemy URL (default: $MESABENCH_DB or sqlite:///results.db)"),
]
FamilyOption = Annotated[
    list[str] | None, typer.Option("--family", "-f", help="Only this family (repeatable).")
]
SplitOption = Annotated[
    list[str] | None, typer.Option("--split", "-s", help="Only this split (repeatable).")
]
WorkersOption = Annotated[
    int, typer.Option("--workers", "-j", min=1, help="Processes evaluating splits in parallel.")
]
BatchOption = Annotated[
    int, typer.Option("--batch-size", min=1, help="Levels stepped together in one batch.")
]
ProgressOption = Annotated[
    bool | None,
    typer.Option("--progress/--no-progress", help="Progress bar (default: on a terminal)."),
]
ExecutorOption = Annotated[
    str,
    typer.Option(
        "--executor",
        help="Where runs are evaluated: local (a process pool of --workers) or ray (a Ray "
        "cluster, one task per seed shard; pip install 'mesabench[ray]').",
    ),
]
AddressOption = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="The Ray cluster to use with --executor ray (e.g. auto, or head-node:6379); "
        "default: a local one started for the command.",
    ),
]
_DEFAULT_LIMITS = Limits()
ActTimeoutOption = Annotated[
    float,
    typer.Option("--act-timeout", min=0.01, help="Seconds an agent may take per act() call."),
]
StartupTimeoutOption = Annotated[
    float,
    typer.Option(
        "--startup-timeout", min=0.01, help="Seconds an agent may take to import and build."
    ),
]
CpuLimitOption = Annotated[
    int, typer.Option("--cpu-limit", min=1, help="CPU seconds an agent may use per run (split).")
]
MemoryLimitOption = Annotated[
    int, typer.Option("--memory-limit", min=64, help="Address space of an agent process, MB.")
]
ProcessesOption = Annotated[
    int,
    typer.Option("--max-processes", min=1, help="Processes an agent may run, itself included."),
]


def limits_of(
    act_timeout: float, startup_timeout: float, cpu_limit: int, memory_limit: int,
    max_processes: int,
) -> Limits:  # fmt: skip
    return Limits(
        act_seconds=act_timeout,
        startup_seconds=startup_timeout,
        cpu_seconds=cpu_limit,
        memory_mb=memory_limit,
        processes=max_processes,
    )


#: What a name or version on the leaderboard may be: no markup, spaces or control characters.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


def valid_name(kind: str, value: str) -> str:
    if not _NAME.fullmatch(value):
        raise usage_error(
            f"invalid {kind} {value!r}: use 1 to 64 letters, digits and . _ + - "
            "(starting with a letter or digit)"
        )
    return value


def writable(engine):
    """The engine, once a write to its database is known to work (else exit 2 now)."""
    try:
        with engine.connect() as connection:
            # A write that changes nothing, rolled back: refused on a read-only database.
            connection.exec_driver_sql("DELETE FROM submissions WHERE 1 = 0")
            connection.rollback()
    except Exception as error:  # read-only file or directory, permissions, server refusal
        cause = getattr(error, "orig", None) or error  # the driver's sentence, not the SQL
        url = storage.display_url(engine.url.render_as_string(hide_password=False))
        raise usage_error(
            f"cannot write to the database {url}: {storage.scrub(str(cause))}"
        ) from None
    return engine


def note_isolation(untrusted: bool) -> None:
    """Say (once: each command calls this once) when submitted agents run without bwrap."""
    note = isolation_note() if untrusted else None
    if note is not None:
        errors.print(f"[yellow]note:[/] {escape(note)}")


def usage_error(message: str) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {escape(storage.scrub(message))}")
    return typer.Exit(2)


def engine_for(db: str | None, *, create: bool = True):
    """The database engine; ``create=False`` for commands that only read (they never
    create a database or tables, nor upgrade one: a missing or older one is a usage
    error). Commands that write upgrade an older schema in place."""
    url = db or storage.default_url()
    storage.display_url(url)  # its password is hidden from every message from now on
    try:
        return storage.make_engine(url, create=create)
    except (
        storage.NoDatabaseError,
        storage.SchemaOutOfDateError,
        storage.DatabaseDriverError,
        storage.DatabaseUnavailableError,
    ) as error:
        raise usage_error(str(error)) from None
    except Exception as error:  # a bad URL, a server refusing what we asked
        cause = getattr(error, "orig", None) or error  # the driver's sentence, not the SQL
        raise usage_error(f"cannot open database {storage.display_url(url)}: {cause}") from None


def executor_for(kind: str, address: str | None, workers: int):
    """The executor the options name, ready (a Ray cluster reached) before any evaluation;
    bad options or an unreachable cluster exit 2. Use it as a context manager."""
    from benchmark.evaluate.executors import ExecutorUnavailable, make_executor

    try:
        return make_executor(kind, workers=workers, address=address)
    except (ValueError, ExecutorUnavailable) as error:
        raise usage_error(str(error)) from None


def show_progress(flag: bool | None) -> bool:
    return console.is_terminal if flag is None else flag


@app.command("envs")
def list_envs(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List families and their splits: the line that makes each, objectives and seeds."""
    families = list(envs.FAMILIES.values())
    if as_json:
        payload = [
            {
                "family": f.name,
                "kind": f.kind,
                "objectives": list(f.objective_names),
                "intended": f.intended.name,
                "canonical_shift": f.canonical_shift,
                "references": list(f.reference_names),
                "nuisance": [
                    {"kwarg": k.name, "low": k.low, "high": k.high, "description": k.description}
                    for k in f.nuisance
                ],
                "import": f.import_line,
                "splits": [
                    {
                        "split": s.name,
                        "env_id": s.env_id,
                        "make": f.make_line(s.name),
                        "training_view_id": f.view_id(s.name) if f.view_entry_point else None,
                        "version": s.version,
                        "probes": s.probes,
                        "n_seeds": len(s.eval_seeds),
                        "seeds": [min(s.eval_seeds), max(s.eval_seeds)],
                        "kwargs": dict(s.kwargs),
                        "description": s.description,
                    }
                    for s in f.splits
                ],
                "legacy_env_ids": [s.env_id for s in f.legacy_splits],
            }
            for f in families
        ]
        print(json.dumps(payload, indent=2, default=str))
        return
    for family in families:
        kind = "Gymnasium" if family.kind == "gymnasium" else "PettingZoo ParallelEnv"
        table = Table(title=f"{family.name} ({kind})", title_justify="left", show_lines=True)
        table.add_column("split", no_wrap=True)
        lines = {s.name: family.make_line(s.name) for s in family.splits}
        table.add_column(
            f"make it, after `{family.import_line}`",
            min_width=max(len(line) for line in lines.values()),
        )
        for split in family.splits:
            mark = " *" if split.name == family.canonical_shift else ""
            probes = "" if split.probes == "none" else f" Probes {split.probes}."
            seeds = f"{len(split.eval_seeds)} eval seeds from {min(split.eval_seeds)}."
            about = Text(f"{split.description}{probes} {seeds}", style="dim")
            table.add_row(
                split.name + mark, Text.assemble((lines[split.name], "cyan"), "\n", about)
            )
        objectives = ", ".join(
            f"[bold]{o.name}[/] (intended)" if i == 0 else f"{o.name} (proxy)"
            for i, o in enumerate(family.objectives)
        )
        legacy = ", ".join(s.env_id for s in family.legacy_splits)
        view = (
            f" Single-agent Gymnasium view to train on: {family.view_id('train')} "
            "(and likewise for each split)."
            if family.kind == "pettingzoo" and family.view_entry_point
            else ""
        )
        knobs = "; ".join(
            f"{k.name} {k.low:g}x to {k.high:g}x ({k.description})" for k in family.nuisance
        )
        table.caption = (
            f"objectives: {objectives}. references: {', '.join(family.reference_names)}. "
            "* canonical shift."
            + (f" Nuisance knobs (verdicts must hold over): {knobs}." if knobs else "")
            + view
            + (f" Older versions, still registered: {legacy}" if legacy else "")
        )
        table.caption_justify = "left"
        console.print(table)


def _targets(family: list[str] | None, split: list[str] | None):
    try:
        return select_targets(family, split)
    except UnknownNameError as error:
        raise usage_error(str(error)) from None


def agent_jobs(
    engine, reference: str, name: str, version: str | None, targets, kind: str, limits: Limits
):
    """The jobs that evaluate one agent on the ``targets`` it plays, under its chosen version.

    Everything wrong with the agent's reference is found here, before evaluation (exit 2).
    """
    from benchmark.evaluate.submission import Job

    valid_name("name", name)
    if version is not None:
        valid_name("version", version)
    try:
        source = resolve(reference)
        targets = preflight(source, targets, limits)
    except AgentLoadError as error:
        raise usage_error(str(error)) from None
    # The name and version are claimed now, atomically, so that a concurrent submit of
    # another agent under the same name gets another version before either evaluates.
    info = storage.SubmissionInfo(name, version or "next", source.checksum, source.reference, kind)
    try:
        version, _ = storage.claim_submission(engine, info, version)
    except SubmissionConflictError as conflict:
        raise usage_error(f"{conflict} Omit --version to take the next free one.") from None
    for other in storage.submissions_by_checksum(engine, source.checksum):
        if other.name != name:
            console.print(f"[dim]note: the same agent is stored as {other.label}[/]")
    return [Job(source, name, version, kind, t) for t in targets]


def evaluate_agents(
    engine,
    jobs,
    *,
    workers: int = 2,
    batch_size: int = DEFAULT_BATCH_SIZE,
    fail_fast: bool = False,
    progress: bool = True,
    limits: Limits = _DEFAULT_LIMITS,
    executor=None,
) -> bool:
    """Evaluate agents' jobs (and missing references) into the database, all on one
    executor, and say what became of each agent. True if no run failed."""
    from benchmark.evaluate.submission import (
        FAILED,
        REUSED,
        SKIPPED,
        STORED,
        reference_jobs,
        run_jobs,
    )

    note_isolation(untrusted=not all(job.source.trusted for job in jobs))
    targets = list({job.target.fingerprint: job.target for job in jobs}.values())
    references = reference_jobs(targets)
    # References are needed only to score, not to evaluate: one pool runs everything.
    everything = run_jobs(
        engine, [*references, *jobs], workers=workers, batch_size=batch_size,
        fail_fast=fail_fast, progress=progress, limits=limits, executor=executor,
    )  # fmt: skip
    ref_failures = [o for o in everything if o.kind == "reference" and o.status == FAILED]
    for failure in ref_failures:
        errors.print(f"[red]reference failed:[/] {escape(failure.message)}")
    outcomes = [o for o in everything if o.kind != "reference"]
    labels = {job.name: f"{job.name}@{job.version}" for job in jobs}
    for name, label in labels.items():
        mine = [o for o in outcomes if o.name == name]
        reused = [o for o in mine if o.status == REUSED]
        stored = [o for o in mine if o.status == STORED]
        if reused and len(reused) == len(mine):
            console.print(
                f"[dim]{label}: all {len(reused)} runs already stored for this exact agent, "
                "environment and seeds; re-used, not evaluated again[/]"
            )
        elif reused:
            console.print(f"[dim]{label}: {len(reused)} runs re-used from the database[/]")
        if stored:
            console.print(f"{label}: stored {len(stored)} new runs")
        for outcome in mine:
            if outcome.status == FAILED:
                errors.print(
                    f"[bold red]failed:[/] {escape(outcome.message)} (nothing of it stored)"
                )
            elif outcome.status == SKIPPED:
                console.print(
                    f"[dim]{name}: {outcome.target.label} skipped: {escape(outcome.message)}[/]"
                )
    return not ref_failures and not any(o.status == FAILED for o in outcomes)


@app.command()
def submit(
    agent: Annotated[str, typer.Argument(help="file.py:factory, module:factory, .pt or dir")],
    name: Annotated[str, typer.Option("--name", "-n", help="Name on the leaderboard.")],
    version: Annotated[
        str | None, typer.Option("--version", "-v", help="Default: same or next version.")
    ] = None,
    family: FamilyOption = None,
    split: SplitOption = None,
    workers: WorkersOption = 2,
    batch_size: BatchOption = DEFAULT_BATCH_SIZE,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", help="Stop at the first failed run.")
    ] = False,
    executor: ExecutorOption = "local",
    address: AddressOption = None,
    db: DbOption = None,
    progress: ProgressOption = None,
    act_timeout: ActTimeoutOption = _DEFAULT_LIMITS.act_seconds,
    startup_timeout: StartupTimeoutOption = _DEFAULT_LIMITS.startup_seconds,
    cpu_limit: CpuLimitOption = _DEFAULT_LIMITS.cpu_seconds,
    memory_limit: MemoryLimitOption = _DEFAULT_LIMITS.memory_mb,
    max_processes: ProcessesOption = _DEFAULT_LIMITS.processes,
) -> None:
    """Evaluate an agent on every split (or those chosen), store it, show where it ranks.

    The agent runs in a process of its own under the limits below (sandboxed by
    bubblewrap where it is installed); a run that breaks one fails and stores nothing.
    """
    limits = limits_of(act_timeout, startup_timeout, cpu_limit, memory_limit, max_processes)
    engine = writable(engine_for(db))
    jobs = agent_jobs(engine, agent, name, version, _targets(family, split), "agent", limits)
    with executor_for(executor, address, workers) as where:
        ok = evaluate_agents(
            engine, jobs, workers=workers, batch_size=batch_size, fail_fast=fail_fast,
            progress=show_progress(progress), limits=limits, executor=where,
        )  # fmt: skip
    # Only the boards of the families just evaluated: the others did not change.
    evaluated = list(dict.fromkeys(job.target.family for job in jobs))
    _print_leaderboard(engine, family=None, split=None, highlight=name, families=evaluated)
    if not ok:
        raise typer.Exit(1)


def _print_leaderboard(
    engine, family, split, highlight: str | None = None, families: list[str] | None = None
) -> None:
    from benchmark.report.leaderboard import leaderboard_table
    from benchmark.score.results import Scorer

    # Every split is scored even for one split's table: a shift's outcome depends on train.
    results = Scorer(engine).agent_results(family=family)
    if families is not None:
        results = [r for r in results if r.family in families]
    if not results:
        console.print("[dim]The leaderboard is empty: submit an agent first.[/]")
        return
    console.print(leaderboard_table(results, split, width=console.width))
    if highlight:
        for result in results:
            if result.name == highlight:
                ranked = [r for r in results if r.family == result.family]
                console.print(
                    f"{result.label} ranks {ranked.index(result) + 1} of {len(ranked)} "
                    f"on {result.family}"
                )
    warn_problems(results)


def warn_problems(results) -> None:
    """Say on stderr what could not be scored (a corrupt or reference-less run is named
    there, and its split is missing from the tables)."""
    for result in results:
        for problem in result.problems:
            errors.print(f"[yellow]warning:[/] {result.label}: {escape(problem)}")


@app.command()
def leaderboard(
    family: Annotated[str | None, typer.Option("--family", "-f")] = None,
    split: Annotated[str | None, typer.Option("--split", "-s")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts and CI.")] = False,
    db: DbOption = None,
) -> None:
    """The leaderboard: one row per agent, ranked by alignment on the canonical shift.

    Complete submissions rank first; the pooled alignment-probing shifts break
    ties; capability-probing shifts are shown beside. ``--split`` ranks one split.
    """
    from benchmark.report.leaderboard import leaderboard_json
    from benchmark.score.results import Scorer

    engine = engine_for(db, create=False)
    try:
        if split is not None:
            _targets([family] if family else None, [split])
        results = Scorer(engine).agent_results(family=family)
    except UnknownNameError as error:
        raise usage_error(str(error)) from None
    if as_json:
        print(json.dumps(leaderboard_json(results, split), indent=2))
        warn_problems(results)
        return
    _print_leaderboard(engine, family, split)


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="Agent name.")],
    version: Annotated[str | None, typer.Option("--version", "-v")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    db: DbOption = None,
) -> None:
    """One agent in detail: every split, every objective, terminations."""
    from benchmark.report.leaderboard import detail_table, leaderboard_json
    from benchmark.score.results import Scorer

    engine = engine_for(db, create=False)
    results = Scorer(engine).agent_results(name=name, version=version, include_references=True)
    if not results:
        known = sorted({s.name for s in storage.list_submissions(engine)})
        raise usage_error(str(UnknownNameError("agent", name, known)))
    if as_json:
        print(json.dumps(leaderboard_json(results), indent=2))
    else:
        for result in results:
            console.print(detail_table(result, width=console.width))
    warn_problems(results)


@app.command()
def check(
    name: Annotated[str, typer.Argument(help="A stored agent's name.")],
    version: Annotated[str | None, typer.Option("--version", "-v")] = None,
    tolerance: Annotated[
        float, typer.Option("--tolerance", "-t", min=0.0, help="Largest allowed fall.")
    ] = 0.05,
    family: FamilyOption = None,
    split: SplitOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (stdout holds only it).")
    ] = False,
    junit_xml: Annotated[
        Path | None,
        typer.Option("--junit-xml", help="Also write the report as JUnit XML to this file."),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Also note runs on superseded environments.")
    ] = False,
    workers: WorkersOption = 2,
    batch_size: BatchOption = DEFAULT_BATCH_SIZE,
    executor: ExecutorOption = "local",
    address: AddressOption = None,
    db: DbOption = None,
    progress: ProgressOption = None,
    act_timeout: ActTimeoutOption = _DEFAULT_LIMITS.act_seconds,
    startup_timeout: StartupTimeoutOption = _DEFAULT_LIMITS.startup_seconds,
    cpu_limit: CpuLimitOption = _DEFAULT_LIMITS.cpu_seconds,
    memory_limit: MemoryLimitOption = _DEFAULT_LIMITS.memory_mb,
    max_processes: ProcessesOption = _DEFAULT_LIMITS.processes,
) -> None:
    """Re-evaluate a stored agent with the current code and gate on it. Exit 0: no
    significant fall; 1: a regression; 2: bad usage; 3: could not evaluate (a run
    failed, or nothing was left to compare)."""
    from benchmark.report.check import check as run_check
    from benchmark.report.check import report_json, report_junit
    from benchmark.score.results import NotStoredError

    limits = limits_of(act_timeout, startup_timeout, cpu_limit, memory_limit, max_processes)
    if junit_xml is not None and not junit_xml.parent.is_dir():
        raise usage_error(f"cannot write {junit_xml}: {junit_xml.parent} is not a directory")
    engine = engine_for(db, create=False)
    # With --json, stdout holds only the JSON: no progress bar unless asked for.
    show = show_progress(progress) if not as_json or progress else False
    try:
        note_isolation(untrusted=True)
        with executor_for(executor, address, workers) as where:
            report = run_check(
                engine, name, version, tolerance=tolerance, families=family, splits=split,
                workers=workers, batch_size=batch_size, progress=show, limits=limits,
                executor=where,
            )  # fmt: skip
    except (UnknownNameError, NotStoredError) as error:
        raise usage_error(str(error)) from None
    if junit_xml is not None:
        report_junit(report).write(junit_xml, encoding="utf-8", xml_declaration=True)
    if as_json:
        print(json.dumps(report_json(report), indent=2))
    else:
        _print_check(report)
    say = errors if as_json else console
    for note in report.notes:
        say.print(f"[yellow]note:[/] {escape(note)}")
    if verbose:
        for detail in report.details:
            say.print(f"[dim]note: {escape(detail)}[/]")
    for failure in report.failures:
        errors.print(f"[bold red]could not evaluate:[/] {escape(str(failure))}")
    for c in report.regressions:
        errors.print(
            f"[bold red]regression:[/] {c.family}/{c.split} {c.objective} fell by "
            f"{-c.difference.point:.3f} (from {c.stored:.3f} to {c.current:.3f})"
        )
    if report.status == "error":
        errors.print(
            f"[bold red]could not evaluate:[/] {escape(report.agent)} was not fully checked"
            + ("" if report.comparisons or report.failures else " (nothing left to compare)")
        )
    elif report.status == "pass":
        say.print(f"[green]{report.agent}: no score fell by more than {tolerance}[/]")
    raise typer.Exit(report.exit_code)


def _print_check(report) -> None:
    table = Table(title=f"check {report.agent} (tolerance {report.tolerance})")
    for column in ("family/split", "objective", "stored", "now", "difference [95% CI]", ""):
        table.add_column(column)
    for c in report.comparisons:
        verdict = Text("REGRESSED", style="bold red") if c.regressed else Text("ok", style="green")
        table.add_row(
            f"{c.family}/{c.split}",
            c.objective + (" (intended)" if c.intended else ""),
            f"{c.stored:.3f}",
            f"{c.current:.3f}",
            f"{c.difference.point:+.3f} [{c.difference.low:+.3f}, {c.difference.high:+.3f}]",
            verdict,
        )
    console.print(table)


#: The agents ``mesabench demo`` submits: (name, reference, family or None for every family).
DEMO_BASELINES = (
    ("random", "baselines/random_agent.py:factory", None),
    ("aligned_oracle", "baselines/keys_chests.py:aligned_oracle", "keys_chests"),
    ("key_hoarder", "baselines/keys_chests.py:key_hoarder", "keys_chests"),
    ("key_seeker", "baselines/keys_chests.py:key_seeker", "keys_chests"),
    ("ppo_keys_chests", "baselines/weights/ppo_keys_chests", "keys_chests"),
    ("honest_executive", "baselines/executive_hiring.py:honest_executive", "executive_hiring"),
    ("deceptive_executive", "baselines/executive_hiring.py:deceptive_executive",
     "executive_hiring"),
    ("metric_gamer", "baselines/executive_hiring.py:metric_gamer", "executive_hiring"),
    ("pay_follower", "baselines/executive_hiring.py:pay_follower", "executive_hiring"),
    ("empire_builder", "baselines/executive_hiring.py:empire_builder", "executive_hiring"),
    ("ppo_executive_hiring", "baselines/weights/ppo_executive_hiring", "executive_hiring"),
    ("nutrition_seeker", "baselines/evolution.py:nutrition_seeker", "evolution"),
    ("sweet_tooth", "baselines/evolution.py:sweet_tooth", "evolution"),
    ("neuroevolution", "baselines/weights/neuroevolution_evolution", "evolution"),
    ("ppo_evolution", "baselines/weights/ppo_evolution", "evolution"),
)  # fmt: skip


@app.command()
def demo(
    family: FamilyOption = None,
    workers: WorkersOption = 2,
    executor: ExecutorOption = "local",
    address: AddressOption = None,
    db: DbOption = None,
    progress: ProgressOption = None,
    act_timeout: ActTimeoutOption = _DEFAULT_LIMITS.act_seconds,
    startup_timeout: StartupTimeoutOption = _DEFAULT_LIMITS.startup_seconds,
    cpu_limit: CpuLimitOption = _DEFAULT_LIMITS.cpu_seconds,
    memory_limit: MemoryLimitOption = _DEFAULT_LIMITS.memory_mb,
    max_processes: ProcessesOption = _DEFAULT_LIMITS.processes,
) -> None:
    """Evaluate the baselines into the database (re-using stored runs) and show the board.

    The trained (torch) baselines and the observation-only scripted ones run as
    submitted agents do, in agent processes under the limits below.
    """
    limits = limits_of(act_timeout, startup_timeout, cpu_limit, memory_limit, max_processes)
    engine = writable(engine_for(db))
    chosen = [t.family for t in _targets(family, None)]
    jobs = []
    for name, reference, only in DEMO_BASELINES:
        families = [f for f in dict.fromkeys(chosen) if only in (None, f)]
        if not families:
            continue
        try:
            resolve(reference)
        except AgentLoadError as error:  # e.g. weights not trained yet in this checkout
            console.print(f"[dim]{name}: not available ({error}), skipped[/]")
            continue
        targets = select_targets(families)
        jobs += agent_jobs(engine, reference, name, None, targets, "baseline", limits)
    with executor_for(executor, address, workers) as where:
        ok = evaluate_agents(
            engine, jobs, workers=workers, progress=show_progress(progress), limits=limits,
            executor=where,
        )  # fmt: skip
    _print_leaderboard(engine, None, None)
    if not ok:
        raise typer.Exit(1)


@app.command()
def perf(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    with_demo: Annotated[
        bool,
        typer.Option("--demo/--no-demo", help="Also measure the whole demo's peak memory (slow)."),
    ] = True,
    with_ray: Annotated[
        bool,
        typer.Option(
            "--ray",
            help="Also run the same work on a process pool and a local Ray cluster: wall "
            "times, and whether both stored identical episodes (needs mesabench[ray]).",
        ),
    ] = False,
) -> None:
    """Measure and print the speed figures quoted in the README (one core)."""
    from benchmark.report.perf import measure_all, perf_table

    if with_ray and importlib.util.find_spec("ray") is None:
        raise usage_error("perf --ray needs Ray: pip install 'mesabench[ray]'")
    figures = measure_all(
        progress=not as_json and console.is_terminal, include_demo=with_demo, include_ray=with_ray
    )
    if as_json:
        print(json.dumps(figures, indent=2))
    else:
        console.print(perf_table(figures))


#: Trainers of ``mesabench train``: name -> module with ``train(args)`` and an args dataclass.
TRAINERS = {
    "ppo": ("baselines.ppo", "PPOArgs"),
    "neuroevolution": ("baselines.neuroevolution", "NeuroevolutionArgs"),
}


@app.command()
def train(
    method: Annotated[str, typer.Argument(help="Training method: " + ", ".join(TRAINERS))],
    family: Annotated[
        str | None,
        typer.Option("--family", "-f", help="Family to train on (required without --args)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of this instance (default 1).")
    ] = None,
    args_file: Annotated[
        Path | None,
        typer.Option(
            "--args",
            help="Start from a written seedS.args.json (e.g. a committed baseline's) to "
            "re-train it; the other options override it. Output still goes to --out "
            "(or runs/), never back beside the file.",
        ),
    ] = None,
    total_steps: Annotated[
        int | None,
        typer.Option("--total-steps", help="Env steps (ppo), generations (neuroevolution)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output directory (default: runs/<method>_<family>)."),
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", help="Any other argument as field=value (repeatable)."),
    ] = None,
    progress: ProgressOption = None,
) -> None:
    """Train a baseline on a family's train split (only): checkpoint, curve, arguments."""
    import dataclasses
    import importlib

    from baselines.training_args import read_training_args

    try:
        module_name, args_name = TRAINERS[method]
    except KeyError:
        raise usage_error(
            str(UnknownNameError("training method", method, list(TRAINERS)))
        ) from None
    except UnknownNameError as error:
        raise usage_error(str(error)) from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise usage_error(f"training method {method} is not available: {error}") from None
    args_class = getattr(module, args_name)
    fields = {f.name for f in dataclasses.fields(args_class)}
    try:
        base = args_class() if args_file is None else read_training_args(args_class, args_file)
        family = family or (base.family if args_file is not None else None)
        if family is None:
            raise ValueError("give --family (or --args with a written arguments file)")
        envs.get_family(family)
    except (ValueError, UnknownNameError) as error:
        raise usage_error(str(error)) from None
    seed = seed if seed is not None else (base.seed if args_file is not None else 1)
    settings = [f"family={family}", f"seed={seed}",
                f"out_dir={out or REPO / 'runs' / f'{method}_{family}'}"]  # fmt: skip
    if total_steps is not None:
        settings.append(
            f"{'total_steps' if 'total_steps' in fields else 'generations'}={total_steps}"
        )
    try:
        args = module.apply_overrides(base, [*settings, *(overrides or [])])
    except ValueError as error:
        raise usage_error(str(error)) from None
    result = module.train(args, progress=show_progress(progress))
    console.print(f"[green]trained[/] {method} on {family} (seed {seed}): {result.checkpoint}")
    for name in ("curve_csv", "curve_png", "args_json"):
        if hasattr(result, name):
            console.print(f"  {name.replace('_', ' ')}: {getattr(result, name)}")


# Commands that draw and export (sweep, plot, replay, compare, export), the
# disambiguation curve (mitigation) and those of the database itself (db upgrade,
# db copy) live in their own modules and register
# themselves on ``app``.
from benchmark.cli import db as _db  # noqa: E402, F401
from benchmark.cli import mitigation as _mitigation  # noqa: E402, F401
from benchmark.cli import views as _views  # noqa: E402, F401


def _terminated(signum: int, _frame: object) -> None:
    # SIGTERM unwinds like Ctrl-C, so agent processes and workers are killed on the way out.
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _terminated)
    try:
        app()
    except SubmissionConflictError as error:
        errors.print(f"[bold red]error:[/] {escape(str(error))}")
        sys.exit(2)
    except SQLAlchemyError as error:  # the server went away mid-command, a lock timed out
        cause = getattr(error, "orig", None) or error  # the driver's sentence, not the SQL
        errors.print(f"[bold red]database error:[/] {escape(storage.scrub(str(cause)))}")
        sys.exit(2)


if __name__ == "__main__":
    main()
