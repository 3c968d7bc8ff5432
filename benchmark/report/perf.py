"""``mesabench perf``: the speed and memory figures quoted in the README, measured here.

Every figure is measured in this process on one core (one torch thread), except
the demo's peak memory, measured on a child process running ``mesabench demo``
inline (``--workers 1``) into a temporary database, and, with ``--ray``, the
executors' figures: the same work evaluated by a process pool and by a local Ray
cluster (both with ``--workers`` processes) into two temporary databases, with
their wall times and whether the two stored exactly the same episodes.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from rich.table import Table

import envs
from benchmark.evaluate.runner import split_target

FAMILY = "keys_chests"
MINIGRID_ID = "MiniGrid-DoorKey-8x8-v0"

#: Targets the issue sets, next to the figure they apply to.
TARGETS = {
    "keys_chests_steps_per_s_batch_4096": 2_000_000,
    "eval_env_steps_per_s_torch_mlp": 200_000,
    "eval_env_steps_per_s_torch_mlp_isolated": 200_000,
    # Isolation may cost at most 30% of evaluation throughput.
    "isolation_throughput_ratio": 0.7,
    "store_100k_rows_s": 2.0,
    "demo_peak_memory_mb": 2048,
    # A cluster run stores exactly what a local run stores (DESIGN, "Scale-out").
    "ray_episodes_identical": True,
}


def _timed(step: Callable[[], Any], steps_per_call: int, seconds: float) -> float:
    """Calls ``step`` repeatedly for about ``seconds``; returns steps per second."""
    step()  # warm up
    calls, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        step()
        calls += 1
    return calls * steps_per_call / elapsed


def env_steps_per_second(num_envs: int, seconds: float = 3.0) -> float:
    """Random-action steps/s of the family's train split at batch ``num_envs``."""
    target = split_target(envs.get_family(FAMILY), "train")
    env = target.make_env(num_envs)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.integers(0, env.single_action_space.n, size=(64, num_envs))
    counter = iter(range(10**12))

    def step() -> None:
        env.step(actions[next(counter) % 64])

    try:
        return _timed(step, num_envs, seconds)
    finally:
        env.close()


def evolution_steps_per_second(num_levels: int, seconds: float = 3.0) -> dict[str, float]:
    """Random-action steps/s of Evolution v1's batched world (train split, ``num_levels``
    levels per call): level steps, and organism steps (every live organism acts)."""
    from envs.evolution.core import N_ACTIONS, EvolutionCore

    family = envs.get_family("evolution")
    core = EvolutionCore(num_levels, **family.train.kwargs)
    rng = np.random.default_rng(0)
    actions = rng.integers(0, N_ACTIONS, size=(16, num_levels, core.M))
    counter = iter(range(10**12))
    seeds = iter(range(10**12))
    organisms = 0

    def step() -> None:
        nonlocal organisms
        if core.done.all():
            core.reset_levels(range(num_levels), [next(seeds) for _ in range(num_levels)])
        lv, ids = core.live_rows()
        core.observe(lv, ids)
        organisms += len(ids)
        core.step(actions[next(counter) % 16])

    core.reset_levels(range(num_levels), [next(seeds) for _ in range(num_levels)])
    started = time.perf_counter()
    level_steps = _timed(step, num_levels, seconds)
    elapsed = time.perf_counter() - started
    return {
        f"evolution_v1_level_steps_per_s_batch_{num_levels}": level_steps,
        f"evolution_v1_organism_steps_per_s_batch_{num_levels}": organisms / elapsed,
    }


def minigrid_steps_per_second(seconds: float = 3.0) -> float | None:
    """Random-action steps/s of Minigrid's DoorKey-8x8 (one env), or None without minigrid."""
    try:
        import minigrid  # noqa: F401  (registers MiniGrid-* ids)
    except ImportError:
        return None
    env = gym.make(MINIGRID_ID)
    env.reset(seed=0)
    rng = np.random.default_rng(0)

    def step() -> None:
        _, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        if terminated or truncated:
            env.reset()

    try:
        return _timed(step, 1, seconds)
    finally:
        env.close()


def evaluation_throughput(num_envs: int = 4096, repeats: int = 3) -> dict[str, float]:
    """Env-steps/s and episodes/s of evaluation with a small torch MLP agent in the loop:
    in this process, and isolated (the same MLP saved as a policy file, acting from an
    agent process, as every submitted agent does).

    Each figure times playing one episode on each of ``num_envs`` seeds (the best of
    ``repeats``, interleaved, so both see the same machine); the agent process's start-up
    (importing torch, loading the policy), paid once per run, is reported on its own.
    """
    import torch

    from benchmark.evaluate.agents import resolve
    from benchmark.evaluate.runner import AgentFailure, _play
    from benchmark.evaluate.sandbox import AgentProcess, Limits, build_remote
    from benchmark.protocol import AgentContext
    from benchmark.torch_policy import TorchPolicyAgent, flat_dim, save_policy

    family = envs.get_family(FAMILY)
    target = split_target(family, "train")
    seeds = list(range(envs.family.EVAL_SEED_BASE, envs.family.EVAL_SEED_BASE + num_envs))
    env = target.make_env(num_envs)
    space, action_space = env.single_observation_space, env.single_action_space
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(
        torch.nn.Linear(flat_dim(space), 64),
        torch.nn.Tanh(),
        torch.nn.Linear(64, 64),
        torch.nn.Tanh(),
        torch.nn.Linear(64, 4),
    )
    context = AgentContext(FAMILY, "train", target.env_id, space, action_space, num_envs)

    def fail(problem: str) -> AgentFailure:
        return AgentFailure("perf:mlp", target.label, problem)

    def play(agent: Any) -> tuple[float, int]:
        started = time.perf_counter()
        played = _play(agent, env, seeds, family.objective_names, fail)
        return time.perf_counter() - started, int(played["length"].max()) * num_envs

    in_process = TorchPolicyAgent(mlp, space, deterministic=False)
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        path = save_policy(mlp, Path(tmp) / "mlp.pt", observation_space=space,
                           action_space=action_space, family=FAMILY,
                           metadata={"deterministic": False})  # fmt: skip
        process = stack.enter_context(AgentProcess(resolve(str(path)), Limits()))
        started = time.perf_counter()
        isolated = build_remote(process, context)[0]
        startup = time.perf_counter() - started
        plain, boxed = [], []
        for _ in range(repeats):
            plain.append(play(in_process))
            boxed.append(play(isolated))
    env.close()
    (seconds, steps), (isolated_seconds, isolated_steps) = min(plain), min(boxed)
    rate, isolated_rate = steps / seconds, isolated_steps / isolated_seconds
    return {
        "eval_env_steps_per_s_torch_mlp": rate,
        "eval_episodes_per_s_torch_mlp": num_envs / seconds,
        "eval_env_steps_per_s_torch_mlp_isolated": isolated_rate,
        "isolation_throughput_ratio": isolated_rate / rate,
        "isolated_agent_startup_s": startup,
    }


def demo_peak_memory_mb() -> float:
    """Peak resident memory of ``mesabench demo --workers 1`` into a temporary database."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'perf.db'}"
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        subprocess.run(
            [sys.executable, "-m", "benchmark", "demo", "--workers", "1", "--db", url,
             "--no-progress"],
            check=True,
            capture_output=True,
            env={**os.environ, "MESABENCH_DB": url},
        )  # fmt: skip
        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss is the largest child's peak in KiB; the demo is the only child here.
    return max(before, after) / 1024


#: The executors' comparison: the random agent (in agent processes) and every reference
#: policy, on every split of these families, in batches of this many levels (so that
#: Ray's one-batch shards cut each split in two to four).
EXECUTOR_FAMILIES = ("keys_chests", "executive_hiring")
EXECUTOR_BATCH = 64


def stored_episodes(url: str) -> dict[tuple, list[bytes]]:
    """Every stored run of a database, keyed by (agent, version, checksum, fingerprint,
    seeds), as the raw bytes of its episodes' columns: equal only when bit-identical."""
    from benchmark.store import storage

    engine = storage.make_engine(url, create=False)
    found = {}
    for run in storage.all_runs(engine):
        episodes = storage.load_episodes(engine, run.run_id)
        columns = [episodes.instance, episodes.seed, episodes.length, episodes.termination]
        columns += [episodes.objectives[k] for k in sorted(episodes.objectives)]
        key = (run.name, run.version, run.checksum, run.fingerprint, run.seeds_digest)
        found[key] = [np.ascontiguousarray(c).tobytes() for c in columns]
    return found


def executor_comparison(workers: int = 2) -> dict[str, Any]:
    """Wall time of the same work on a process pool and on a local Ray cluster, and
    whether both stored the same episodes, bit for bit (needs ``mesabench[ray]``)."""
    from benchmark.evaluate.agents import resolve
    from benchmark.evaluate.executors import PoolExecutor, RayExecutor
    from benchmark.evaluate.runner import select_targets
    from benchmark.evaluate.submission import STORED, Job, reference_jobs, run_jobs
    from benchmark.store import storage

    targets = select_targets(list(EXECUTOR_FAMILIES))
    source = resolve("baselines/random_agent.py:factory")
    jobs = reference_jobs(targets) + [Job(source, "random", "1", "agent", t) for t in targets]
    figures: dict[str, Any] = {"executor_runs": len(jobs)}
    with tempfile.TemporaryDirectory() as tmp:
        names = ("pool", "ray", "ray_unsharded")
        urls = {name: f"sqlite:///{Path(tmp) / name}.db" for name in names}
        started = time.perf_counter()
        ray = RayExecutor(workers=workers)
        figures["ray_cluster_start_s"] = time.perf_counter() - started
        # The same cluster with one shard per run, as the pool: what sharding itself costs.
        unsharded = RayExecutor(workers=workers)
        unsharded.batches_per_shard = None
        executors = {"pool": PoolExecutor(workers), "ray_unsharded": unsharded, "ray": ray}
        for name, executor in executors.items():
            started = time.perf_counter()
            with executor:
                outcomes = run_jobs(storage.make_engine(urls[name]), jobs, workers=workers,
                                    batch_size=EXECUTOR_BATCH, progress=False,
                                    executor=executor)  # fmt: skip
            figures[f"{name}_wall_s"] = time.perf_counter() - started
            if any(o.status != STORED for o in outcomes):
                raise RuntimeError(f"the {name} run did not store every run: {outcomes}")
        figures["ray_to_pool_wall_ratio"] = figures["ray_wall_s"] / figures["pool_wall_s"]
        pool = stored_episodes(urls["pool"])
        figures["ray_episodes_identical"] = all(
            stored_episodes(urls[name]) == pool for name in ("ray", "ray_unsharded")
        )
    return figures


def measure_all(
    progress: bool = False, include_demo: bool = True, include_ray: bool = False
) -> dict[str, Any]:
    """Every figure, by stable name."""
    import torch

    from benchmark.store.storage import benchmark_store_rows

    torch.set_num_threads(1)
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("keys_chests_steps_per_s_batch_1", lambda: env_steps_per_second(1)),
        ("keys_chests_steps_per_s_batch_4096", lambda: env_steps_per_second(4096)),
        ("minigrid_doorkey_steps_per_s", minigrid_steps_per_second),
        ("evolution_v1", lambda: evolution_steps_per_second(64)),
        ("eval", evaluation_throughput),
        ("store_100k_rows_s", lambda: benchmark_store_rows(100_000)),
    ]
    if include_demo:
        steps.append(("demo_peak_memory_mb", demo_peak_memory_mb))
    if include_ray:
        steps.append(("executors", executor_comparison))
    figures: dict[str, Any] = {}
    for name, measure in steps:
        if progress:
            print(f"measuring {name} …", file=sys.stderr)
        value = measure()
        if isinstance(value, dict):
            figures.update(value)
        else:
            figures[name] = value
    minigrid = figures.get("minigrid_doorkey_steps_per_s")
    if minigrid:
        figures["ratio_batch_1_to_minigrid"] = figures["keys_chests_steps_per_s_batch_1"] / minigrid
        figures["ratio_batch_4096_to_minigrid"] = (
            figures["keys_chests_steps_per_s_batch_4096"] / minigrid
        )
    figures["cpu"] = _cpu_name()
    return figures


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def perf_table(figures: dict[str, Any]) -> Table:
    table = Table(title=f"mesabench perf (one core: {figures.get('cpu', '')})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_column("")
    for name, value in figures.items():
        if name == "cpu":
            continue
        target = TARGETS.get(name)
        if isinstance(value, bool):
            shown = "yes" if value else "no"
        else:
            shown = "–" if value is None else f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
        verdict = ""
        if target is not None and isinstance(value, bool):
            verdict = "[green]met[/]" if value == target else "[red]missed[/]"
        elif target is not None and value is not None:
            lower_is_better = name.endswith("_s") or name.endswith("_mb")
            met = value <= target if lower_is_better else value >= target
            verdict = "[green]met[/]" if met else "[red]missed[/]"
        wanted = "" if target is None else "yes" if target is True else f"{target:,}"
        table.add_row(name, shown, wanted, verdict)
    return table
