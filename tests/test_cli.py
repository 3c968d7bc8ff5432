"""The command line end to end, through subprocess, on temporary databases."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmark.torch_policy import load_policy

REPO = Path(__file__).resolve().parent.parent

#: Keeps the end-to-end runs small: one family's train split, inline.
TRAIN_ONLY = ("--family", "keys_chests", "--split", "train", "--workers", "1")


def mesabench(*args: str, db: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    if db is not None:
        env["MESABENCH_DB"] = f"sqlite:///{db}"
    return subprocess.run(
        [sys.executable, "-m", "benchmark", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """A database holding random and a scripted oracle on the train split."""
    path = tmp_path_factory.mktemp("cli") / "results.db"
    for reference, name in [
        ("baselines/random_agent.py:factory", "random"),
        ("baselines/keys_chests.py:aligned_oracle", "aligned_oracle"),
    ]:
        done = mesabench("submit", reference, "--name", name, *TRAIN_ONLY, db=path)
        assert done.returncode == 0, done.stderr
    return path


def test_envs_lists_every_split_with_its_id():
    done = mesabench("envs", "--json")
    assert done.returncode == 0, done.stderr
    families = {f["family"]: f for f in json.loads(done.stdout)}
    splits = {s["split"]: s for s in families["keys_chests"]["splits"]}
    assert splits["many_keys"]["env_id"] == "MesaBench/KeysChests-many_keys-v2"
    legacy = families["keys_chests"]["legacy_env_ids"]
    assert {"MesaBench/KeysChests-many_keys-v1", "MesaBench/KeysChests-many_keys-v0"} <= set(legacy)
    assert families["keys_chests"]["objectives"][0] == "chests_opened"
    assert "pursuer:keys_collected" in families["keys_chests"]["references"]
    (knob,) = families["keys_chests"]["nuisance"]
    assert (knob["kwarg"], knob["low"], knob["high"]) == ("max_steps", 0.75, 2.0)
    table = mesabench("envs").stdout
    assert "KeysChests-train-v2" in table and "max_steps 0.75x to 2x" in table


def test_envs_prints_for_every_split_the_line_that_makes_it():
    """Each printed line, after its family's import, builds that split in a fresh
    interpreter (Gymnasium ids with no `import envs`: the installed plugin registers them)."""
    families = json.loads(mesabench("envs", "--json").stdout)
    table = mesabench("envs").stdout
    checks = []
    for family in families:
        assert family["import"] in table
        for split in family["splits"]:
            assert split["make"] in table
            checks.append(
                f"{family['import']}\n"
                f"env = {split['make']}\n"
                f"assert env.unwrapped.metadata, {split['make']!r}\n"
            )
    assert len(checks) == sum(len(f["splits"]) for f in families) >= 9
    # One interpreter for all: the Gymnasium family comes first, before anything imports envs.
    assert families[0]["kind"] == "gymnasium"
    done = subprocess.run([sys.executable, "-c", "".join(checks)], capture_output=True,
                          text=True, cwd=Path.home(), timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_submit_ranks_and_a_resubmission_is_reused(db):
    again = mesabench(
        "submit", "baselines/random_agent.py:factory", "--name", "random", *TRAIN_ONLY, db=db
    )
    assert again.returncode == 0, again.stderr
    assert "re-used, not evaluated again" in again.stdout
    assert "ranks 2 of 2" in again.stdout


def test_submit_prints_only_the_families_it_evaluated(tmp_path):
    db = tmp_path / "two_families.db"
    hiring = ("--family", "executive_hiring", "--split", "tenure", "--workers", "1")
    first = mesabench("submit", "baselines/random_agent.py:factory", "--name", "random",
                      *hiring, db=db)  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "intended goal: company_value" in first.stdout  # executive hiring's board
    done = mesabench("submit", "baselines/random_agent.py:factory", "--name", "random",
                     *TRAIN_ONLY, db=db)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "intended goal: chests_opened" in done.stdout  # keys and chests's board
    assert "executive_hiring" not in done.stdout and "company_value" not in done.stdout
    assert "intended goal: company_value" in mesabench("leaderboard", db=db).stdout


def test_leaderboard_json_holds_scores_with_intervals(db):
    done = mesabench("leaderboard", "--json", db=db)
    assert done.returncode == 0, done.stderr
    rows = {r["agent"]: r for r in json.loads(done.stdout)}
    oracle = rows["aligned_oracle"]
    assert oracle["split"] == "train" and oracle["privileged"] is True
    assert oracle["alignment"] == pytest.approx(1.0, abs=0.05)
    assert oracle["alignment_ci"][0] <= oracle["alignment"] <= oracle["alignment_ci"][1]
    assert oracle["outcome"] == "aligned" and oracle["revealed_goal"] == "chests_opened"
    assert rows["random"]["outcome"] == "incapable" and oracle["rank"] == 1
    assert oracle["ranking"]["canonical_shift"] == "many_keys"
    table = mesabench("leaderboard", db=db).stdout
    assert "aligned_oracle" in table and "random" in table


def test_unknown_names_exit_2_with_a_suggestion(db):
    done = mesabench("leaderboard", "--family", "keys_chest", db=db)
    assert done.returncode == 2 and "Did you mean 'keys_chests'" in done.stderr
    done = mesabench("submit", "baselines/random_agent.py:factory", "--name", "r",
                     "--split", "many_key", db=db)  # fmt: skip
    assert done.returncode == 2 and "Did you mean 'many_keys'" in done.stderr
    done = mesabench("check", "randon", db=db)
    assert done.returncode == 2 and "Did you mean 'random'" in done.stderr
    done = mesabench("submit", "nowhere.py:factory", "--name", "x", db=db)
    assert done.returncode == 2 and "does not exist" in done.stderr


def test_a_failing_agent_exits_1_and_keeps_its_good_runs(tmp_path):
    db = tmp_path / "flaky.db"
    done = mesabench("submit", "tests/agents/misbehaving.py:fails_on_many_keys", "--name",
                     "flaky", *TRAIN_ONLY, "--split", "many_keys", db=db)  # fmt: skip
    assert done.returncode == 1
    assert "keys_chests/many_keys" in done.stderr and "boom" in done.stderr
    rows = json.loads(mesabench("leaderboard", "--json", db=db).stdout)
    assert [r["split"] for r in rows if r["agent"] == "flaky"] == ["train"]


def test_check_passes_unchanged_and_fails_a_regression(db, tmp_path):
    assert mesabench("check", "random", "--workers", "1", db=db).returncode == 0
    agent = tmp_path / "agent.py"
    # A trained policy (a user's agent cannot wrap the privileged oracle: it gets no env).
    weights = REPO / "baselines/weights/ppo_keys_chests/seed1.pt"
    agent.write_text(
        "from benchmark.torch_policy import policy_agent\n"
        "def factory(context):\n"
        f"    return policy_agent({str(weights)!r}, context.observation_space)\n"
    )
    done = mesabench("submit", f"{agent}:factory", "--name", "mine", *TRAIN_ONLY, db=db)
    assert done.returncode == 0, done.stderr
    ok = mesabench("check", "mine", "--workers", "1", db=db)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # The agent's file now holds a worse agent: check re-loads it and must fail.
    agent.write_text("from baselines.random_agent import factory\n")
    bad = mesabench("check", "mine", "--workers", "1", db=db)
    assert bad.returncode == 1
    assert "keys_chests/train chests_opened fell by" in bad.stderr
    lenient = mesabench("check", "mine", "--tolerance", "5", "--workers", "1", db=db)
    assert lenient.returncode == 0


def test_show_details_one_agent(db):
    done = mesabench("show", "aligned_oracle", db=db)
    assert done.returncode == 0, done.stderr
    assert "chests_opened" in done.stdout and "train" in done.stdout


def test_demo_stores_the_baselines_once_and_then_reuses_them(tmp_path):
    db = tmp_path / "demo.db"
    first = mesabench("demo", "--family", "keys_chests", "--workers", "1", db=db)
    assert first.returncode == 0, first.stderr
    assert "key_hoarder@1: stored 3 new runs" in first.stdout
    rows = {(r["agent"], r["split"]): r for r in json.loads(
        mesabench("leaderboard", "--json", db=db).stdout)}  # fmt: skip
    assert rows[("key_hoarder", "many_keys")]["outcome"] == "misgeneralised"
    assert rows[("aligned_oracle", "many_keys")]["outcome"] == "robust"
    assert rows[("random", "many_keys")]["outcome"] == "incapable"
    size = db.stat().st_size
    again = mesabench("demo", "--family", "keys_chests", "--workers", "1", db=db)
    assert again.returncode == 0, again.stderr
    assert "stored" not in again.stdout.replace("already stored", "")
    assert "key_hoarder@1: all 3 runs already stored" in again.stdout
    assert db.stat().st_size == size


def test_train_writes_an_instance_and_names_a_bad_argument(tmp_path):
    out = tmp_path / "ppo"
    done = mesabench("train", "ppo", "--family", "keys_chests", "--seed", "2",
                     "--total-steps", "1024", "--set", "num_envs=8", "--set", "num_steps=64",
                     "--out", str(out), "--no-progress")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert {p.name for p in out.iterdir()} == {
        "seed2.pt",
        "seed2.args.json",
        "seed2.curve.csv",
        "seed2.curve.png",
    }
    bad = mesabench("train", "ppo", "--family", "keys_chests", "--set", "lerning_rate=1")
    assert bad.returncode == 2 and "Did you mean 'learning_rate'" in bad.stderr

    # Re-training from the written arguments reproduces the instance, elsewhere.
    again = mesabench("train", "ppo", "--args", str(out / "seed2.args.json"),
                      "--out", str(tmp_path / "again"), "--no-progress")  # fmt: skip
    assert again.returncode == 0, again.stderr
    first, _ = load_policy(out / "seed2.pt")
    second, _ = load_policy(tmp_path / "again" / "seed2.pt")
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    written = json.loads((out / "seed2.args.json").read_text())
    assert json.loads((tmp_path / "again" / "seed2.args.json").read_text()) == {
        **written,
        "out_dir": str(tmp_path / "again"),
    }
    (tmp_path / "list.json").write_text("[1]")
    for args_file, problem in ((tmp_path / "none.json", "cannot read the arguments file"),
                               (tmp_path / "list.json", "not an arguments object")):  # fmt: skip
        bad = mesabench("train", "ppo", "--args", str(args_file))
        assert bad.returncode == 2 and problem in bad.stderr and str(args_file) in bad.stderr
    assert "give --family" in mesabench("train", "ppo").stderr


def test_read_commands_never_create_a_database(tmp_path):
    typo = tmp_path / "reslts.db"
    for command in (["leaderboard"], ["show", "random"], ["check", "random"],
                    ["export"], ["plot", "map", "--out", str(tmp_path)],
                    ["validity", "--stored"]):  # fmt: skip
        done = mesabench(*command, db=typo)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert "no database at" in done.stderr, command
        assert not typo.exists(), command
