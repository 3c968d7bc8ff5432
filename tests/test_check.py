"""`mesabench check` as a CI gate: exit codes, JSON and JUnit output, filters, order, and
stored agents that load the same from any working directory."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

import envs
from benchmark.cli.app import app
from benchmark.evaluate.agents import REPO_ROOT, canonical_reference, resolve, resolve_stored
from benchmark.evaluate.runner import split_target
from benchmark.report.check import order_key
from benchmark.store import storage

HIRING = "executive_hiring"
OBJECTIVES = list(envs.get_family(HIRING).objective_names)
GOOD = "from baselines.executive_hiring import honest_executive as factory\n"
WORSE = "from baselines.random_agent import factory\n"


def invoke(*args: str, cwd: Path | None = None, monkeypatch=None):
    if cwd is not None:
        monkeypatch.chdir(cwd)
    return CliRunner().invoke(app, [*args, "--workers", "1", "--no-progress"])


@pytest.fixture
def arena(tmp_path, monkeypatch):
    """An agent submitted by a *relative* path from its own directory, on two splits."""
    home = tmp_path / "agent_home"
    home.mkdir()
    (home / "agent.py").write_text(GOOD)
    url = f"sqlite:///{tmp_path / 'check.db'}"
    done = invoke("submit", "agent.py:factory", "--name", "mine", "--family", HIRING,
                  "--split", "train", "--split", "tenure", "--db", url,
                  cwd=home, monkeypatch=monkeypatch)  # fmt: skip
    assert done.exit_code == 0, done.output
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # every check below runs from another directory
    return home, url


def check(url: str, *args: str):
    return CliRunner().invoke(app, ["check", "mine", "--db", url, "--workers", "1",
                                    "--no-progress", *args])  # fmt: skip


def test_an_unchanged_agent_passes_from_another_directory_in_a_stable_order(arena, tmp_path):
    home, url = arena
    stored = storage.get_submission(storage.make_engine(url, create=False), "mine", "1")
    assert stored is not None and stored.source == f"{(home / 'agent.py').resolve()}:factory"
    done = check(url, "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)  # stdout holds only the JSON
    assert report["status"] == "pass" and report["exit_code"] == 0
    rows = [(c["family"], c["split"], c["objective"]) for c in report["comparisons"]]
    # Family, split in the family's declared order (train first), objective intended first.
    assert rows == [(HIRING, split, o) for split in ("train", "tenure") for o in OBJECTIVES]
    assert all(c["difference"] == 0 and not c["regressed"] for c in report["comparisons"])
    assert report["errors"] == [] and report["notes"] == []


def test_split_and_family_filters(arena):
    _, url = arena
    done = check(url, "--json", "--split", "tenure", "--family", HIRING)
    assert done.exit_code == 0, done.output
    assert {c["split"] for c in json.loads(done.stdout)["comparisons"]} == {"tenure"}


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--family", "executive_hirin"), "Did you mean 'executive_hiring'"),
        (("--split", "tenur"), "Did you mean 'tenure'"),
        (("--split", "many_keys"), "has no stored runs on many_keys"),
        (("--family", "keys_chests"), "has no stored runs on keys_chests"),
    ],
)
def test_bad_usage_exits_2_before_evaluating(arena, args, said):
    _, url = arena
    done = check(url, *args)
    assert done.exit_code == 2, done.output
    assert said in " ".join(done.stderr.split())


def test_a_regression_exits_1_with_a_junit_failure_per_objective(arena, tmp_path):
    home, url = arena
    (home / "agent.py").write_text(WORSE)
    junit = tmp_path / "report.xml"
    done = check(url, "--junit-xml", str(junit))
    assert done.exit_code == 1, done.output
    assert "regression: executive_hiring/train company_value fell by" in done.stderr

    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    # One testcase per (agent, split, objective); the agent is the suite.
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        (f"{HIRING}.{split}", o) for split in ("train", "tenure") for o in OBJECTIVES
    ]
    failed = [c for c in cases if c.find("failure") is not None]
    assert failed and all(c.find("error") is None for c in cases)
    assert ("executive_hiring.train", "company_value") in {
        (c.get("classname"), c.get("name")) for c in failed
    }
    for element in (root, suite):
        assert element.get("tests") == str(len(cases))
        assert element.get("failures") == str(len(failed))
        assert element.get("errors") == "0"
        float(element.get("time"))
    assert suite.get("skipped") == "0"
    # Only attributes and children the common JUnit schemas know (Jenkins' junit-10.xsd).
    assert set(root.attrib) <= {"name", "time", "tests", "failures", "disabled", "errors"}
    assert set(suite.attrib) <= {"name", "tests", "failures", "errors", "time", "disabled",
                                 "skipped", "timestamp", "hostname", "id", "package"}  # fmt: skip
    assert suite[0].tag == "properties"
    for case in cases:
        assert set(case.attrib) == {"name", "classname", "time"}
        assert {child.tag for child in case} <= {"failure", "error", "skipped"}
    assert suite.get("name") == "mesabench check mine@1"
    datetime.fromisoformat(suite.get("timestamp"))
    assert suite.get("hostname")
    for case in cases:
        float(case.get("time"))
        failure = case.find("failure")
        if failure is not None:
            assert failure.get("type") == "regression" and "fell by" in failure.get("message")
    properties = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert properties["status"] == "regression" and properties["exit_code"] == "1"


def test_an_agent_that_cannot_be_evaluated_exits_3_with_junit_errors(arena, tmp_path):
    home, url = arena
    (home / "agent.py").unlink()
    junit = tmp_path / "report.xml"
    done = check(url, "--junit-xml", str(junit), "--json")
    assert done.exit_code == 3, done.output
    report = json.loads(done.stdout)
    assert report["status"] == "error" and report["comparisons"] == []
    assert [(e["family"], e["split"]) for e in report["errors"]] == [
        (HIRING, "train"), (HIRING, "tenure")
    ]  # fmt: skip
    assert "does not exist" in report["errors"][0]["reason"]
    root = ET.parse(junit).getroot()
    cases = root.find("testsuite").findall("testcase")
    assert len(cases) == 2 * len(OBJECTIVES)
    assert all(c.find("error").get("type") == "could-not-evaluate" for c in cases)
    assert root.get("errors") == str(len(cases)) and root.get("failures") == "0"


def test_an_agent_that_fails_while_playing_exits_3_not_1(arena):
    home, _ = arena
    (home / "agent.py").write_text(
        "def factory(context):\n    raise RuntimeError('broken on purpose')\n"
    )
    done = check(arena[1])
    assert done.exit_code == 3, done.output
    assert "broken on purpose" in done.stderr and "could not evaluate" in done.stderr


def _store_on_an_older_environment(url: str, split: str) -> None:
    """A run of ``mine`` on an environment whose fingerprint is not the current one's
    (as a run on a superseded ``-v0`` is)."""
    engine = storage.make_engine(url)
    record = storage.get_submission(engine, "mine", "1")
    run = next(r for r in storage.latest_runs(engine, name="mine") if r.split == "train")
    target = split_target(envs.get_family(HIRING), split)
    storage.store_run(
        engine,
        storage.SubmissionInfo(
            record.name, record.version, record.checksum, record.source, record.kind
        ),
        storage.EnvironmentInfo(
            HIRING, split, target.env_id.replace("-v", "-old-v"), 0, "0" * 64, "{}"
        ),
        storage.load_episodes(engine, run.run_id),
        started_at=datetime.now(UTC),
        duration_s=1.0,
    )


def test_superseded_runs_are_noted_only_when_asked(arena):
    _, url = arena
    _store_on_an_older_environment(url, "train")  # train also has a current run
    quiet = check(url, "--json")
    assert quiet.exit_code == 0, quiet.output
    assert json.loads(quiet.stdout)["notes"] == [] and "superseded" not in quiet.stderr
    verbose = check(url, "--verbose")
    assert verbose.exit_code == 0, verbose.output
    assert "executive_hiring/train: an older run is superseded" in " ".join(verbose.stdout.split())


def test_a_split_stored_only_on_an_older_environment_is_skipped_and_said(arena, tmp_path):
    _, url = arena
    _store_on_an_older_environment(url, "short_contract")
    junit = tmp_path / "report.xml"
    done = check(url, "--json", "--junit-xml", str(junit))
    assert done.exit_code == 0, done.output  # the other splits were compared
    report = json.loads(done.stdout)
    assert [(s["family"], s["split"]) for s in report["skipped"]] == [(HIRING, "short_contract")]
    assert any("short_contract" in note for note in report["notes"])
    skipped = [
        c for c in ET.parse(junit).getroot().iter("testcase") if c.find("skipped") is not None
    ]
    assert {c.get("classname") for c in skipped} == {f"{HIRING}.short_contract"}
    only = check(url, "--split", "short_contract")
    assert only.exit_code == 3, only.output  # nothing was compared: never a pass


def test_stored_references_name_the_same_files_from_anywhere(tmp_path, monkeypatch):
    (tmp_path / "agent.py").write_text(GOOD)
    monkeypatch.chdir(tmp_path)
    absolute = f"{(tmp_path / 'agent.py').resolve()}:factory"
    assert canonical_reference("agent.py:factory") == absolute
    # Inside the checkout a path stays relative to its root: a database moves with the repo.
    assert canonical_reference(f"{REPO_ROOT}/baselines/keys_chests.py:key_hoarder") == (
        "baselines/keys_chests.py:key_hoarder"
    )
    for kept in ("baselines.random_agent:factory", "reference:keys_chests:random"):
        assert canonical_reference(kept) == kept
    monkeypatch.chdir(tmp_path.parent)
    assert resolve_stored(absolute).checksum == resolve(absolute).checksum
    # A repository path resolves against the checkout, wherever the command runs.
    source = resolve_stored("baselines/weights/ppo_keys_chests")
    assert Path(source.reference) == (REPO_ROOT / "baselines/weights/ppo_keys_chests").resolve()


def test_order_key_puts_declared_splits_then_shift_points():
    keys = [("keys_chests", s, o) for s in ("shift=0.40", "many_keys", "train", "shift=0.00")
            for o in ("keys_collected", "chests_opened")]  # fmt: skip
    ordered = sorted(keys, key=lambda k: order_key(*k))
    assert ordered[:2] == [("keys_chests", "train", "chests_opened"),
                           ("keys_chests", "train", "keys_collected")]  # fmt: skip
    assert [k[1] for k in ordered[::2]] == ["train", "many_keys", "shift=0.00", "shift=0.40"]


def test_a_missing_reference_fails_its_splits_and_exits_3(arena):
    """Without a yardstick nothing can be compared: each split says why (never a crash)."""
    _, url = arena
    engine = storage.make_engine(url)
    (reference,) = [s for s in storage.list_submissions(engine, kind="reference")
                    if s.name == "random"]  # fmt: skip
    storage.delete_submission(engine, reference.name, reference.version)
    done = check(url, "--json")
    assert done.exit_code == 3, done.output
    errors = json.loads(done.stdout)["errors"]
    assert [(e["family"], e["split"]) for e in errors] == [(HIRING, "train"), (HIRING, "tenure")]
    assert all("no random reference results" in e["reason"] for e in errors)
