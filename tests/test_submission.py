"""The submission pipeline: runs stored one by one, failures store nothing, re-runs re-use."""

import dataclasses

import numpy as np
import pytest

import envs
from benchmark.evaluate.agents import resolve
from benchmark.evaluate.runner import Target
from benchmark.evaluate.submission import (
    FAILED,
    REUSED,
    STORED,
    Job,
    reference_jobs,
    run_jobs,
    submission_info,
)
from benchmark.store import storage

AGENTS = "tests/agents/misbehaving.py"
FAMILY = envs.get_family("keys_chests")


def target(split, n=12):
    s = FAMILY.split(split)
    return Target(FAMILY.name, s.name, s.env_id, tuple(s.eval_seeds[:n]))


@pytest.fixture
def engine(tmp_path):
    return storage.make_engine(f"sqlite:///{tmp_path / 'results.db'}")


def jobs_for(reference, name, splits, version="1"):
    source = resolve(reference)
    return [Job(source, name, version, "agent", target(s)) for s in splits]


def test_runs_are_stored_then_reused(engine):
    jobs = jobs_for("baselines/random_agent.py:factory", "random", ["train", "many_keys"])
    first = run_jobs(engine, jobs, workers=1, progress=False)
    assert [o.status for o in first] == [STORED, STORED]
    again = run_jobs(engine, jobs, workers=1, progress=False)
    assert [o.status for o in again] == [REUSED, REUSED]
    assert [o.run_id for o in again] == [o.run_id for o in first]
    stored = storage.load_episodes(engine, first[0].run_id)
    assert sorted(stored.seed.tolist()) == sorted(target("train").seeds)


def test_a_failing_run_stores_nothing_and_the_rest_carries_on(engine):
    jobs = jobs_for(f"{AGENTS}:fails_on_many_keys", "flaky", ["many_keys", "train"])
    outcomes = {o.target.split: o for o in run_jobs(engine, jobs, workers=1, progress=False)}
    assert outcomes["many_keys"].status == FAILED
    assert "fails_on_many_keys" in outcomes["many_keys"].message
    assert "keys_chests/many_keys" in outcomes["many_keys"].message
    assert outcomes["train"].status == STORED
    assert [r.split for r in storage.latest_runs(engine, name="flaky")] == ["train"]


def test_fail_fast_stops_at_the_first_failure(engine):
    jobs = jobs_for(f"{AGENTS}:fails_on_many_keys", "flaky", ["many_keys", "train"])
    outcomes = run_jobs(engine, jobs, workers=1, progress=False, fail_fast=True)
    assert [o.status for o in outcomes] == [FAILED]
    assert storage.latest_runs(engine, name="flaky") == []


def test_process_pool_gives_the_same_episodes_as_inline(engine, tmp_path):
    jobs = jobs_for(f"{AGENTS}:always_up", "up", ["train", "many_keys"])
    pooled = run_jobs(engine, jobs, workers=2, progress=False)
    other = storage.make_engine(f"sqlite:///{tmp_path / 'inline.db'}")
    inline = run_jobs(other, jobs, workers=1, progress=False)
    by_split = {o.target.split: o.run_id for o in inline}
    for outcome in pooled:
        a = storage.load_episodes(engine, outcome.run_id)
        b = storage.load_episodes(other, by_split[outcome.target.split])
        assert np.array_equal(a.matrix("keys_collected"), b.matrix("keys_collected"))


def test_reference_jobs_cover_random_and_every_oracle():
    names = sorted(j.name for j in reference_jobs([target("train")]))
    assert names == sorted(FAMILY.reference_names)
    assert all(j.kind == "reference" for j in reference_jobs([target("train")]))


def test_versions_follow_the_checksum(engine):
    jobs = jobs_for(f"{AGENTS}:always_up", "up", ["train"])
    info = submission_info(jobs[0])
    other = dataclasses.replace(info, checksum="another-checksum")
    assert storage.claim_submission(engine, info) == ("1", False)
    run_jobs(engine, jobs, workers=1, progress=False)
    assert storage.claim_submission(engine, info) == ("1", True)
    assert storage.claim_submission(engine, other) == ("2", False)
    assert storage.claim_submission(engine, other, "7b") == ("7b", False)
