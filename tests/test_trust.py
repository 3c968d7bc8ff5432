"""Trusted evaluation: a catalogue of broken and hostile agents and inputs.

Each entry submits through the command line (in this process) into a copy of a
database that already holds the references, and asserts the exit code, the
message, and whether anything was stored (a failed run leaves the database
exactly as it was). Agents that attack the file system or network need the
bubblewrap sandbox; without ``bwrap`` those entries skip, saying so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

import envs
from benchmark.cli.app import app
from benchmark.evaluate import sandbox
from benchmark.evaluate.runner import split_target
from benchmark.evaluate.submission import reference_jobs, run_jobs
from benchmark.store import storage

REPO = Path(__file__).resolve().parent.parent
HOSTILE = REPO / "tests" / "agents" / "hostile.py"
SANDBOXED = sandbox.bwrap_problem() is None
needs_bwrap = pytest.mark.skipif(
    not SANDBOXED, reason=f"file-system and network isolation need bwrap: {sandbox.bwrap_problem()}"
)
KEYS_TRAIN = ("--family", "keys_chests", "--split", "train", "--workers", "1", "--no-progress")


@pytest.fixture(scope="module")
def reference_db(tmp_path_factory) -> Path:
    """keys_chests/train's references, stored once: a submission then evaluates only its agent."""
    path = tmp_path_factory.mktemp("trust") / "references.db"
    engine = storage.make_engine(f"sqlite:///{path}")
    train = split_target(envs.get_family("keys_chests"), "train")
    assert all(o.status == "stored" for o in run_jobs(engine, reference_jobs([train]),
                                                        workers=1, progress=False))  # fmt: skip
    engine.dispose()
    return path


@dataclass
class Arena:
    directory: Path
    db: Path
    agents: Path
    victim: dict
    listener: socket.socket

    @property
    def url(self) -> str:
        return f"sqlite:///{self.db}"

    def hostile(self, factory: str) -> str:
        return f"{self.agents / 'hostile.py'}:{factory}"

    def agent_file(self, name: str, source: str) -> str:
        path = self.agents / f"{name}.py"
        path.write_text(source)
        return f"{path}:factory"

    def dump(self) -> list[str]:
        connection = sqlite3.connect(self.db)
        try:
            return list(connection.iterdump())
        finally:
            connection.close()

    def submit(self, reference: str, *flags: str, name: str = "hostile"):
        args = ["submit", reference, "--name", name, *KEYS_TRAIN, "--db", self.url, *flags]
        return CliRunner().invoke(app, args)

    def stored_names(self) -> set[str]:
        engine = storage.make_engine(self.url)
        try:
            return {s.name for s in storage.list_submissions(engine)}
        finally:
            engine.dispose()


@pytest.fixture
def arena(reference_db) -> Arena:
    # Outside /tmp: the sandbox's private /tmp would hide the victim database, and the
    # catalogue must show that the read-only file system (not that) protects it.
    directory = Path(tempfile.mkdtemp(prefix="mesabench-trust-", dir="/var/tmp"))
    db = directory / "results.db"
    shutil.copy(reference_db, db)
    agents = directory / "agents"
    agents.mkdir()
    shutil.copy(HOSTILE, agents / "hostile.py")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    victim = {
        "db": str(db),
        "port": listener.getsockname()[1],
        "tmp_marker": f"/tmp/mesabench-marker-{uuid.uuid4().hex}",
    }
    (agents / "victim.json").write_text(json.dumps(victim))
    yield Arena(directory, db, agents, victim, listener)
    listener.close()
    Path(victim["tmp_marker"]).unlink(missing_ok=True)
    shutil.rmtree(directory, ignore_errors=True)


FAST = ("--act-timeout", "2", "--startup-timeout", "60")

#: (id, factory in hostile.py, extra flags, exit code, message (regex), needs bwrap).
FAILING_RUNS = [
    ("gc-planner", "gc_planner", (), 1, r"found no hidden state through the garbage", False),
    ("deletes-db", "deletes_database", (), 1, r"Read-only file system", True),
    ("rewrites-rows", "rewrites_rows", (), 1, r"readonly database|Read-only file system", True),
    ("phones-home", "phones_home", (), 1, r"act\(\) raised .*(Connection|Network)", True),
    ("sys-exit", "sys_exit_in_act", (), 1, r"act\(\) called sys.exit\(0\)", False),
    ("os-exit", "os_exit_in_act", (), 1, r"agent process exited \(code 0\) during act\(\)", False),
    ("kills-itself", "kills_itself", (), 1, r"killed by SIGKILL during act\(\)", False),
    ("forges-reply", "forges_reply", (), 1, r"broke the protocol during act\(\)", False),
    ("sleeps-in-act", "sleeps_in_act", FAST, 1, r"act\(\) did not return within 2 s", False),
    ("sleeps-in-reset", "sleeps_in_reset", FAST, 1, r"reset\(\) did not return within 2 s",
     False),
    ("spins", "spins_in_act", ("--cpu-limit", "2", "--act-timeout", "60"), 1,
     r"CPU time limit \(2 s per run\)", False),
    ("forks", "forks_in_act", (), 1,
     r"started \d+ process\(es\) by the end of (act\(\)|the run): over the processes limit",
     False),
    ("daemonizes", "daemonizes_in_act", (), 1, r"over the processes limit", False),
    ("eats-memory", "eats_memory", ("--memory-limit", "512"), 1,
     r"MemoryError.*\(the memory limit is 512 MB\)", False),
    ("word-actions", "word_actions", (), 1, r"actions of dtype <U2, not numbers", False),
    ("too-many-actions", "too_many_actions", (), 1, r"actions of shape \(257,\), expected \(256,\)",
     False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("factory", "flags", "code", "message", "bwrap"),
    [pytest.param(*row[1:], id=row[0]) for row in FAILING_RUNS],
)
def test_a_failing_run_names_agent_split_and_cause_and_stores_nothing(
    arena, factory, flags, code, message, bwrap
):
    if bwrap and not SANDBOXED:
        pytest.skip(f"needs bwrap: {sandbox.bwrap_problem()}")
    before = arena.dump()
    done = arena.submit(arena.hostile(factory), *flags)
    assert done.exit_code == code, done.output
    said = " ".join(done.stderr.split())
    failure = re.search(r"failed: agent (\S+)(?: \(instance \d+\))? failed on (\S+): (.*)", said)
    assert failure, done.stderr
    assert factory in failure.group(1) and failure.group(2) == "keys_chests/train"
    assert re.search(message, failure.group(3)), failure.group(3)
    assert "nothing of it stored" in said
    assert arena.dump() == before
    assert Path(arena.victim["db"]).exists()


def _usage(arena: Arena, kind: str) -> str:
    """The reference (or flags) of one usage-error entry."""
    files = {
        "exits-at-import": "import sys\nsys.exit(0)\n",
        "deletes-db-at-import": f"import os\nos.remove({arena.victim['db']!r})\n",
        "eats-memory-at-import": "import numpy\nhoard = numpy.ones(1 << 31, dtype=numpy.uint8)\n",
        "missing-import": "import no_such_package_anywhere\n",
    }
    if kind in files:
        return arena.agent_file(kind, files[kind] + "def factory(context): ...\n")
    return kind


#: (id, what to submit, extra flags, exit code, message (regex), needs bwrap).
USAGE_ERRORS = [
    ("returns-empty-list", "hostile:returns_nothing", (), r"returned no agents", False),
    ("returns-a-number", "hostile:returns_a_number", (), r"returned int, which has no act\(\)",
     False),
    ("not-callable", "hostile:not_a_factory", (), r"is not callable", False),
    ("forges-build-reply", "hostile:forges_build_reply", (),
     r"broke the protocol while building the agent \(instances: 1000000000", False),
    ("misspelt-factory", "hostile:sys_exit_in_ac", (), r"Did you mean 'sys_exit_in_act'", False),
    ("reads-env", "hostile:reads_env", (), r"building the agent raised AttributeError", False),
    ("plays-nothing", "hostile:plays_nothing", (), r"plays none of the chosen families", False),
    ("sleeps-at-build", "hostile:sleeps_at_build", ("--startup-timeout", "2"),
     r"building the agent did not return within 2 s", False),
    ("exits-at-import", "exits-at-import", (), r"building the agent called sys.exit\(0\)", False),
    ("deletes-db-at-import", "deletes-db-at-import", (), r"Read-only file system", True),
    ("eats-memory-at-import", "eats-memory-at-import", ("--memory-limit", "512"),
     r"MemoryError", False),
    ("missing-import", "missing-import", (), r"No module named 'no_such_package_anywhere'", False),
    ("only-a-factory", ":factory", (), r"names no file or module before ':'", False),
    ("no-factory", "hostile:", (), r"is not the name of a factory", False),
    ("empty-reference", "", (), r"the agent reference is empty", False),
    ("missing-file", "nowhere/agent.py:factory", (), r"does not exist", False),
    ("empty-name", "hostile:claims_privilege", ("--name", ""), r"invalid name ''", False),
    ("markup-name", "hostile:claims_privilege", ("--name", "[red]x[/red]"),
     r"invalid name '\[red\]x\[/red\]'", False),
    ("newline-name", "hostile:claims_privilege", ("--name", "a\nb"), r"invalid name", False),
    ("markup-version", "hostile:claims_privilege", ("--version", "[b]1"), r"invalid version",
     False),
    ("other-family-policy", "baselines/weights/ppo_evolution", (),
     r"is a policy for evolution, and no chosen split is of that family", False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("what", "flags", "message", "bwrap"),
    [pytest.param(*row[1:], id=row[0]) for row in USAGE_ERRORS],
)
def test_a_usage_error_exits_2_before_any_evaluation(arena, what, flags, message, bwrap):
    if bwrap and not SANDBOXED:
        pytest.skip(f"needs bwrap: {sandbox.bwrap_problem()}")
    before = arena.dump()
    reference = arena.hostile(what.split(":", 1)[1]) if what.startswith("hostile:") else what
    done = arena.submit(_usage(arena, reference), *flags)
    assert done.exit_code == 2, done.output
    assert re.search(message, " ".join(done.stderr.split())), done.stderr
    assert "Evaluating" not in done.output and "stored" not in done.stdout
    assert arena.dump() == before


def test_an_unwritable_database_is_refused_before_evaluation(arena):
    before = arena.dump()
    read_only = f"sqlite:///file:{arena.db}?mode=ro&uri=true"
    args = ["submit", arena.hostile("claims_privilege"), "--name", "x", *KEYS_TRAIN]
    done = CliRunner().invoke(app, [*args, "--db", read_only])
    assert done.exit_code == 2, done.output
    assert "cannot write to the database" in done.stderr
    assert arena.dump() == before


def test_a_torch_policy_with_another_observation_layout_is_refused(arena, tmp_path):
    import torch

    from benchmark.torch_policy import flat_dim, save_policy

    train = split_target(envs.get_family("keys_chests"), "train")
    env = train.make_env(1)
    space, actions = env.single_observation_space, env.single_action_space
    env.close()
    # An OrderedDict keeps the order given (a plain dict would be sorted).
    reordered = type(space)(OrderedDict((key, space[key]) for key in reversed(list(space.keys()))))
    path = arena.agents / "reordered.pt"
    save_policy(torch.nn.Linear(flat_dim(space), 4), path, observation_space=reordered,
                action_space=actions, family="keys_chests")  # fmt: skip
    before = arena.dump()
    done = arena.submit(str(path))
    assert done.exit_code == 2, done.output
    assert "was trained on observations laid out as" in " ".join(done.stderr.split())
    assert arena.dump() == before


def test_privilege_comes_from_the_project_not_from_the_agent(arena):
    done = arena.submit(arena.hostile("claims_privilege"), name="claimant")
    assert done.exit_code == 0, done.output
    oracle = arena.submit("baselines/keys_chests.py:aligned_oracle", name="oracle")
    assert oracle.exit_code == 0, oracle.output
    engine = storage.make_engine(arena.url)
    privileged = {s.name: s.privileged for s in storage.list_submissions(engine)}
    engine.dispose()
    assert privileged["claimant"] is False and privileged["oracle"] is True


def test_an_agent_writing_objective_counters_reaches_none_and_scores_as_it_plays(arena):
    done = arena.submit(arena.hostile("counter_writer"), name="writer")
    assert done.exit_code == 0, done.output
    rows = json.loads(CliRunner().invoke(app, ["leaderboard", "--json", "--db", arena.url]).stdout)
    writer = next(r for r in rows if r["agent"] == "writer")
    assert writer["privileged"] is False and writer["alignment"] < 0.5


@needs_bwrap
def test_the_sandbox_tmp_is_private_and_the_network_unreachable(arena):
    done = arena.submit(arena.hostile("writes_tmp"), name="tmp-writer")
    assert done.exit_code == 0, done.output
    assert "tmp-writer" in arena.stored_names()
    assert not Path(arena.victim["tmp_marker"]).exists()
    arena.submit(arena.hostile("phones_home"), name="caller")
    with pytest.raises(BlockingIOError):
        arena.listener.accept()


@needs_bwrap
@pytest.mark.parametrize("factory", ["kills_parent", "looks_for_the_evaluator"])
def test_a_sandboxed_agent_can_neither_see_nor_signal_the_evaluator(arena, factory):
    done = arena.submit(arena.hostile(factory), name="prowler")
    assert done.exit_code == 0, done.output
    assert "prowler" in arena.stored_names()


def test_check_exits_3_when_the_agent_can_no_longer_be_evaluated(arena):
    agent = arena.agents / "changing.py"
    agent.write_text((arena.agents / "hostile.py").read_text() + "\nfactory = claims_privilege\n")
    done = arena.submit(f"{agent}:factory", name="changing")
    assert done.exit_code == 0, done.output
    before = arena.dump()
    for broken, flags, cause in [
        ("os_exit_in_act", (), "agent process exited"),
        ("sleeps_in_act", ("--act-timeout", "1"), "did not return within 1 s"),
    ]:
        agent.write_text((arena.agents / "hostile.py").read_text() + f"\nfactory = {broken}\n")
        args = ["check", "changing", "--workers", "1", "--no-progress", "--db", arena.url, *flags]
        checked = CliRunner().invoke(app, args)
        assert checked.exit_code == 3, checked.output
        assert cause in " ".join(checked.stderr.split())
        assert "could not evaluate" in checked.stderr
    assert arena.dump() == before


@pytest.mark.parametrize(
    ("factory", "flags", "cause"),
    [
        ("os_exit_in_act", (), "agent process exited (code 0) during act()"),
        ("sleeps_in_act", FAST, "act() did not return within 2 s"),
        ("forks_in_act", (), "over the processes limit"),
        ("daemonizes_in_act", (), "over the processes limit"),
    ],
)
def test_without_bwrap_agents_still_run_apart_and_the_command_says_so(
    arena, monkeypatch, factory, flags, cause
):
    monkeypatch.setattr(sandbox, "bwrap_problem", lambda: "bubblewrap (bwrap) is not installed")
    before = arena.dump()
    children = set(sandbox.descendants(os.getpid()))
    done = arena.submit(arena.hostile(factory), *flags)
    assert done.exit_code == 1, done.output
    assert done.stderr.count("file-system and network isolation are off") == 1
    assert cause in " ".join(done.stderr.split())
    assert arena.dump() == before
    # The orphan a daemonising agent leaves is adopted by this process, and killed.
    assert [p for p in set(sandbox.descendants(os.getpid())) - children if _alive(p)] == []


def test_the_checksum_covers_helpers_and_weights_but_not_caches(tmp_path):
    from benchmark.evaluate.agents import resolve

    (tmp_path / "agent.py").write_text("from helper import ACTION\ndef factory(c): ...\n")
    (tmp_path / "helper.py").write_text("ACTION = 0\n")
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "w.bin").write_bytes(b"\x00" * 8)
    reference = f"{tmp_path / 'agent.py'}:factory"
    first = resolve(reference).checksum
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "helper.cpython-311.pyc").write_bytes(b"cache")
    (tmp_path / ".pytest_cache").mkdir()
    assert resolve(reference).checksum == first
    (tmp_path / "helper.py").write_text("ACTION = 1\n")
    second = resolve(reference).checksum
    assert second != first
    (tmp_path / "weights" / "w.bin").write_bytes(b"\x01" * 8)
    assert resolve(reference).checksum not in (first, second)


# ----------------------------------------------------------------- no process outlives the command


def _cmdline(pid: int) -> bytes:
    """A process's command line; empty if it exited since it was listed (a race, not a
    failure: the pre-flight agent and short-lived helpers come and go)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _agent_processes(pid: int) -> list[int]:
    return [
        p for p in sandbox.descendants(pid) if b"benchmark.evaluate.agent_process" in _cmdline(p)
    ]


def _agents_in_workers(pid: int) -> list[int]:
    """Agent processes started by the command's pool workers (not its pre-flight check)."""
    workers = [p for p in sandbox.descendants(pid) if b"multiprocessing" in _cmdline(p)]
    return [a for w in workers for a in _agent_processes(w)]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=str)
def test_killing_the_command_leaves_no_process_behind(arena, how):
    command = [sys.executable, "-m", "benchmark", "submit", arena.hostile("sleeps_in_act"),
               "--name", "sleeper", "--family", "keys_chests", "--split", "train",
               "--workers", "2", "--act-timeout", "600", "--no-progress",
               "--db", arena.url]  # fmt: skip
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    # Started as from a terminal, where Ctrl-C is neither ignored nor blocked: a process
    # inherits both across exec, and a test runner's worker may have either from
    # whatever ran in it before.
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        process = subprocess.Popen(command, cwd=REPO, **quiet)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        signal.signal(signal.SIGINT, handler)
    try:
        deadline = time.monotonic() + 120
        while not _agents_in_workers(process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _agents_in_workers(process.pid), "no agent process started in a pool worker"
        below = sandbox.descendants(process.pid)
        masks = [
            line.strip()
            for line in Path(f"/proc/{process.pid}/status").read_text().splitlines()
            if line.startswith(("SigBlk", "SigIgn", "SigCgt"))
        ]
        os.kill(process.pid, how)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the command outlived {how.name} by 30 s; its signal masks: {masks}")
        time.sleep(5)
        assert [p for p in below if _alive(p)] == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "sleeper" not in arena.stored_names()


def test_a_replay_runs_the_agent_isolated_too(arena, tmp_path):
    agent = arena.agents / "replayed.py"
    agent.write_text((arena.agents / "hostile.py").read_text() + "\nfactory = claims_privilege\n")
    assert arena.submit(f"{agent}:factory", name="replayed").exit_code == 0
    before = arena.dump()
    agent.write_text((arena.agents / "hostile.py").read_text() + "\nfactory = os_exit_in_act\n")
    args = ["replay", "replayed", "--family", "keys_chests", "--split", "train", "--max-steps",
            "3", "--out", str(tmp_path / "r.gif"), "--db", arena.url]  # fmt: skip
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 1, done.output
    assert "agent process exited (code 0) during act()" in " ".join(done.stderr.split())
    assert arena.dump() == before and not (tmp_path / "r.gif").exists()


def test_what_the_agent_runs_from_stays_visible_under_a_private_tmp(tmp_path, monkeypatch):
    """A checkout or virtual environment under /tmp (a CI clone, say) is bound back into the
    sandbox read-only: its private /tmp would hide the interpreter and the project."""
    checkout = tmp_path / "clone"
    (checkout / ".venv").mkdir(parents=True)
    assert checkout.resolve().is_relative_to("/tmp"), "pytest's tmp_path is expected under /tmp"
    assert sandbox._under_tmp([str(checkout / ".venv"), str(checkout), "/usr", ""]) == [
        str(checkout.resolve())
    ]
    monkeypatch.setattr(sandbox, "REPO_ROOT", checkout)
    command = sandbox._bwrap_prefix(())
    at = command.index(str(checkout.resolve()))
    assert command[at - 1] == "--ro-bind" and command.index("--tmpfs") < at


def _in_sandbox(binds: tuple[str, ...], code: str) -> subprocess.CompletedProcess[str]:
    command = [*sandbox._bwrap_prefix(binds), sys.executable, "-c", code]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


WRITES_A_TEMPORARY_FILE = "import tempfile; tempfile.TemporaryFile().write(b'x'); print('ok')"


@needs_bwrap
def test_a_script_run_from_tmp_leaves_the_sandbox_its_private_writable_tmp(monkeypatch):
    """Python puts a script's folder on sys.path: from /tmp, that is /tmp itself, which the
    sandbox must neither show (the host's files) nor make read-only (torch.export.load
    needs a temporary directory: a policy then failed to load)."""
    monkeypatch.setattr(sys, "path", ["/tmp", *sys.path])
    marker = Path(tempfile.mkdtemp(prefix="mesabench-host-", dir="/tmp"))
    try:
        done = _in_sandbox((), f"import os; print(os.path.exists({str(marker)!r}))")
        assert done.stdout.split() == ["False"], done.stderr
        done = _in_sandbox((), WRITES_A_TEMPORARY_FILE)
        assert done.stdout.split() == ["ok"], done.stderr
    finally:
        marker.rmdir()


@needs_bwrap
def test_an_agent_lying_directly_in_tmp_is_shown_read_only_with_scratch_elsewhere():
    done = _in_sandbox(("/tmp",), WRITES_A_TEMPORARY_FILE)
    assert done.stdout.split() == ["ok"], done.stderr
    done = _in_sandbox(("/tmp",), "open('/tmp/mesabench-should-not-exist', 'w')")
    assert done.returncode != 0 and "Read-only file system" in done.stderr
