"""Figures, replays, comparisons and exports (benchmark.report.plots and .replay,
benchmark.score.sweep and .compare, benchmark.store.export).

Everything runs on temporary databases with few seeds: the stored result set is
built once per module with ``run_jobs`` on 8-seed targets; the leaderboard's
notion of a current split is pointed at those targets for the map and compare.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import envs
from benchmark.cli.app import app
from benchmark.evaluate.agents import resolve
from benchmark.evaluate.runner import Target, split_target
from benchmark.evaluate.submission import Job, reference_jobs, run_jobs
from benchmark.report.leaderboard import leaderboard_json
from benchmark.report.plots import (
    CurvePoint,
    CurveSeries,
    MapPanel,
    MapPoint,
    curve_figure,
    map_figure,
)
from benchmark.report.replay import record, write_gif
from benchmark.score import results
from benchmark.score.compare import compare, compare_strata, paired_capability_difference
from benchmark.score.results import stored_agent
from benchmark.score.stats import Estimate
from benchmark.score.sweep import load_curve, run_sweep, sweep_points, target_for
from benchmark.store import storage
from benchmark.store.export import export_runs, to_csv, to_json
from benchmark.torch_policy import flat_dim, save_policy

REPO = Path(__file__).resolve().parent.parent
FAMILY = envs.get_family("keys_chests")
N_SEEDS = 8
AGENTS = {
    "random": "baselines/random_agent.py:factory",
    "key_hoarder": "baselines/keys_chests.py:key_hoarder",
    "aligned_oracle": "baselines/keys_chests.py:aligned_oracle",
}


def small_targets() -> list[Target]:
    return [
        replace(split_target(FAMILY, s.name), seeds=tuple(s.eval_seeds[:N_SEEDS]))
        for s in FAMILY.splits
        if s.name in ("train", "many_keys")
    ]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """random, key_hoarder and aligned_oracle on 8 seeds of train and many_keys, and a
    3-point, 8-seed sweep of key_hoarder."""
    path = tmp_path_factory.mktemp("views") / "results.db"
    engine = storage.make_engine(f"sqlite:///{path}")
    targets = small_targets()
    jobs = reference_jobs(targets)
    for name, reference in AGENTS.items():
        jobs += [Job(resolve(reference), name, "1", "baseline", t) for t in targets]
    outcomes = run_jobs(engine, jobs, workers=1, progress=False)
    assert all(o.status == "stored" for o in outcomes), [o.message for o in outcomes]
    hoarder = stored_agent(engine, "key_hoarder")
    swept = run_sweep(engine, hoarder, FAMILY, sweep_points(3), workers=1, progress=False,
                      n_seeds=N_SEEDS)  # fmt: skip
    assert all(o.status in ("stored", "reused") for o in swept)
    return path


@pytest.fixture
def small_splits(monkeypatch):
    """Make the 8-seed targets the leaderboard's current splits (as if fully evaluated)."""
    current = {t.fingerprint: t for t in small_targets()}
    monkeypatch.setattr(results, "current_targets", lambda: current)


def engine_of(path: Path):
    return storage.make_engine(f"sqlite:///{path}")


def check_png(path: Path, min_size: tuple[int, int] = (400, 300)) -> None:
    assert path.is_file()
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width >= min_size[0] and image.height >= min_size[1]
    assert path.stat().st_size < 400_000


# --------------------------------------------------------------------------- plots


def test_curve_figure_from_plain_data(tmp_path):
    def point(shift, a, c, outcome=""):
        return CurvePoint(shift, Estimate(a, a - 0.05, a + 0.05), Estimate(c, c - 0.05, c + 0.05),
                          outcome)  # fmt: skip

    series = [
        CurveSeries("hoarder@1", [point(0, 0.9, 1.0), point(0.5, 0.6, 1.0),
                                  point(1, 0.3, 1.0, "misgeneralised")]),
        CurveSeries("oracle@1", [point(0, 1.0, 1.0), point(1, 1.0, 1.0)]),
    ]  # fmt: skip
    path = curve_figure(series, tmp_path / "c.png", family="toy", canonical_shift="many_keys",
                        intended="chests")  # fmt: skip
    check_png(path)
    with pytest.raises(ValueError, match="nothing to draw"):
        curve_figure([], tmp_path / "x.png", family="t", canonical_shift="s", intended="i")


def test_map_figure_from_plain_data(tmp_path):
    def p(label, a, c, outcome):
        return MapPoint(label, Estimate(a, a - 0.1, a + 0.1), Estimate(c, c - 0.1, c + 0.1),
                        outcome)  # fmt: skip

    panels = [
        MapPanel("f1", "train", "training", [p("a", 0.9, 0.9, "robust"),
                                             p("b", 0.9, 1.0, "robust")]),
        MapPanel("f1", "shift", "goal shift", [p("a", 0.9, 0.9, "robust"),
                                               p("b", 0.2, 1.0, "misgeneralised")]),
        MapPanel("f2", "shift", "goal shift", [p("a", -0.2, 0.1, "incapable")]),
    ]  # fmt: skip
    path = map_figure(panels, tmp_path / "map.png")
    check_png(path, (600, 600))


# --------------------------------------------------------------------------- sweep


def test_sweep_points_and_targets():
    assert sweep_points(6) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert target_for(FAMILY, "shift=0.40").split == "shift=0.40"
    assert target_for(FAMILY, "shift=0.40").overrides == FAMILY.shift_kwargs(0.4)
    assert target_for(FAMILY, "many_keys").env_id == FAMILY.split("many_keys").env_id
    with pytest.raises(ValueError):
        target_for(FAMILY, "shift=1.5")
    with pytest.raises(ValueError):
        sweep_points(1)


def test_a_stored_sweep_scores_every_point_with_its_own_references(db):
    engine = engine_of(db)
    hoarder = stored_agent(engine, "key_hoarder")
    curve = load_curve(engine, hoarder, FAMILY, n_seeds=N_SEEDS)
    assert [p.shift for p in curve.points] == [0.0, 0.5, 1.0]
    assert not curve.problems
    for point in curve.points:
        refs = storage.reference_runs(engine, storage_fingerprint(engine, point.run_id))
        assert set(refs) == set(FAMILY.reference_names)
        assert point.score.capability.point >= point.score.alignment.point
    # The full-seed curve is another environment: nothing stored for it.
    assert load_curve(engine, hoarder, FAMILY).points == []


def storage_fingerprint(engine, run_id: int) -> str:
    return next(r.fingerprint for r in storage.latest_runs(engine) if r.run_id == run_id)


# --------------------------------------------------------------------------- replay


def test_replay_records_a_gif_with_several_frames(tmp_path):
    source = resolve(AGENTS["key_hoarder"])
    target = split_target(FAMILY, "many_keys")
    recording = record(source, FAMILY, target, target.seeds[0])
    assert recording.length >= 5
    assert len(recording.frames) == len(recording.totals) == recording.length + 1
    assert recording.totals[0] == {"chests_opened": 0.0, "keys_collected": 0.0}
    assert recording.totals[-1]["keys_collected"] >= 1
    assert recording.termination in ("goal", "timeout", "no_keys")
    path = write_gif(recording, tmp_path / "r.gif")
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == len(recording.frames)
        assert gif.width >= 500 and gif.height >= 300


def test_replay_of_a_shift_point_runs_the_shifted_environment():
    source = resolve(AGENTS["random"])
    target = target_for(FAMILY, "shift=0.50")
    recording = record(source, FAMILY, target, 7, max_steps=10)
    assert recording.split == "shift=0.50" and len(recording.frames) == 11
    assert recording.termination == "stopped after 10 steps"


@pytest.mark.parametrize(
    "family", [f for f in envs.FAMILIES if envs.FAMILIES[f].kind == "pettingzoo"]
)
def test_replay_of_a_pettingzoo_family_acts_for_every_live_agent(family, tmp_path):
    chosen = envs.get_family(family)
    target = target_for(chosen, chosen.canonical_shift)
    recording = record(resolve(AGENTS["random"]), chosen, target, target.seeds[0], max_steps=20)
    assert 1 < len(recording.frames) <= 21
    assert set(recording.totals[-1]) == set(chosen.objective_names)
    with Image.open(write_gif(recording, tmp_path / "p.gif")) as gif:
        assert gif.n_frames == len(recording.frames)


# --------------------------------------------------------------------------- compare


def test_probability_of_improvement_hand_computed():
    ones, zeros = np.ones((1, 4)), np.zeros((1, 4))
    row = compare_strata("f", "s", [{"i": ones, "p": ones}], [{"i": zeros, "p": zeros}], "i")
    assert row.improvement.point == 1.0
    assert row.alignment == Estimate(1.0, 1.0, 1.0)
    # x = 1, 2, 3 against y = 2, 2, 2: P(X > Y) = 1/3, P(X = Y) = 1/3 -> 1/3 + 1/6 = 0.5
    x, y = np.array([[1.0, 2.0, 3.0]]), np.array([[2.0, 2.0, 2.0]])
    row = compare_strata("f", "s", [{"i": x}], [{"i": y}], "i")
    assert row.improvement.point == pytest.approx(0.5)
    assert row.improvement.low <= 0.5 <= row.improvement.high


def test_probability_of_improvement_matches_rliable():
    rliable = pytest.importorskip("rliable.metrics")
    rng = np.random.default_rng(3)
    a = [rng.normal(0.6, 0.3, (1, 40)), rng.normal(0.2, 0.3, (1, 40))]
    b = [rng.normal(0.5, 0.3, (1, 40)), rng.normal(0.4, 0.3, (1, 40))]
    row = compare_strata("f", "all", [{"i": m} for m in a], [{"i": m} for m in b], "i")
    expected = rliable.probability_of_improvement(
        np.stack([m.ravel() for m in a], axis=1), np.stack([m.ravel() for m in b], axis=1)
    )
    assert row.improvement.point == pytest.approx(float(expected))


def test_paired_capability_difference_hand_computed():
    a = [{"i": np.full((1, 4), 0.2), "p": np.full((1, 4), 0.9)}]
    b = [{"i": np.full((1, 4), 0.8), "p": np.full((1, 4), 0.1)}]
    capability = paired_capability_difference(a, b)
    assert capability.point == pytest.approx(0.1)
    assert capability.low == pytest.approx(0.1) and capability.high == pytest.approx(0.1)
    row = compare_strata("f", "s", a, b, "i")
    assert row.alignment.point == pytest.approx(-0.6)
    assert row.alignment.high == pytest.approx(-0.6)


def test_pairing_averages_instances_per_seed_when_counts_differ():
    seeds = np.array([0.0, 1.0, 0.0, 1.0])
    a = {"i": np.stack([seeds, seeds + 1])}  # two instances, per-seed mean = seeds + 0.5
    b = {"i": seeds[None, :]}
    row = compare_strata("f", "s", [a], [b], "i")
    assert row.averaged
    assert row.alignment.point == pytest.approx(0.5)
    assert row.alignment.low == pytest.approx(0.5) and row.alignment.high == pytest.approx(0.5)
    assert not compare_strata("f", "s", [b], [b], "i").averaged


def test_compare_stored_agents(db, small_splits):
    engine = engine_of(db)
    result = compare(engine, "aligned_oracle", "key_hoarder")
    rows = {r.split: r for r in result.rows}
    assert set(rows) == {"train", "many_keys", "all splits"}
    assert rows["many_keys"].improvement.point > 0.5
    assert rows["many_keys"].alignment.point > 0
    same = compare(engine, "random", "random")
    assert all(r.improvement.point == 0.5 and r.alignment.point == 0 for r in same.rows)
    with pytest.raises(LookupError, match="key_hoarder"):
        compare(engine, "key_hoardr", "random")


# ------------------------------------------------------------------- provenance


def _linear_policy(path: Path, training: dict | None, env_id: str) -> Path:
    """A tiny torch policy for keys_chests whose file records ``training`` (or not)."""
    env = gymnasium.make(FAMILY.train.env_id)
    meta = {"env_id": env_id, **({"training": training} if training else {})}
    module = torch.nn.Linear(flat_dim(env.observation_space), 4)
    return save_policy(module, path, observation_space=env.observation_space,
                       action_space=env.action_space, family="keys_chests",
                       metadata=meta)  # fmt: skip


def test_the_leaderboard_says_what_each_agent_was_trained_on(db, small_splits, tmp_path):
    """Provenance (issue 16): a policy trained partly on the canonical shift is marked,
    one trained on train alone (recorded, or inferred from its environment) is held
    out, and a scripted agent's training is unknown."""
    engine = engine_of(db)
    mixed = {"splits": {"train": 0.9, "many_keys": 0.1}, "sampler": "uniform", "seed": 1}
    policies = {
        "mixed": _linear_policy(tmp_path / "mixed.pt", mixed, FAMILY.train.env_id),
        "train_only": _linear_policy(tmp_path / "old.pt", None, FAMILY.train.env_id),
    }
    jobs = [Job(resolve(str(p)), n, "1", "agent", t)
            for n, p in policies.items() for t in small_targets()]  # fmt: skip
    assert all(o.status == "stored" for o in run_jobs(engine, jobs, workers=1, progress=False))
    rows = {r["agent"]: r for r in results_json(engine) if r["split"] == "many_keys"}
    assert rows["mixed"]["training"] == [mixed]
    assert rows["mixed"]["ranking"]["canonical_held_out"] is False
    assert rows["train_only"]["training"][0]["inferred"] is True
    assert rows["train_only"]["ranking"]["canonical_held_out"] is True
    assert rows["key_hoarder"]["training"] is None
    assert rows["key_hoarder"]["ranking"]["canonical_held_out"] is None
    table = invoke("leaderboard", "--family", "keys_chests", "--db", f"sqlite:///{db}").stdout
    marked = [line for line in table.splitlines() if "§" in line]
    assert any("mixed" in line for line in marked)
    assert not any("train_only" in line or "key_hoarder" in line for line in marked)


def results_json(engine) -> list[dict]:
    return leaderboard_json(results.Scorer(engine).agent_results(family="keys_chests"))


# --------------------------------------------------------------------------- export


def test_export_round_trips_and_is_stable(db):
    engine = engine_of(db)
    runs = export_runs(engine)
    stored = storage.latest_runs(engine)
    assert len(runs) == len(stored)
    text = to_json(runs)
    assert text == to_json(export_runs(engine))  # byte-identical on the same database
    parsed = json.loads(text)["runs"]
    hoarder = next(r for r in parsed if r["agent"] == "key_hoarder" and r["split"] == "many_keys")
    for key in ("checksum", "fingerprint", "env_version", "seeds_digest", "code_version",
                "created_at", "n_episodes", "n_instances", "raw_means"):  # fmt: skip
        assert key in hoarder
    assert hoarder["scores"]["alignment"]["low"] <= hoarder["scores"]["alignment"]["point"]
    assert set(hoarder["scores"]["objectives"]) == set(FAMILY.objective_names)
    table = list(csv.DictReader(io.StringIO(to_csv(runs))))
    assert len(table) == len(runs)
    assert {"alignment", "capability_high", "normalised:keys_collected:low"} <= set(table[0])
    with_episodes = export_runs(engine, episodes=True)
    assert sum(len(r["episodes"]) for r in with_episodes) == sum(r.n_episodes for r in stored)
    long = list(csv.DictReader(io.StringIO(to_csv(with_episodes, episodes=True))))
    assert len(long) == sum(r.n_episodes for r in stored)


# --------------------------------------------------------------------------- CLI


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_cli_plot_map_and_curve(db, small_splits, tmp_path):
    url = f"sqlite:///{db}"
    done = invoke("plot", "map", "--db", url, "--out", str(tmp_path))
    assert done.exit_code == 0, done.output
    check_png(tmp_path / "map.png", (800, 400))
    done = invoke("plot", "curve", "key_hoarder", "--family", "keys_chests", "--seeds",
                  str(N_SEEDS), "--db", url, "--out", str(tmp_path))  # fmt: skip
    assert done.exit_code == 0, done.output
    check_png(tmp_path / "curve_keys_chests.png")
    done = invoke("compare", "aligned_oracle", "key_hoarder", "--db", url)
    assert done.exit_code == 0, done.output
    assert "P(A > B)" in done.output and "many_keys" in done.output


def test_cli_figures_are_never_silently_overwritten(db, small_splits, tmp_path):
    url = f"sqlite:///{db}"
    curve = ("plot", "curve", "key_hoarder", "--family", "keys_chests", "--seeds", str(N_SEEDS),
             "--db", url, "--out", str(tmp_path))  # fmt: skip
    assert invoke(*curve).exit_code == 0
    first = (tmp_path / "curve_keys_chests.png").read_bytes()
    again = invoke(*curve)
    assert again.exit_code == 2 and "already exists" in again.output
    assert "--overwrite" in again.output
    assert (tmp_path / "curve_keys_chests.png").read_bytes() == first
    assert invoke(*curve, "--overwrite").exit_code == 0
    plot_map = ("plot", "map", "--db", url, "--out", str(tmp_path))
    assert invoke(*plot_map).exit_code == 0
    assert invoke(*plot_map).exit_code == 2
    assert invoke(*plot_map, "--overwrite").exit_code == 0
    (tmp_path / "r.gif").write_bytes(b"mine")
    replay = invoke("replay", "key_hoarder", "--family", "keys_chests", "--max-steps", "2",
                    "--db", url, "--out", str(tmp_path / "r.gif"))  # fmt: skip
    assert replay.exit_code == 2 and (tmp_path / "r.gif").read_bytes() == b"mine"


def test_cli_bad_input_exits_2_naming_it(db, tmp_path):
    url = f"sqlite:///{db}"
    cases = [
        (("plot", "curve", "key_hoarder", "--family", "keys_chest"), "keys_chests"),
        (("plot", "curve", "key_hordr", "--family", "keys_chests"), "key_hoarder"),
        (("plot", "curve", "aligned_oracle", "--family", "keys_chests"), "no scored sweep"),
        (("replay", "key_hoarder", "--family", "keys_chests", "--split", "many_key"), "many_keys"),
        (("export", "--format", "xml"), "xml"),
        (("compare", "random", "aligned_orcle"), "aligned_oracle"),
    ]
    for args, needle in cases:
        done = invoke(*args, "--db", url)
        assert done.exit_code == 2, (args, done.output)
        assert needle in done.output, (args, done.output)


def test_cli_end_to_end_sweep_replay_export(db, tmp_path):
    """Through a subprocess, as a user runs it: a quick sweep, a replay, an export."""
    db = Path(shutil.copy(db, tmp_path / "copy.db"))  # other tests expect no oracle sweep
    env = {**os.environ, "COLUMNS": "200", "MESABENCH_DB": f"sqlite:///{db}"}

    def mesabench(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "benchmark", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    done = mesabench("sweep", "aligned_oracle", "key_hoarder", "--family", "keys_chests",
                     "--points", "3", "--seeds", str(N_SEEDS), "--workers", "1",
                     "--out", str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    check_png(tmp_path / "curve_keys_chests.png")
    per_point = len(FAMILY.reference_names) + 1  # every reference, then the agent
    assert f"key_hoarder@1: 0 runs stored, {3 * per_point} re-used" in done.stdout
    gif = tmp_path / "k.gif"
    done = mesabench("replay", "key_hoarder", "--family", "keys_chests", "--split", "train",
                     "--seed", "5", "--out", str(gif))  # fmt: skip
    assert done.returncode == 0, done.stderr
    with Image.open(gif) as image:
        assert image.n_frames > 5
    out = tmp_path / "runs.csv"
    done = mesabench("export", "--format", "csv", "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == len(storage.latest_runs(engine_of(db)))
