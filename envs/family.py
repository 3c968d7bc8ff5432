"""How an environment family declares itself: splits, objectives, references, seeds.

A family (see ``docs/design.md``) is one environment idea with its splits, objectives
and reference policies. Each family sub-package builds one :class:`Family` and
passes it to :func:`register_family` on import, which registers every split as a
Gymnasium id under the ``MesaBench/`` namespace and adds the family to
:data:`FAMILIES`. Everything the benchmark needs to know about a family is read
from that one object.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import gymnasium as gym

from benchmark.protocol import AgentContext, BatchedAgent

NAMESPACE = "MesaBench"

#: Level seeds at or above this value are reserved for evaluation; training
#: levels are drawn below it. Disjoint by construction (and tested).
EVAL_SEED_BASE = 1_000_000_000


class UnknownNameError(LookupError):
    """A family, split, objective or reference name that does not exist."""

    def __init__(self, kind: str, name: str, known: Sequence[str]) -> None:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        super().__init__(f"unknown {kind} {name!r}.{hint} Known: {', '.join(known)}.")
        self.kind = kind
        self.name = name
        self.suggestion = close[0] if close else None


def pick(kind: str, name: str, options: Mapping[str, Any]) -> Any:
    """``options[name]``, or an :class:`UnknownNameError` suggesting the nearest name."""
    try:
        return options[name]
    except KeyError:
        raise UnknownNameError(kind, name, list(options)) from None


@dataclass(frozen=True)
class Objective:
    """A per-episode quantity, reported in every step's ``info["objectives"]``."""

    name: str
    description: str


@dataclass(frozen=True)
class Split:
    """One distribution of a family, registered as one Gymnasium id.

    Attributes:
        name: short name, ``"train"`` or a shift such as ``"many_keys"``.
        version: the ``-vN`` of the id; any change that can move a score bumps it.
        kwargs: constructor arguments; train and test splits differ only here.
        eval_seeds: the fixed level seeds an agent is evaluated on (all at or
            above :data:`EVAL_SEED_BASE`, disjoint between splits).
        description: one sentence a leaderboard reader understands.
        probes: ``"alignment"`` for a goal shift, ``"capability"`` for a shift of
            layout only, ``"none"`` for ``train``.
    """

    name: str
    version: int
    kwargs: Mapping[str, Any]
    eval_seeds: tuple[int, ...]
    description: str
    probes: Literal["none", "alignment", "capability"] = "alignment"
    env_id: str = ""

    def with_env_id(self, env_id: str) -> Split:
        return Split(
            self.name,
            self.version,
            self.kwargs,
            self.eval_seeds,
            self.description,
            self.probes,
            env_id,
        )


#: Makes a reference policy (``"random"``, ``"oracle:<objective>"`` or
#: ``"pursuer:<proxy>"``) for a context.
ReferenceFactory = Callable[[str, AgentContext], BatchedAgent]

#: Reference name prefixes: an oracle maximises one objective; a proxy pursuer
#: maximises a proxy and breaks ties by the intended objective (DESIGN's
#: reference policies), the agent a validity card puts to the test.
ORACLE, PURSUER = "oracle:", "pursuer:"


@dataclass(frozen=True)
class NuisanceKnob:
    """A design constant that is not the phenomenon (a step limit, a season's length).

    A family's verdicts must hold over the knob's declared range, given as factors
    ``low`` and ``high`` of each split's registered value (DESIGN's validity
    contract, clause 4: at least 0.75x to 1.5x of a step limit).

    Attributes:
        name: the constructor kwarg it sets.
        low, high: the range's ends, as factors of the registered value.
        description: what it is, and why it is a nuisance rather than the phenomenon.
        integer: round the scaled value to an integer.
        default: the environment's own default, for splits whose kwargs leave it unset.
    """

    name: str
    low: float
    high: float
    description: str
    integer: bool = True
    default: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.low <= 1 <= self.high:
            raise ValueError(f"knob {self.name}: need 0 < low <= 1 <= high")

    def registered(self, kwargs: Mapping[str, Any]) -> float:
        """The knob's registered value in a split's ``kwargs``."""
        if self.name in kwargs:
            return kwargs[self.name]
        if self.default is None:
            raise KeyError(f"nuisance knob {self.name!r} is not set and has no default")
        return self.default

    def kwargs_at(self, kwargs: Mapping[str, Any], factor: float) -> dict[str, Any]:
        """The override that sets the knob to ``factor`` of its registered value."""
        scaled = self.registered(kwargs) * factor
        return {self.name: round(scaled) if self.integer else float(scaled)}


@dataclass(frozen=True)
class LevelOptimum:
    """The best return reachable on one level: a cheap upper bound at once, the exact
    value on demand (a planner's work, which a regret-based sampler skips when the
    bound already shows the level cannot enter its buffer)."""

    bound: float
    solve: Callable[[], float]


@dataclass(frozen=True)
class Family:
    """One environment family, declared in one place.

    Attributes:
        name: snake_case name, e.g. ``"keys_chests"``.
        title: CamelCase name used in Gymnasium ids, e.g. ``"KeysChests"``.
        description: a paragraph: the idea, and how the shift separates goal from proxy.
        kind: ``"gymnasium"`` or ``"pettingzoo"``.
        objectives: intended objective first, then the proxies.
        splits: ``train`` first; then the shifts.
        canonical_shift: the split the ``shift`` knob reaches at 1.
        entry_point: the environment class (``"module:Class"``): a ``gymnasium.Env``,
            or for ``kind="pettingzoo"`` a ``pettingzoo.ParallelEnv`` whose ``agents``
            are exactly the agents the submitted policy controls (scripted others
            live inside the environment).
        vector_entry_point: the batched environment class, if any.
        view_entry_point: for a PettingZoo family, a single-agent Gymnasium view
            (one controlled agent learns, the rest follow a fixed policy), registered
            per split as ``MesaBench/<Title>View-<split>-vN`` so single-agent
            learners can train on it; see :meth:`Family.training_env_id`.
        view_vector_entry_point: the view's batched class (a Gymnasium ``VectorEnv``
            with the view's kwargs), if any: registered as the view ids'
            ``vector_entry_point``, so trainers step many levels at once.
        make_reference: builds reference policies by name.
        shift_kwargs: the ``shift`` knob: kwargs for ``shift`` in [0, 1], equal to
            the train kwargs at 0 and the canonical shift's kwargs at 1.
        train_level_seeds: the half-open range training levels are drawn from.
        nuisance: design constants that are not the phenomenon, with the ranges over
            which the family's verdicts must hold.
        level_optimum: where the family has an exact planner, ``(vector env, slot) ->``
            :class:`LevelOptimum` of the level that slot has just been reset to
            (privileged); regret-based level samplers (PLR) score levels with it.
    """

    name: str
    title: str
    description: str
    kind: Literal["gymnasium", "pettingzoo"]
    objectives: tuple[Objective, ...]
    splits: tuple[Split, ...]
    canonical_shift: str
    entry_point: str
    make_reference: ReferenceFactory
    shift_kwargs: Callable[[float], dict[str, Any]]
    vector_entry_point: str | None = None
    view_entry_point: str | None = None
    view_vector_entry_point: str | None = None
    train_level_seeds: tuple[int, int] = (0, EVAL_SEED_BASE)
    legacy_splits: tuple[Split, ...] = field(default=())
    nuisance: tuple[NuisanceKnob, ...] = field(default=())
    level_optimum: Callable[[Any, int], LevelOptimum] | None = None

    @property
    def intended(self) -> Objective:
        return self.objectives[0]

    @property
    def proxies(self) -> tuple[Objective, ...]:
        return self.objectives[1:]

    @property
    def objective_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.objectives)

    @property
    def reference_names(self) -> tuple[str, ...]:
        """``random``, one oracle per objective, one proxy pursuer per proxy."""
        return (
            "random",
            *(f"{ORACLE}{o.name}" for o in self.objectives),
            *(f"{PURSUER}{o.name}" for o in self.proxies),
        )

    @property
    def train(self) -> Split:
        return self.splits[0]

    @property
    def shifts(self) -> tuple[Split, ...]:
        return self.splits[1:]

    def split(self, name: str) -> Split:
        return pick(f"split of {self.name}", name, {s.name: s for s in self.splits})

    def view_id(self, split: str) -> str:
        """The Gymnasium id a single-agent learner uses for ``split``."""
        chosen = self.split(split)
        if self.kind == "gymnasium":
            return chosen.env_id
        if self.view_entry_point is None:
            raise ValueError(f"{self.name} has no single-agent Gymnasium view")
        return f"{NAMESPACE}/{self.title}View-{chosen.name}-v{chosen.version}"

    @property
    def training_env_id(self) -> str:
        """The Gymnasium id single-agent learners train on (the train split)."""
        return self.view_id("train")

    def env_id(self, split: str, version: int | None = None) -> str:
        chosen = self.split(split)
        number = chosen.version if version is None else version
        return f"{NAMESPACE}/{self.title}-{chosen.name}-v{number}"

    def parallel_env(self, split: str = "train", **kwargs: Any) -> Any:
        """A PettingZoo family's ``ParallelEnv`` of ``split``; ``kwargs`` (``render_mode``,
        or constructor arguments for experiments) go on top of the split's own.

        An unknown split raises :class:`UnknownNameError` naming the valid ones.
        """
        if self.kind != "pettingzoo":
            raise TypeError(
                f"{self.name} is a Gymnasium family: make it with "
                f'gymnasium.make("{self.env_id(split)}")'
            )
        chosen = self.split(split)
        env_class = gym.envs.registration.load_env_creator(self.entry_point)
        return env_class(**{**chosen.kwargs, **kwargs})

    @property
    def versions(self) -> tuple[int, ...]:
        """Every version with registered splits, oldest first."""
        return tuple(sorted({s.version for s in (*self.splits, *self.legacy_splits)}))

    def at_version(self, version: int) -> Family:
        """The family as ``version`` declared it: that version's splits current, every
        other legacy. Its ids and seeds are that version's, so its stored results are
        read back as they were measured (an old version's validity card)."""
        every = (*self.splits, *self.legacy_splits)
        chosen = tuple(s for s in every if s.version == version)
        if not chosen:
            raise ValueError(
                f"{self.name} has no version {version}; it has "
                + ", ".join(str(v) for v in self.versions)
            )
        if chosen[0].name != "train" or self.canonical_shift not in {s.name for s in chosen}:
            raise ValueError(
                f"{self.name} version {version} has no train split and "
                f"{self.canonical_shift!r} to measure"
            )
        return replace(
            self, splits=chosen, legacy_splits=tuple(s for s in every if s.version != version)
        )

    @property
    def import_line(self) -> str:
        """The import that :meth:`make_line` needs."""
        return "import gymnasium" if self.kind == "gymnasium" else f"from envs import {self.name}"

    def make_line(self, split: str) -> str:
        """The Python expression that makes ``split`` (after :attr:`import_line`)."""
        if self.kind == "gymnasium":
            return f'gymnasium.make("{self.split(split).env_id}")'
        return f'{self.name}.parallel_env(split="{self.split(split).name}")'


#: Every registered family, by name, in registration order.
FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Register every split of ``family`` with Gymnasium and add it to :data:`FAMILIES`.

    Returns the family with each split's ``env_id`` filled in.
    """
    if family.name in FAMILIES:
        return FAMILIES[family.name]
    names = [s.name for s in family.splits]
    if names[0] != "train" or len(set(names)) != len(names):
        raise ValueError(f"{family.name}: splits must start with 'train' and be unique: {names}")
    if family.canonical_shift not in names[1:]:
        raise ValueError(f"{family.name}: canonical shift {family.canonical_shift!r} is no split")
    for knob in family.nuisance:
        if knob.default is None and any(knob.name not in s.kwargs for s in family.splits):
            raise ValueError(f"{family.name}: nuisance knob {knob.name!r} is not in every split")
    seen: set[int] = set()
    for split in family.splits:
        if min(split.eval_seeds) < EVAL_SEED_BASE:
            raise ValueError(f"{family.name}/{split.name}: eval seeds must be >= {EVAL_SEED_BASE}")
        if seen & set(split.eval_seeds):
            raise ValueError(f"{family.name}/{split.name}: eval seeds overlap another split's")
        seen |= set(split.eval_seeds)

    def registered(split: Split) -> Split:
        env_id = f"{NAMESPACE}/{family.title}-{split.name}-v{split.version}"
        if family.kind == "gymnasium" and env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point=family.entry_point,
                vector_entry_point=family.vector_entry_point,
                kwargs=dict(split.kwargs),
            )
        view_id = f"{NAMESPACE}/{family.title}View-{split.name}-v{split.version}"
        if family.view_entry_point and view_id not in gym.registry:
            gym.register(
                id=view_id,
                entry_point=family.view_entry_point,
                vector_entry_point=family.view_vector_entry_point,
                kwargs=dict(split.kwargs),
            )
        return split.with_env_id(env_id)

    family = Family(
        **{
            **family.__dict__,
            "splits": tuple(registered(s) for s in family.splits),
            "legacy_splits": tuple(registered(s) for s in family.legacy_splits),
        }
    )
    FAMILIES[family.name] = family
    return family


def get_family(name: str) -> Family:
    """The registered family ``name``, or an error suggesting the nearest name."""
    return pick("family", name, FAMILIES)
