"""Executors: a run cut into seed shards, on a process pool or a Ray cluster, stores exactly
what one local run stores (bit-identical episodes), through the same storage path."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import envs
from benchmark.cli.app import app
from benchmark.evaluate.agents import resolve
from benchmark.evaluate.executors import (
    ExecutorUnavailable,
    InlineExecutor,
    PoolExecutor,
    _check_reachable,
    make_executor,
    plan_shards,
)
from benchmark.evaluate.runner import PARALLEL_BATCH_SIZE, split_target
from benchmark.evaluate.sandbox import Limits, bwrap_problem
from benchmark.evaluate.submission import FAILED, STORED, Job, reference_jobs, run_jobs
from benchmark.store import storage

#: Small batches, so each split is cut into several shards (one batch each under Ray).
BATCH = 64
RANDOM = "baselines/random_agent.py:factory"  # samples its actions: a seed mix-up shows


def work() -> list[Job]:
    """A sampling agent in an agent process, and the trusted references, on two families."""
    targets = [
        split_target(envs.get_family("keys_chests"), "train"),  # 256 seeds: 4 batches
        split_target(envs.get_family("executive_hiring"), "tenure"),  # 128 seeds: 2 batches
    ]
    source = resolve(RANDOM)
    return reference_jobs(targets) + [Job(source, "random", "1", "agent", t) for t in targets]


def stored(url: str) -> dict[tuple, tuple]:
    """Every stored run, keyed by what identifies it, with its episodes' arrays."""
    engine = storage.make_engine(url, create=False)
    found = {}
    for run in storage.all_runs(engine):
        episodes = storage.load_episodes(engine, run.run_id)
        key = (run.name, run.version, run.checksum, run.fingerprint, run.seeds_digest)
        found[key] = (
            run.n_episodes,
            run.n_instances,
            episodes.instance,
            episodes.seed,
            episodes.length,
            episodes.termination,
            {k: v for k, v in sorted(episodes.objectives.items())},
        )
    return found


def assert_identical(a: dict, b: dict) -> None:
    assert a.keys() == b.keys() and a
    for key in a:
        *counts_a, objectives_a = a[key]
        *counts_b, objectives_b = b[key]
        assert counts_a[:2] == counts_b[:2], key
        for x, y in zip(counts_a[2:], counts_b[2:], strict=True):
            assert x.dtype == y.dtype and np.array_equal(x, y), key
        assert objectives_a.keys() == objectives_b.keys()
        for name in objectives_a:
            # Bit for bit: the same float64 bytes, not merely close.
            assert objectives_a[name].tobytes() == objectives_b[name].tobytes(), (key, name)


def test_shards_fall_on_the_runners_batch_boundaries():
    keys = split_target(envs.get_family("keys_chests"), "train")
    hiring = split_target(envs.get_family("executive_hiring"), "tenure")
    shards = plan_shards([("a", keys), ("b", hiring)], 100, Limits(), batches_per_shard=1)
    sizes = [(s.job, s.index, len(s.target.seeds)) for s in shards]
    assert sizes == [(0, 0, 100), (0, 1, 100), (0, 2, 56), (1, 0, 100), (1, 1, 28)]
    capped = plan_shards([("b", hiring)], 4096, Limits(), batches_per_shard=1)
    assert [len(s.target.seeds) for s in capped] == [PARALLEL_BATCH_SIZE]  # PettingZoo's cap
    whole = plan_shards([("a", keys)], 100, Limits(), batches_per_shard=None)
    assert [s.target.seeds for s in whole] == [keys.seeds]
    assert np.concatenate([s.target.seeds for s in shards[:3]]).tolist() == list(keys.seeds)
    assert {s.target.label for s in shards[:3]} == {"keys_chests/train"}


class ShardedInline(InlineExecutor):
    """This process, one batch per shard: the Ray executor's cutting without Ray."""

    batches_per_shard = 1


def test_a_sharded_run_stores_what_a_process_pool_run_stores(tmp_path):
    urls = {}
    for name, executor in (("pool", PoolExecutor(2)), ("sharded", ShardedInline())):
        urls[name] = f"sqlite:///{tmp_path / name}.db"
        outcomes = run_jobs(storage.make_engine(urls[name]), work(), batch_size=BATCH,
                            progress=False, executor=executor)  # fmt: skip
        assert {o.status for o in outcomes} == {STORED}, outcomes
    assert_identical(stored(urls["pool"]), stored(urls["sharded"]))


def test_unknown_executors_and_misplaced_options_are_named():
    with pytest.raises(ValueError, match="Did you mean 'ray'"):
        make_executor("rey")
    with pytest.raises(ValueError, match="--address is an option of --executor ray"):
        make_executor("local", address="auto")


# --------------------------------------------------------------------------- Ray

needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="Ray is not installed (pip install 'mesabench[ray]'): the Ray executor is untested",
)


@pytest.fixture(scope="module")
def ray_cluster():
    """One small local Ray cluster for this module (the executors reuse it)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024 * 1024,
             logging_level="WARNING")  # fmt: skip
    try:
        yield ray
    finally:
        ray.shutdown()


@needs_ray
def test_a_ray_run_stores_exactly_what_a_process_pool_run_stores(ray_cluster, tmp_path):
    from benchmark.evaluate.executors import RayExecutor

    urls = {name: f"sqlite:///{tmp_path / name}.db" for name in ("pool", "ray")}
    for name, executor in (("pool", PoolExecutor(2)), ("ray", RayExecutor())):
        with executor:
            outcomes = run_jobs(storage.make_engine(urls[name]), work(), batch_size=BATCH,
                                progress=False, executor=executor)  # fmt: skip
        assert {o.status for o in outcomes} == {STORED}, outcomes
    assert ray_cluster.is_initialized()  # an executor that did not start Ray leaves it be
    assert_identical(stored(urls["pool"]), stored(urls["ray"]))
    # The submission rows too: what the leaderboard and check read back.
    rows = [
        [(s.name, s.version, s.checksum, s.source, s.kind, s.privileged, s.n_instances)
         for s in storage.list_submissions(storage.make_engine(url, create=False))]
        for url in urls.values()
    ]  # fmt: skip
    assert rows[0] == rows[1]


@needs_ray
def test_a_failing_shard_fails_its_run_and_stores_nothing_of_it(ray_cluster, tmp_path):
    from benchmark.evaluate.executors import RayExecutor

    agent = tmp_path / "agent.py"
    agent.write_text(
        "from baselines.random_agent import factory as random_factory\n"
        "def factory(context):\n"
        "    if context.split == 'tenure':\n"
        "        raise RuntimeError('no tenure for me')\n"
        "    return random_factory(context)\n"
    )
    source = resolve(f"{agent}:factory")
    jobs = [Job(source, "picky", "1", "agent", t) for t in (
        split_target(envs.get_family("executive_hiring"), "train"),
        split_target(envs.get_family("executive_hiring"), "tenure"))]  # fmt: skip
    url = f"sqlite:///{tmp_path / 'ray.db'}"
    with RayExecutor() as executor:
        outcomes = run_jobs(storage.make_engine(url), jobs, batch_size=BATCH, progress=False,
                            executor=executor)  # fmt: skip
    status = {o.target.split: o for o in outcomes}
    assert status["train"].status == STORED
    assert status["tenure"].status == FAILED and "no tenure for me" in status["tenure"].message
    runs = storage.all_runs(storage.make_engine(url, create=False))
    assert [r.split for r in runs] == ["train"]


@needs_ray
@pytest.mark.skipif(bwrap_problem() is not None, reason=f"no sandbox here: {bwrap_problem()}")
def test_submit_on_ray_sandboxes_the_agent(ray_cluster, tmp_path, monkeypatch):
    """`submit --executor ray` from another directory: each task plays the agent in a
    bubblewrap sandbox (its own PID namespace), and the run is stored as a local one."""
    home = tmp_path / "agent_home"
    home.mkdir()
    (home / "agent.py").write_text(
        "import os\n"
        "from baselines.random_agent import factory as random_factory\n"
        "def factory(context):\n"
        "    if os.getpid() > 10:  # a sandboxed agent is among the first of its namespace\n"
        "        raise RuntimeError(f'not sandboxed: pid {os.getpid()}')\n"
        "    return random_factory(context)\n"
    )
    monkeypatch.chdir(home)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    done = CliRunner().invoke(app, [
        "submit", "agent.py:factory", "--name", "boxed", "--family", "executive_hiring",
        "--split", "train", "--batch-size", str(BATCH), "--executor", "ray", "--db", url,
        "--no-progress"])  # fmt: skip
    assert done.exit_code == 0, done.output
    (run,) = [r for r in storage.all_runs(storage.make_engine(url, create=False))
              if r.name == "boxed"]  # fmt: skip
    assert run.n_episodes == 128
    record = storage.get_submission(storage.make_engine(url, create=False), "boxed", "1")
    assert record.source == f"{(home / 'agent.py').resolve()}:factory"
    assert Path(record.source.split(":")[0]).is_absolute()


@needs_ray
def test_check_on_ray_compares_as_a_local_check_does(ray_cluster, tmp_path):
    """`check --executor ray` re-evaluates in shards and finds the stored scores again."""
    url = f"sqlite:///{tmp_path / 'check.db'}"
    common = ["--family", "executive_hiring", "--split", "train", "--batch-size", str(BATCH),
              "--db", url, "--no-progress"]  # fmt: skip
    done = CliRunner().invoke(app, ["submit", RANDOM, "--name", "random", *common])
    assert done.exit_code == 0, done.output
    reports = {}
    for executor in ("local", "ray"):
        checked = CliRunner().invoke(app, ["check", "random", "--json", "--executor", executor,
                                           *common])  # fmt: skip
        assert checked.exit_code == 0, checked.output
        reports[executor] = json.loads(checked.stdout)
    assert reports["ray"]["comparisons"] == reports["local"]["comparisons"]
    assert all(c["difference"] == 0 for c in reports["ray"]["comparisons"])


@needs_ray
def test_submit_joins_a_running_cluster_by_its_address(ray_cluster, tmp_path):
    """The README's recipe without `ray start`: another process's cluster, joined with
    --address by a separate command, which leaves the cluster running."""
    address = ray_cluster.get_runtime_context().gcs_address
    url = f"sqlite:///{tmp_path / 'joined.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "benchmark", "submit", RANDOM, "--name", "random", "--family",
         "keys_chests", "--split", "train", "--batch-size", str(BATCH), "--executor", "ray",
         "--address", address, "--db", url, "--no-progress"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "random@1: stored 1 new runs" in done.stdout
    assert ray_cluster.is_initialized() and ray_cluster.cluster_resources().get("CPU") == 2


def test_an_unreachable_cluster_is_named_at_once():
    """`ray.init` would retry for minutes; the command says what is wrong (exit 2) instead."""
    with pytest.raises(ExecutorUnavailable, match=r"cannot reach the Ray cluster at 127\.0\.0\.1"):
        _check_reachable("127.0.0.1:1")
    _check_reachable("auto")  # forms other than host:port are left to Ray


@needs_ray
def test_sweep_on_ray_stores_its_points(ray_cluster, tmp_path):
    url = f"sqlite:///{tmp_path / 'sweep.db'}"
    done = CliRunner().invoke(app, ["submit", RANDOM, "--name", "random", "--family",
                                    "executive_hiring", "--split", "train", "--db", url,
                                    "--no-progress"])  # fmt: skip
    assert done.exit_code == 0, done.output
    swept = CliRunner().invoke(app, ["sweep", "random", "--family", "executive_hiring",
                                     "--points", "2", "--seeds", "8", "--executor", "ray",
                                     "--out", str(tmp_path), "--db", url,
                                     "--no-progress"])  # fmt: skip
    assert swept.exit_code == 0, swept.output
    runs = storage.all_runs(storage.make_engine(url, create=False))
    assert {r.split for r in runs if r.name == "random"} == {"train", "shift=0.00", "shift=1.00"}
    assert (tmp_path / "curve_executive_hiring.png").exists()
