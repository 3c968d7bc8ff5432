"""The README's code blocks, run as the README shows them.

Blocks are marked in README.md by an HTML comment just above them (invisible on
GitHub), ``<!-- readme-test: NAME -->``: a Python block is written to the file
NAME in a temporary directory, as a reader would save it, and run there; a
shell block's commands are run there, ``.venv/bin/python`` and
``.venv/bin/mesabench`` being this interpreter. Two things are made smaller than
the README's, and only these: ``submit`` gets options that keep it to one
split of one family on a fresh temporary database, and the training example
runs a few thousand steps (``TRAIN_STEPS``, which the example reads). Every
command uses the test's database (``MESABENCH_DB``); the CI gate's holds the
agent it gates, on one split.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import envs
from benchmark.evaluate.agents import resolve
from benchmark.evaluate.runner import evaluate, split_target
from benchmark.torch_policy import load_policy

REPO = Path(__file__).resolve().parent.parent
MARKED = re.compile(
    r"<!-- readme-test: (?P<name>[\w.]+) -->\n```(?P<lang>\w+)\n(?P<code>.*?)^```", re.S | re.M
)
#: What the README's commands are, in this environment.
COMMANDS = {
    ".venv/bin/python": [sys.executable],
    ".venv/bin/mesabench": [sys.executable, "-m", "benchmark"],
}
#: Steps of the training example here (the README's default is 1,000,000).
TRAIN_STEPS = "4096"


def readme_blocks() -> dict[str, tuple[str, str]]:
    """Every marked block of README.md: name -> (language, code)."""
    text = (REPO / "README.md").read_text()
    found = [(m["name"], m["lang"], m["code"]) for m in MARKED.finditer(text)]
    assert len({name for name, _, _ in found}) == len(found), "two README blocks share a name"
    assert text.count("<!-- readme-test:") == len(found), "a marker not right above a block"
    return {name: (lang, code) for name, lang, code in found}


BLOCKS = readme_blocks()


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=600,
        env={**os.environ, "COLUMNS": "200", **env},
    )  # fmt: skip
    assert done.returncode == 0, f"{shlex.join(args)}\n{done.stdout}\n{done.stderr}"
    return done


def write(name: str, where: Path) -> Path:
    lang, code = BLOCKS[name]
    assert lang == "python", name
    path = where / name
    path.write_text(code)
    return path


def run_shell_block(name: str, where: Path, db: Path, *restrict: str) -> list[str]:
    """Run each command of a shell block; ``submit`` gets ``restrict`` and a temporary db."""
    lang, code = BLOCKS[name]
    assert lang == "bash", name
    outputs = []
    for line in code.splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        args = [*COMMANDS.get(words[0], [words[0]]), *words[1:]]
        if words[:2] == [".venv/bin/mesabench", "submit"]:
            args += [*restrict, "--workers", "1", "--db", f"sqlite:///{db}"]
        # Every command reads and writes the test's database, never the repository's.
        url = f"sqlite:///{db}"
        outputs.append(run(args, where, TRAIN_STEPS=TRAIN_STEPS, MESABENCH_DB=url).stdout)
    return outputs


def test_every_block_the_readme_promises_is_marked() -> None:
    assert set(BLOCKS) == {
        "use_gymnasium.py", "use_pettingzoo.py", "my_agent.py", "submit_my_agent.sh",
        "train_my_agent.py", "submit_my_policy.sh", "ci_check.sh",
    }  # fmt: skip


@pytest.mark.parametrize("name", ["use_gymnasium.py", "use_pettingzoo.py"])
def test_the_environment_examples_run_in_a_fresh_interpreter(name: str, tmp_path: Path) -> None:
    run([sys.executable, str(write(name, tmp_path))], tmp_path)


def test_the_example_agent_plays_every_split_of_every_family(tmp_path: Path) -> None:
    """The README's agent, loaded as `submit` loads it, plays a few levels of each split."""
    write("my_agent.py", tmp_path)
    source = resolve(f"{tmp_path / 'my_agent.py'}:factory")
    played = 0
    for family in envs.FAMILIES.values():
        for split in family.splits:
            target = split_target(family, split.name)
            few = dataclasses.replace(target, seeds=target.seeds[:3])
            episodes, _ = evaluate(source, few)
            assert len(episodes.seed) == 3 and np.all(episodes.length > 0), target.label
            played += 1
    assert played == sum(len(f.splits) for f in envs.FAMILIES.values()) >= 9


def test_the_example_agent_is_submitted_as_the_readme_says(tmp_path: Path) -> None:
    write("my_agent.py", tmp_path)
    db = tmp_path / "results.db"
    (out,) = run_shell_block(
        "submit_my_agent.sh", tmp_path, db, "--family", "executive_hiring", "--split", "tenure"
    )
    assert "always-first@1: stored 1 new runs" in out


def test_the_own_training_example_trains_saves_and_submits(tmp_path: Path) -> None:
    write("train_my_agent.py", tmp_path)
    db = tmp_path / "results.db"
    trained, submitted = run_shell_block("submit_my_policy.sh", tmp_path, db, "--split", "train")
    assert "update 0: mean reward per step" in trained
    _, meta = load_policy(tmp_path / "my_policy.pt")
    assert meta["deterministic"] is False and meta["steps"] == int(TRAIN_STEPS)
    assert [p["key"] for p in meta["observation_layout"]] == ["inventory", "view"]
    assert "my-a2c@1: stored 1 new runs" in submitted
    board = run([*COMMANDS[".venv/bin/mesabench"], "leaderboard", "--json", "--db",
                 f"sqlite:///{db}"], tmp_path)  # fmt: skip
    rows = [r for r in json.loads(board.stdout) if r["agent"] == "my-a2c"]
    assert [(r["family"], r["split"]) for r in rows] == [("keys_chests", "train")]


def test_the_ci_gate_passes_and_writes_junit(tmp_path: Path) -> None:
    """The CI section's command, run as the GitHub Actions job runs it (the job's `run:`
    line is this block's), on a database holding the agent it gates (one split of it)."""
    _, code = BLOCKS["ci_check.sh"]
    (command,) = [line for line in code.splitlines() if line.strip()]
    assert f"- run: {command}" in (REPO / "README.md").read_text()  # the YAML runs the same
    db = tmp_path / "results.db"
    run([*COMMANDS[".venv/bin/mesabench"], "submit", "baselines/keys_chests.py:key_hoarder",
         "--name", "key_hoarder", "--family", "keys_chests", "--split", "train", "--workers",
         "1", "--db", f"sqlite:///{db}"], REPO)  # fmt: skip
    run_shell_block("ci_check.sh", tmp_path, db)
    suite = ET.parse(tmp_path / "mesabench-check.xml").getroot().find("testsuite")
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
    assert int(suite.get("tests")) == len(envs.get_family("keys_chests").objective_names)
