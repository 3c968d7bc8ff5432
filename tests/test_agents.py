"""Loading agents from references: files, modules, torch policies, and clear errors."""

import shutil

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs
from benchmark.evaluate.agents import AgentLoadError, code_of, reference_source, resolve
from benchmark.evaluate.runner import preflight, split_target
from benchmark.evaluate.sandbox import Limits
from benchmark.protocol import AgentContext
from benchmark.torch_policy import flat_dim, save_policy

AGENTS = "tests/agents/misbehaving.py"


@pytest.fixture
def context():
    env = gym.make_vec("MesaBench/KeysChests-train-v1", num_envs=3,
                       vectorization_mode="vector_entry_point")  # fmt: skip
    yield AgentContext(
        "keys_chests", "train", "MesaBench/KeysChests-train-v1",
        env.single_observation_space, env.single_action_space, 3, 0, env,
    )  # fmt: skip
    env.close()


def test_file_and_module_references_load_and_differ_by_factory(context):
    a = resolve(f"{AGENTS}:always_up")
    b = resolve(f"{AGENTS}:two_instances")
    assert a.kind == "python" and a.checksum != b.checksum
    assert len(a.build(context)) == 1 and len(b.build(context)) == 2
    module = resolve("baselines.random_agent:factory")
    observations, _ = context.env.reset(seed=0)
    assert module.build(context)[0].act(observations).shape == (3,)


def test_checksum_tracks_the_file_contents(tmp_path):
    path = tmp_path / "agent.py"
    shutil.copy(AGENTS, path)
    first = resolve(f"{path}:always_up").checksum
    assert resolve(f"{path}:always_up").checksum == first
    path.write_text(path.read_text() + "\n# changed\n")
    assert resolve(f"{path}:always_up").checksum != first


def test_a_packages_own_submissions_are_not_in_its_codes_checksum(tmp_path, monkeypatch):
    """Training into ``baselines/weights`` makes no new version of a scripted baseline; in a
    user's directory, weights beside the code are what the agent loads, so they count."""
    from benchmark.evaluate import agents

    for package in ("own", "users"):
        (tmp_path / package / "weights").mkdir(parents=True)
        shutil.copy(AGENTS, tmp_path / package / "agent.py")
    monkeypatch.setitem(agents.OWN_SUBMISSION_DIRS, (tmp_path / "own").resolve(), ("weights",))

    def checksums() -> dict[str, str]:
        return {p: resolve(f"{tmp_path / p}/agent.py:always_up").checksum for p in ("own", "users")}

    before = checksums()
    for package in ("own", "users"):
        (tmp_path / package / "weights" / "seed1.pt").write_bytes(b"new weights")
    after = checksums()
    assert after["own"] == before["own"] and after["users"] != before["users"]
    (tmp_path / "own" / "helper.py").write_text("X = 1\n")  # code beside it still counts
    assert resolve(f"{tmp_path / 'own' / 'agent.py'}:always_up").checksum != before["own"]


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("nowhere.py:factory", "does not exist"),
        ("no.such.module:factory", "cannot import"),
        (":factory", "names no file or module"),
        (f"{AGENTS}:", "is not the name of a factory"),
        ("", "empty"),
        ("just-a-name", "expected 'path/to/file.py:factory'"),
        ("missing.pt", "does not exist"),
        ("reference:keys_chests:oracle:gold", "no reference policy 'oracle:gold'"),
    ],
)
def test_bad_references_say_what_is_wrong(reference, message):
    with pytest.raises(AgentLoadError, match=message):
        resolve(reference)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        ("alway_up", "Did you mean 'always_up'"),
        ("not_callable", "not callable"),
        ("no_agents", "returned no agents"),
        ("exits_at_build", r"building the agent called sys.exit\(3\)"),
    ],
)
def test_factories_are_checked_in_an_agent_process_before_evaluation(factory, message):
    source = resolve(f"{AGENTS}:{factory}")
    with pytest.raises(AgentLoadError, match=message):
        preflight(source, [split_target(envs.get_family("keys_chests"), "train")], Limits())


def test_resolving_never_runs_the_submitted_code(tmp_path):
    marker = tmp_path / "ran"
    agent = tmp_path / "agent.py"
    agent.write_text(f"open({str(marker)!r}, 'w').close()\ndef factory(context): ...\n")
    assert resolve(f"{agent}:factory").kind == "python"
    assert not marker.exists()


def test_torch_policy_file_and_directory_of_instances(tmp_path, context):
    space = context.observation_space
    for seed in (1, 2):
        torch.manual_seed(seed)
        module = torch.nn.Sequential(torch.nn.Linear(flat_dim(space), 4))
        save_policy(module, tmp_path / f"seed{seed}.pt", observation_space=space,
                    action_space=context.action_space, family="keys_chests")  # fmt: skip
    single = resolve(str(tmp_path / "seed1.pt"))
    both = resolve(str(tmp_path))
    assert single.kind == both.kind == "torch" and single.checksum != both.checksum
    agents = both.build(context)
    assert len(agents) == 2
    obs, _ = context.env.reset(seed=5)
    assert agents[0].act(obs).shape == (3,)
    assert np.isin(agents[1].act(obs), np.arange(4)).all()
    (tmp_path / "empty").mkdir()
    with pytest.raises(AgentLoadError, match=r"no \*\.pt"):
        resolve(str(tmp_path / "empty"))


def test_reference_checksum_covers_the_family_code():
    random_ref = reference_source("keys_chests", "random")
    oracle_ref = reference_source("keys_chests", "oracle:chests_opened")
    assert random_ref.kind == "reference" and random_ref.checksum != oracle_ref.checksum


def test_reference_checksums_ignore_docstrings_comments_and_layout():
    source = '''"""Module doc."""
STEP_LIMIT = 24  # why


def plan(state):
    """Plan."""
    return  state + STEP_LIMIT
'''
    reworded = '''"""Another module doc, longer."""

STEP_LIMIT = 24


def plan(state):
    """Plan, said differently."""
    # a comment
    return state + STEP_LIMIT
'''
    assert code_of(source) == code_of(reworded)
    assert code_of(source) != code_of(source.replace("24", "25"))
    assert code_of(source) != code_of(source.replace("state + STEP", "state - STEP"))
