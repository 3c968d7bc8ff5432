"""Evaluating one agent on one environment over fixed seeds, batched.

A :class:`Target` is what an agent is evaluated on: a registered split, or a
point of a family's ``shift`` knob. :func:`evaluate` plays every instance of an
agent once on each of the target's seeds, all seeds of a batch stepping in one
call of the batched environment, and returns the raw :class:`Episodes`.
Anything wrong with what the agent does raises :class:`AgentFailure`, naming the
agent, the target and the problem.

A submitted agent plays from an agent process of its own (:mod:`benchmark.evaluate.sandbox`):
this process keeps the environment and sends it observations. Only the
project's trusted sources (reference policies, privileged scripted baselines)
are built here, beside the environment, and only they can be privileged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

import envs
from benchmark.evaluate.agents import AgentSource
from benchmark.evaluate.episodes import Episodes
from benchmark.evaluate.sandbox import AgentProblem, AgentProcess, Limits, build_remote
from benchmark.protocol import (
    AgentContext,
    BatchedAgent,
    ParallelBatch,
    UnsupportedFamily,
    is_privileged,
    reset_agent,
)
from benchmark.store.storage import seeds_digest
from envs.family import Family

#: The default number of levels stepped in one batch.
DEFAULT_BATCH_SIZE = 4096

#: At most this many PettingZoo levels per batch: each is a Python object of its own.
PARALLEL_BATCH_SIZE = 128


class AgentFailure(RuntimeError):
    """An agent raised, or returned actions that are not a valid batch of actions."""

    def __init__(self, agent: str, target: str, problem: str) -> None:
        super().__init__(f"agent {agent} failed on {target}: {problem}")
        self.agent = agent
        self.target = target
        self.problem = problem

    def __reduce__(self) -> tuple:
        # Rebuilt from its parts when it crosses from a worker process.
        return (AgentFailure, (self.agent, self.target, self.problem))


@dataclass(frozen=True)
class Target:
    """An environment to evaluate on, with its fixed evaluation seeds.

    Attributes:
        family: family name.
        split: split name, or ``shift=0.40`` for a point of the shift knob.
        env_id: the split's id (a registered Gymnasium id in a Gymnasium family).
        seeds: evaluation level seeds.
        overrides: constructor kwargs on top of the registered ones (shift points).
    """

    family: str
    split: str
    env_id: str
    seeds: tuple[int, ...]
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.family}/{self.split}"

    @property
    def version(self) -> int:
        return int(self.env_id.rsplit("-v", 1)[1])

    @property
    def kind(self) -> str:
        return envs.get_family(self.family).kind

    def kwargs(self) -> dict[str, Any]:
        """Constructor kwargs: the registered split's, with the overrides on top."""
        family = envs.get_family(self.family)
        base = next(s for s in family.splits + family.legacy_splits if s.env_id == self.env_id)
        return {**base.kwargs, **self.overrides}

    def spec_json(self) -> str:
        """The environment's full specification, as JSON (the basis of the fingerprint)."""
        if self.env_id in gym.registry:
            spec = gym.spec(self.env_id)
            spec = dataclasses.replace(spec, kwargs={**spec.kwargs, **self.overrides})
            return spec.to_json()
        family = envs.get_family(self.family)
        spec = {"id": self.env_id, "entry_point": family.entry_point, "kind": family.kind,
                "kwargs": self.kwargs()}  # fmt: skip
        return json.dumps(spec, sort_keys=True, default=repr)

    @property
    def seeds_digest(self) -> str:
        return seeds_digest(self.seeds)

    @property
    def fingerprint(self) -> str:
        """Changes whenever anything that defines the environment or its seeds does."""
        payload = json.dumps({"spec": json.loads(self.spec_json()), "seeds": self.seeds_digest})
        return hashlib.sha256(payload.encode()).hexdigest()

    def make_env(self, num_envs: int, **extra: Any) -> gym.vector.VectorEnv:
        """The batched Gymnasium environment of a Gymnasium family's target (``extra``:
        further kwargs such as ``render_mode``)."""
        mode = "vector_entry_point" if gym.spec(self.env_id).vector_entry_point else "sync"
        return gym.make_vec(
            self.env_id, num_envs=num_envs, vectorization_mode=mode, **self.overrides, **extra
        )

    def make_parallel_envs(self, num_envs: int, **extra: Any) -> list[Any]:
        """``num_envs`` PettingZoo ParallelEnv levels of a PettingZoo family's target."""
        env_class = gym.envs.registration.load_env_creator(envs.get_family(self.family).entry_point)
        return [env_class(**self.kwargs(), **extra) for _ in range(num_envs)]


def split_target(family: Family, split_name: str) -> Target:
    split = family.split(split_name)
    return Target(family.name, split.name, split.env_id, tuple(split.eval_seeds))


def shift_target(family: Family, shift: float) -> Target:
    """A point of the family's shift knob, evaluated on the canonical shift's seeds."""
    if not 0.0 <= shift <= 1.0:
        raise ValueError(f"shift must lie in [0, 1], got {shift}")
    seeds = tuple(family.split(family.canonical_shift).eval_seeds)
    return Target(
        family.name, f"shift={shift:.2f}", family.train.env_id, seeds, family.shift_kwargs(shift)
    )


def select_targets(
    families: Sequence[str] | None = None, splits: Sequence[str] | None = None
) -> list[Target]:
    """Every split of the chosen families (all by default), optionally only the named splits.

    Unknown names raise :class:`envs.family.UnknownNameError` with a suggestion.
    """
    chosen = [envs.get_family(n) for n in families] if families else list(envs.FAMILIES.values())
    if splits:
        known = {s.name for f in chosen for s in f.splits}
        for name in splits:
            if name not in known:
                from envs.family import UnknownNameError

                raise UnknownNameError("split", name, sorted(known))
    return [
        split_target(f, s.name) for f in chosen for s in f.splits if not splits or s.name in splits
    ]


def _spaces(env: Any) -> tuple[gym.Space, gym.Space]:
    """(observation space, action space) of one agent of a batched env or ParallelBatch."""
    if isinstance(env, ParallelBatch):
        first = env.envs[0]
        agent = first.possible_agents[0]
        return first.observation_space(agent), first.action_space(agent)
    return env.single_observation_space, env.single_action_space


def _probe_context(target: Target) -> AgentContext:
    """The context of a one-level batch of ``target``, without its environment."""
    parallel = target.kind == "pettingzoo"
    env: Any = ParallelBatch(target.make_parallel_envs(1), []) if parallel else target.make_env(1)
    try:
        observation_space, action_space = _spaces(env)
    finally:
        for level in env.envs if parallel else [env]:
            level.close()
    return AgentContext(target.family, target.split, target.env_id, observation_space,
                        action_space, 1)  # fmt: skip


def preflight(source: AgentSource, targets: Sequence[Target], limits: Limits) -> list[Target]:
    """Check, before any evaluation, that ``source`` can play; returns the targets it plays.

    A torch policy plays only its family, and its observation layout must match.
    An untrusted Python factory is imported and called in an agent process for
    the first split of each family (it must build at least one agent somewhere).
    Raises :class:`~benchmark.evaluate.agents.AgentLoadError` saying what is wrong.
    """
    from benchmark.evaluate.agents import (
        AgentLoadError,
        layout_problem,
        policy_files,
        policy_metadata,
    )

    if source.family is not None:
        chosen = [t for t in targets if t.family == source.family]
        if not chosen:
            raise AgentLoadError(
                f"{source.reference} is a policy for {source.family}, and no chosen split "
                "is of that family"
            )
        space = _probe_context(chosen[0]).observation_space
        for path in policy_files(source):
            problem = layout_problem(policy_metadata(path), space)
            if problem is not None:
                raise AgentLoadError(f"policy {path} {problem}")
        return chosen
    if source.trusted or source.kind != "python":
        return list(targets)
    refused: list[str] = []
    with AgentProcess(source, limits) as process:
        for family in dict.fromkeys(t.family for t in targets):
            first = next(t for t in targets if t.family == family)
            try:
                process.build(_probe_context(first))
            except UnsupportedFamily:
                refused.append(family)
                continue
            except AgentProblem as problem:
                raise AgentLoadError(f"{source.reference}: {problem.problem}") from None
            return list(targets)
    raise AgentLoadError(
        f"{source.reference} plays none of the chosen families ({', '.join(refused)}): "
        "its factory raised UnsupportedFamily for each"
    )


def _check_actions(actions: Any, space: gym.Space, num_envs: int) -> np.ndarray | str:
    """The actions as an array, or a sentence saying what is wrong with them."""
    try:
        array = np.asarray(actions)
    except Exception as error:  # an agent may return anything
        return f"returned actions that are not an array ({error!r})"
    if isinstance(space, spaces.Discrete):
        if array.shape != (num_envs,):
            return f"returned actions of shape {array.shape}, expected ({num_envs},)"
        if array.dtype.kind not in "iuf":
            return f"returned actions of dtype {array.dtype}, expected integers"
        if np.issubdtype(array.dtype, np.floating):
            if np.isnan(array).any():
                return "returned NaN actions"
            if not np.all(array == np.round(array)):
                return "returned non-integer actions"
        low, high = int(space.start), int(space.start + space.n - 1)
        if array.min() < low or array.max() > high:
            bad = array[(array < low) | (array > high)][0].item()
            return f"returned action {bad!r} outside the action space {space} ({low}..{high})"
        return array.astype(np.int64)
    batched = gym.vector.utils.batch_space(space, num_envs)
    if not batched.contains(array):
        return f"returned actions {array!r:.80} outside the batched action space {batched}"
    return array


def _play(
    agent: BatchedAgent,
    env: gym.vector.VectorEnv,
    seeds: Sequence[int],
    objectives: Sequence[str],
    fail: Callable[[str], AgentFailure],
) -> dict[str, np.ndarray]:
    """Play one episode on each seed (one per slot) and return their totals."""
    n = len(seeds)
    observations, _ = env.reset(seed=[int(s) for s in seeds])
    try:
        reset_agent(agent)
    except AgentProblem as problem:
        raise fail(problem.problem) from None
    except Exception as error:
        raise fail(f"reset() raised {error!r}") from error
    finished = np.zeros(n, dtype=bool)
    length = np.zeros(n, dtype=np.int64)
    termination = np.empty(n, dtype=object)
    totals = {name: np.zeros(n, dtype=np.float64) for name in objectives}
    steps = 0
    while not finished.all():
        try:
            raw = agent.act(observations)
        except AgentProblem as problem:
            raise fail(problem.problem) from None
        except Exception as error:
            raise fail(f"act() raised {error!r}") from error
        actions = _check_actions(raw, env.single_action_space, n)
        if isinstance(actions, str):
            raise fail(actions)
        observations, _, terminated, truncated, info = env.step(actions)
        steps += 1
        ended = (np.asarray(terminated) | np.asarray(truncated)) & ~finished
        if ended.any():
            for name in objectives:
                totals[name][ended] = np.asarray(info["objectives"][name])[ended]
            termination[ended] = np.asarray(info["termination"])[ended]
            length[ended] = steps
            finished |= ended
    return {"length": length, "termination": termination.astype(str), **totals}


def stack_observations(space: gym.Space, items: list[Any]) -> Any:
    """Stack per-agent observations into one batch of ``space``."""
    out = gym.vector.utils.create_empty_array(space, len(items))
    return gym.vector.utils.concatenate(space, items, out)


def _play_parallel(
    agent: BatchedAgent,
    batch: ParallelBatch,
    seeds: Sequence[int],
    objectives: Sequence[str],
    fail: Callable[[str], AgentFailure],
) -> dict[str, np.ndarray]:
    """Play one episode of each PettingZoo level; the agent acts for every live agent.

    Each step the observations of every live agent of every unfinished level form
    one batch (its rows are announced in ``batch.rows``); a level ends when its
    ``agents`` is empty, and its totals are read from ``episode_objectives``.
    """
    levels = batch.envs
    n = len(levels)
    observations = [env.reset(seed=int(seed))[0] for env, seed in zip(levels, seeds, strict=True)]
    try:
        reset_agent(agent)
    except AgentProblem as problem:
        raise fail(problem.problem) from None
    except Exception as error:
        raise fail(f"reset() raised {error!r}") from error
    first = levels[0]
    space = first.observation_space(first.possible_agents[0])
    action_space = first.action_space(first.possible_agents[0])
    finished = np.array([not env.agents for env in levels])
    length = np.zeros(n, dtype=np.int64)
    termination = np.full(n, "", dtype=object)
    totals = {name: np.zeros(n, dtype=np.float64) for name in objectives}
    steps = 0
    while not finished.all():
        rows = [(int(i), a) for i in np.flatnonzero(~finished) for a in levels[i].agents]
        batch.rows[:] = rows
        try:
            raw = agent.act(stack_observations(space, [observations[i][a] for i, a in rows]))
        except AgentProblem as problem:
            raise fail(problem.problem) from None
        except Exception as error:
            raise fail(f"act() raised {error!r}") from error
        actions = _check_actions(raw, action_space, len(rows))
        if isinstance(actions, str):
            raise fail(actions)
        per_level: dict[int, dict[str, Any]] = {}
        for (i, a), action in zip(rows, actions, strict=True):
            per_level.setdefault(i, {})[a] = action
        steps += 1
        for i, chosen in per_level.items():
            observations[i] = levels[i].step(chosen)[0]
            if not levels[i].agents:
                state = levels[i].unwrapped
                for name in objectives:
                    totals[name][i] = float(state.episode_objectives[name])
                termination[i] = state.episode_termination or "ended"
                length[i] = steps
                finished[i] = True
    return {"length": length, "termination": termination.astype(str), **totals}


def evaluate(
    source: AgentSource,
    target: Target,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    agent_seed: int = 0,
    limits: Limits | None = None,
) -> tuple[Episodes, bool]:
    """Evaluate every instance of the agent on every seed of the target.

    An untrusted source plays from one agent process (under ``limits``) for the
    whole run. Returns the episodes and whether the agent is privileged: a
    trusted source whose agents read hidden state. Raises :class:`AgentFailure`
    for anything wrong with the agent's behaviour and
    :class:`~benchmark.protocol.UnsupportedFamily` if the agent does not play it.
    """
    if source.family is not None and source.family != target.family:
        raise UnsupportedFamily(f"{source.reference} is a policy for {source.family}")
    if source.trusted:
        return _evaluate(source, target, batch_size, agent_seed, source.build)
    with AgentProcess(source, limits or Limits()) as process:
        episodes, _ = _evaluate(
            source, target, batch_size, agent_seed, lambda context: build_remote(process, context)
        )
        try:
            process.check_processes("the run")
        except AgentProblem as problem:
            raise AgentFailure(source.reference, target.label, problem.problem) from None
    return episodes, False


def _evaluate(
    source: AgentSource,
    target: Target,
    batch_size: int,
    agent_seed: int,
    build: Callable[[AgentContext], list[BatchedAgent]],
) -> tuple[Episodes, bool]:
    family = envs.get_family(target.family)
    objectives = family.objective_names
    parts: list[Episodes] = []
    privileged = False
    seeds = np.asarray(target.seeds, dtype=np.int64)
    parallel = family.kind == "pettingzoo"
    if parallel:
        batch_size = min(batch_size, PARALLEL_BATCH_SIZE)
    for start in range(0, len(seeds), batch_size):
        chunk = seeds[start : start + batch_size]
        env: Any = (
            ParallelBatch(target.make_parallel_envs(len(chunk)), [])
            if parallel
            else target.make_env(len(chunk))
        )
        spaces_of = _spaces(env)
        try:
            context = AgentContext(
                family=target.family,
                split=target.split,
                env_id=target.env_id,
                observation_space=spaces_of[0],
                action_space=spaces_of[1],
                num_envs=len(chunk),
                seed=agent_seed,
                env=env if source.trusted else None,
            )

            def fail(problem: str, instance: int | None = None) -> AgentFailure:
                where = f" (instance {instance})" if instance is not None else ""
                return AgentFailure(source.reference + where, target.label, problem)

            try:
                agents = build(context)
            except UnsupportedFamily:
                raise
            except AgentProblem as problem:
                raise fail(problem.problem) from None
            except Exception as error:
                raise fail(f"building the agent raised {error!r}") from error
            privileged = privileged or any(is_privileged(a) for a in agents)
            play = _play_parallel if parallel else _play
            for instance, agent in enumerate(agents):
                played = play(agent, env, chunk, objectives, lambda p, i=instance: fail(p, i))
                parts.append(
                    Episodes(
                        instance=np.full(len(chunk), instance, dtype=np.int64),
                        seed=chunk.copy(),
                        length=played.pop("length"),
                        termination=played.pop("termination"),
                        objectives=played,
                    )
                )
        finally:
            for level in env.envs if parallel else [env]:
                level.close()
    return Episodes.concat(parts), privileged
