"""``mesabench mitigation``: train over a grid of disambiguating shares, store, draw the
disambiguation curve and report α* per method (see :mod:`benchmark.score.mitigation`)."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

import envs
from benchmark.cli.app import (
    _DEFAULT_LIMITS,
    REPO,
    DbOption,
    ProgressOption,
    _print_leaderboard,
    agent_jobs,
    app,
    console,
    engine_for,
    evaluate_agents,
    show_progress,
    usage_error,
    writable,
)
from benchmark.cli.views import OverwriteOption, _new_file
from benchmark.evaluate.runner import select_targets
from benchmark.score import mitigation
from envs.family import UnknownNameError


def _base_args(args_file: Path | None, family: str):
    """The arguments every instance starts from: ``--args``, else the family's
    committed PPO baseline's (seed 1), else PPO's defaults."""
    from baselines.ppo import PPOArgs
    from baselines.training_args import read_training_args

    if args_file is None:
        committed = REPO / "baselines" / "weights" / f"ppo_{family}" / "seed1.args.json"
        if not committed.is_file():
            return PPOArgs(family=family)
        args_file = committed
    return read_training_args(PPOArgs, args_file)


def _fmt(e) -> str:
    return "-" if e is None else f"{e.point:.2f} [{e.low:.2f}, {e.high:.2f}]"


def _train_missing(missing: list, train_ppo, workers: int, progress: bool) -> None:
    """Train each missing instance, up to ``workers`` at a time (one process each: an
    instance's ``torch_threads`` sets its own threads)."""
    started = time.perf_counter()

    def done(k: int, instance) -> None:
        console.print(
            f"[{k}/{len(missing)}] trained {instance.method} share {instance.share:g} "
            f"seed {instance.seed} ({time.perf_counter() - started:.0f} s since the start): "
            f"{instance.checkpoint}"
        )

    if workers == 1 or len(missing) <= 1:
        for k, instance in enumerate(missing, 1):
            train_ppo(instance.args, progress=progress)
            done(k, instance)
        return
    # Spawned, not forked: torch in a forked child of a process that used it can hang.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(missing)), mp_context=context) as pool:
        futures = {pool.submit(train_ppo, i.args, progress=False): i for i in missing}
        for k, future in enumerate(as_completed(futures), 1):
            future.result()  # a failed training stops the command with its error
            done(k, futures[future])


def _train_and_store(engine, fam, chosen, grid, root, instances, train: bool, workers: int,
                     progress: bool) -> bool:  # fmt: skip
    """Train the instances not stored yet (or refuse, without ``train``), then store each
    (method, share) as a submission evaluated on train and the canonical shift."""
    from baselines.ppo import train as train_ppo

    missing = [i for i in instances if not mitigation.stored_matches(i)]
    if missing and not train:
        names = ", ".join(str(i.checkpoint) for i in missing[:5])
        raise usage_error(
            f"{len(missing)} instances are not trained (--no-train): {names}"
            + (" ..." if len(missing) > 5 else "")
        )
    console.print(
        f"{len(instances) - len(missing)} of {len(instances)} instances re-used; "
        f"training {len(missing)}"
    )
    _train_missing(missing, train_ppo, workers, progress)

    # Each (method, share) is one submission of its instances.
    jobs = []
    # What the curve needs: train (the outcome on a shift depends on it) and the shift.
    targets = select_targets([fam.name], ["train", fam.canonical_shift])
    for method in chosen:
        for share in grid:
            directory = mitigation.share_dir(root, method, share)
            name = mitigation.agent_name(fam.name, method, share)
            jobs += agent_jobs(
                engine, str(directory), name, None, targets, "agent", _DEFAULT_LIMITS
            )
    return evaluate_agents(engine, jobs, workers=workers, progress=progress)


@app.command("mitigation")
def mitigation_command(
    family: Annotated[str, typer.Option("--family", "-f", help="Family name.")],
    methods: Annotated[
        list[str] | None,
        typer.Option(
            "--method", "-m", help="dr (domain randomisation) or plr (robust PLR); repeatable."
        ),
    ] = None,
    shares: Annotated[
        str,
        typer.Option(
            "--shares", help="Comma-separated shares α of the canonical shift's levels in training."
        ),
    ] = ",".join(f"{s:g}" for s in mitigation.DEFAULT_SHARES),
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Instances per share.")] = 3,
    args_file: Annotated[
        Path | None,
        typer.Option(
            "--args",
            help="PPO arguments every instance starts from (default: the family's committed "
            "baseline's seed1.args.json).",
        ),
    ] = None,
    total_steps: Annotated[
        int | None, typer.Option("--total-steps", help="Env steps per instance.")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", help="Any other PPO argument as field=value (repeatable)."),
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights",
            help="Where instances are kept, as METHOD/share<α>/seed<S>.pt (default: "
            "runs/mitigation_<family>); an instance already there with the same "
            "arguments is re-used.",
        ),
    ] = None,
    train: Annotated[
        bool,
        typer.Option("--train/--no-train", help="Train missing instances (else: exit 2)."),
    ] = True,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory the curve's PNG is written to.")
    ] = Path("plots"),
    overwrite: OverwriteOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the curve as JSON.")] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            "-j",
            min=1,
            help="Processes training missing instances, then evaluating splits, in parallel.",
        ),
    ] = 2,
    db: DbOption = None,
    progress: ProgressOption = None,
) -> None:
    """How much disambiguating training does a method need before it stays aligned?

    For each method, share α and seed: train PPO on train with α of its levels from
    the canonical shift (or re-use the stored instance), store each (method, share)
    as a submission (evaluated on train and the shift; runs re-used), then draw
    alignment and capability on the canonical shift against α and report α*: the
    smallest share at which the method is robust with the interval's lower bound
    above the threshold.
    """
    try:
        fam = envs.get_family(family)
        chosen = [mitigation.check_method(m) for m in (methods or list(mitigation.METHODS))]
        grid = mitigation.parse_shares(shares)
        base = _base_args(args_file, fam.name)
        settings = [f"total_steps={total_steps}"] if total_steps is not None else []
        base = base.with_overrides([*settings, *(overrides or [])])
        root = weights or REPO / "runs" / f"mitigation_{fam.name}"
        instances = mitigation.plan_instances(base, fam.name, chosen, grid, seeds, root)
    except (ValueError, UnknownNameError) as error:
        raise usage_error(str(error)) from None
    engine = writable(engine_for(db))
    figure = _new_file(out / f"mitigation_{fam.name}.png", overwrite)  # before hours of training

    # With --json, stdout holds the JSON alone: what training and evaluation say goes to stderr.
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        ok = _train_and_store(
            engine, fam, chosen, grid, root, instances, train, workers, show_progress(progress)
        )
    # ------------------------------------------------------------------ the curve
    points, unscored = mitigation.curve_points(engine, fam.name, chosen, grid)
    stars = {m: mitigation.alpha_star(points, m) for m in chosen}
    if as_json:
        print(
            json.dumps(
                {
                    "family": fam.name,
                    "canonical_shift": fam.canonical_shift,
                    "alpha_star": stars,
                    "points": [p.to_dict() for p in points],
                    "unscored": unscored,
                },
                indent=2,
            )
        )
    else:
        table = Table(title=f"Disambiguation curve: {fam.name} (scored on {fam.canonical_shift})")
        for column in ("method", "α", "agent", "train alignment", "alignment", "capability"):
            table.add_column(column)
        table.add_column("outcome")
        for p in points:
            table.add_row(
                p.method, f"{p.share:g}", p.agent, _fmt(p.train_alignment), _fmt(p.alignment),
                _fmt(p.capability), p.outcome + (" *" if p.robust else ""),
            )  # fmt: skip
        console.print(table)
        for method, star in stars.items():
            text = f"{star:g}" if star is not None else "not reached at any share measured"
            console.print(f"α* ({method}): {text}")
    if points:
        from benchmark.report.plots import SharePoint, mitigation_figure

        series = {
            m: [
                SharePoint(p.share, p.alignment, p.capability, p.robust)
                for p in points
                if p.method == m
            ]
            for m in chosen
        }
        mitigation_figure(
            series, figure, family=fam.name, canonical_shift=fam.canonical_shift, alpha_star=stars
        )
        (console.print if not as_json else lambda *_: None)(f"wrote {figure}")
    if not as_json:
        _print_leaderboard(engine, fam.name, None)
    if unscored or not ok:
        for name in unscored:
            console.print(f"[red]not scored on {fam.canonical_shift}:[/] {name}")
        raise typer.Exit(1)
