"""PPO in torch, in one readable file (in the manner of CleanRL's ``ppo.py``).

Trains a policy on a family's ``train`` split through the Gymnasium 1.x vector
API and saves the actor as a MesaBench torch policy file (see
:mod:`benchmark.torch_policy`), so that the result can be submitted like any
other agent. Usage from Python::

    from baselines.ppo import PPOArgs, train
    result = train(PPOArgs(family="keys_chests", seed=1, out_dir="runs/ppo"))

or from the command line: ``mesabench train ppo --family keys_chests --seed 1``.

Notes on the vector API. Gymnasium 1.x vector environments autoreset in the
``NEXT_STEP`` mode by default: the ``step`` *after* an episode ends is a reset
step whose action is ignored and whose observation is the new episode's first
one. Those transitions are not experience: they are masked out of GAE and of
every loss (``valid`` below). The observation returned at the step an episode
ends is its true final observation, so a time-limit truncation *can* be
bootstrapped from the value of that observation (``bootstrap_truncated``).
By default it is not: in MesaBench the step limit is part of the task (Keys
and Chests sizes it to the intended task) and is not in the observation, so,
as in CleanRL, a timeout ends the return like a termination. Bootstrapping it
tells a time-unaware agent that it always has time: measured on Keys and
Chests v1 (one seed, 3 M steps), such an agent kept collecting keys it could
not use before the limit and opened 1.41 chests a level on train, against 2.00
without the bootstrap (the planner: 2.44).

Self-play vector environments (Evolution v1's
:class:`envs.evolution.vector.EvolutionSelfPlayVector`) make each row one
organism slot and say in ``info["active"]`` which rows hold a live organism at
the next step; the other rows are masked out exactly like autoreset steps, and
``global_step`` counts only the live rows' steps.

Outputs, written into ``out_dir`` for seed ``S``:

* ``seed{S}.pt``: the actor (flat float32 observations -> action logits);
* ``seed{S}.args.json``: the exact :class:`PPOArgs` (``PPOArgs.from_dict`` reads it back);
* ``seed{S}.curve.csv``: one row per update (columns in :data:`CURVE_COLUMNS`,
  plus ``mean_<objective>`` for each of the family's objectives: the mean over the
  episodes that ended in the update, in self-play over the levels that ended);
* ``seed{S}.curve.png``: the learning curve.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import random
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import nn
from torch.distributions import Categorical

from baselines.plr import SCORES as PLR_SCORES
from baselines.plr import PLRSampler, PLRSettings
from baselines.training_args import (
    TrainingArgs,
    UnknownFieldError,
    apply_overrides,
    level_mixture,
    parse_mix,
    read_curve,
    start_outputs,
    write_curve,
)
from baselines.training_plots import Panel, objective_panels, plot_panels
from benchmark.torch_policy import flat_dim, flatten_batch, save_policy
from envs.family import LevelOptimum

#: Columns of the curve CSV, in order. ``mean_<objective>`` columns for each of
#: the family's objectives are inserted after ``mean_length``.
CURVE_COLUMNS = (
    "global_step",
    "episodes",
    "mean_return",
    "mean_length",
    "policy_loss",
    "value_loss",
    "entropy",
    "approx_kl",
    "clipfrac",
    "sps",
)


#: Level samplers (``PPOArgs.sampler``).
SAMPLERS = ("uniform", "plr")


@dataclass
class PPOArgs(TrainingArgs):
    """Every argument of a PPO training run. Saved beside the weights as JSON."""

    # --- what to train on ---
    family: str = "keys_chests"
    """Family whose ``train`` split is trained on (``envs.get_family(family).train``)."""
    env_id: str = ""
    """If set, train on this Gymnasium id instead of the family's train split
    (e.g. ``CartPole-v1`` for a smoke test)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Constructor kwargs on top of the registered ones (changes the training
    distribution: for experiments only; empty for the benchmark's baselines).
    As an override, JSON: ``env_kwargs={"view_size": null}``."""
    mix: str = ""
    """Train on a mixture of distributions: ``SPLIT:SHARE[,SPLIT:SHARE...]`` (e.g.
    ``many_keys:0.02``). That share of training levels, decided per level seed,
    comes from the family's ``SPLIT``: its levels for training-range seeds, never
    its evaluation seeds; the rest from ``train``. Empty: ``train`` only. Only
    kwargs that change what a level holds may differ (Keys and Chests: the key
    fraction and the pile share; Executive hiring: the tenure audit rate; Evolution
    v1: the candy share and the ornament coupling), so the observation stays the
    same. Recorded in the policy file as its training distribution (``training`` in
    its metadata)."""
    sampler: str = "uniform"
    """How each episode's level is chosen: ``uniform`` (a new level from the training
    distribution every episode: domain randomisation when ``mix`` is set) or ``plr``
    (robust prioritised level replay over that distribution, see :mod:`baselines.plr`:
    the learner is updated only on replayed levels)."""
    plr_buffer_size: int = 1000
    """PLR: levels the buffer holds."""
    plr_replay_prob: float = 0.5
    """PLR: probability that an episode replays a buffered level (once ``plr_min_fill``)."""
    plr_temperature: float = 0.3
    """PLR: temperature of the rank-based score prioritisation (lower: greedier)."""
    plr_staleness_coef: float = 0.3
    """PLR: weight of staleness (episodes since last sampled) in the replay distribution."""
    plr_min_fill: float = 0.5
    """PLR: share of the buffer that must be filled before levels are replayed."""
    plr_score: str = "auto"
    """PLR: ``regret`` (exact: the family's planner optimum minus the return), ``pvl``
    (positive value loss), or ``auto`` (regret where the family has an exact planner)."""
    seed: int = 1
    """Seeds torch, numpy, Python's ``random`` and the environments' first reset
    (see :func:`reset_seed`)."""

    # --- budget and batch ---
    total_steps: int = 3_000_000
    """Environment steps (summed over the vector) to train for, rounded down to whole updates."""
    num_envs: int = 128
    """Parallel environments in the vector environment."""
    num_steps: int = 64
    """Steps per environment per rollout; the batch is ``num_envs * num_steps``."""

    # --- optimisation ---
    learning_rate: float = 1e-3
    """Adam step size at the start of training."""
    anneal_lr: bool = True
    """Anneal the learning rate linearly to 0 over training."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """Lambda of generalised advantage estimation."""
    num_minibatches: int = 4
    """Minibatches each update epoch splits the batch into."""
    update_epochs: int = 4
    """Passes over the batch per update."""
    norm_adv: bool = True
    """Normalise advantages (per minibatch) to zero mean and unit variance."""
    clip_coef: float = 0.2
    """Clipping coefficient of the surrogate objective."""
    clip_vloss: bool = True
    """Clip the value loss around the rollout's value estimates (as in the PPO paper's code)."""
    ent_coef: float = 0.01
    """Weight of the entropy bonus."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    target_kl: float | None = None
    """Stop an update's epochs early when the approximate KL exceeds this (None: never)."""
    bootstrap_truncated: bool = False
    """Bootstrap the value of the final observation when an episode is truncated (time limit).
    Off by default: MesaBench's step limits are part of the task (see the module notes)."""

    # --- network ---
    hidden_sizes: tuple[int, ...] = (128, 128)
    """Hidden layer widths of the actor and of the critic (two separate tanh MLPs)."""
    conv_channels: tuple[int, ...] = ()
    """If not empty, a conv net with these channel counts reads the observation's image
    (e.g. ``view``) before the MLP; empty: the MLP reads the flat observation directly."""

    # --- machinery ---
    torch_threads: int = 1
    """Threads torch may use (the machine is shared: keep it small)."""
    out_dir: str = "runs/ppo"
    """Directory the checkpoint, arguments, curve CSV and plot are written to."""

    def __post_init__(self) -> None:
        # Store exactly what JSON gives back, so that arguments round-trip through it.
        self.env_kwargs = json.loads(json.dumps(self.env_kwargs))
        self.hidden_sizes = tuple(int(n) for n in self.hidden_sizes)
        self.conv_channels = tuple(int(n) for n in self.conv_channels)
        parse_mix(self.family, self.mix)  # a bad mixture is refused before training starts
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if self.plr_score not in ("auto", *PLR_SCORES):
            raise ValueError(
                f"plr_score must be auto or one of {', '.join(PLR_SCORES)}, got {self.plr_score!r}"
            )
        if self.sampler == "plr":
            self.plr_settings("regret")  # a bad PLR setting is refused before training starts

    def plr_settings(self, score: str) -> PLRSettings:
        """The PLR sampler's settings with ``score`` (``plr_score`` resolved: :func:`plr_score`)."""
        return PLRSettings(
            buffer_size=self.plr_buffer_size,
            replay_prob=self.plr_replay_prob,
            temperature=self.plr_temperature,
            staleness_coef=self.plr_staleness_coef,
            min_fill=self.plr_min_fill,
            score=score,
        )

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_iterations(self) -> int:
        return max(1, self.total_steps // self.batch_size)


# --------------------------------------------------------------------------- network


def layer_init(layer: nn.Linear, std: float = math.sqrt(2), bias: float = 0.0) -> nn.Linear:
    """Orthogonal weights with gain ``std`` and constant bias (as in the PPO implementations)."""
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int, out_std: float) -> nn.Sequential:
    """A tanh MLP with orthogonal initialisation; the last layer's gain is ``out_std``."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [layer_init(nn.Linear(in_dim, width)), nn.Tanh()]
        in_dim = width
    layers.append(layer_init(nn.Linear(in_dim, out_dim), std=out_std))
    return nn.Sequential(*layers)


#: Where an image (a 3-d Box, channels first) sits in a flat observation: (offset, (C, H, W)).
ImageSlot = tuple[int, tuple[int, int, int]]


def image_slot(space: gym.Space) -> ImageSlot | None:
    """The first channels-first image of ``space`` (itself, or an entry of a Dict), if any."""
    if isinstance(space, spaces.Box) and len(space.shape) == 3:
        return 0, tuple(space.shape)  # type: ignore[return-value]
    if isinstance(space, spaces.Dict):
        offset = 0
        for sub in space.spaces.values():
            if isinstance(sub, spaces.Box) and len(sub.shape) == 3:
                return offset, tuple(sub.shape)  # type: ignore[return-value]
            offset += flat_dim(sub)
    return None


class Torso(nn.Module):
    """Flat observations -> features: identity, or a small conv net over the image part.

    With ``channels`` and an image slot, the image is cut out of the flat input,
    unflattened to ``(C, H, W)`` and convolved (3x3 kernels, the first with
    stride 1, the rest with stride 2, ReLU); its features are concatenated with
    the rest of the flat observation. The module still takes the flat input, so
    the saved policy's interface does not change.
    """

    def __init__(self, obs_dim: int, image: ImageSlot | None, channels: Sequence[int]) -> None:
        super().__init__()
        self.use_conv = bool(channels) and image is not None
        self.start, self.end, self.shape = 0, 0, (0, 0, 0)
        self.out_dim = obs_dim
        self.conv = nn.Sequential()
        if self.use_conv and image is not None:
            offset, (c, h, w) = image
            self.start, self.end, self.shape = offset, offset + c * h * w, (c, h, w)
            layers: list[nn.Module] = []
            for i, width in enumerate(channels):
                conv = nn.Conv2d(c, width, 3, stride=1 if i == 0 else 2, padding=1)
                nn.init.orthogonal_(conv.weight, math.sqrt(2))
                nn.init.constant_(conv.bias, 0.0)
                layers += [conv, nn.ReLU()]
                c = width
            self.conv = nn.Sequential(*layers, nn.Flatten())
            with torch.no_grad():
                features = self.conv(torch.zeros(1, *self.shape)).shape[1]
            self.out_dim = obs_dim - (self.end - self.start) + int(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.use_conv:
            return x
        c, h, w = self.shape
        image = x[:, self.start : self.end].reshape(-1, c, h, w)
        rest = torch.cat([x[:, : self.start], x[:, self.end :]], dim=1)
        return torch.cat([self.conv(image), rest], dim=1)


class Actor(nn.Module):
    """Flat float32 observations ``(batch, obs_dim)`` -> action logits ``(batch, n_actions)``.

    This is the module that is saved (``torch.export``) as the policy file.
    """

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        hidden: Sequence[int],
        image: ImageSlot | None = None,
        conv_channels: Sequence[int] = (),
    ) -> None:
        super().__init__()
        self.torso = Torso(obs_dim, image, conv_channels)
        self.net = mlp(self.torso.out_dim, hidden, n_actions, out_std=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.torso(x))


class Critic(nn.Module):
    """Flat float32 observations -> state value ``(batch,)``."""

    def __init__(
        self,
        obs_dim: int,
        hidden: Sequence[int],
        image: ImageSlot | None = None,
        conv_channels: Sequence[int] = (),
    ) -> None:
        super().__init__()
        self.torso = Torso(obs_dim, image, conv_channels)
        self.net = mlp(self.torso.out_dim, hidden, 1, out_std=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.torso(x)).squeeze(-1)


# --------------------------------------------------------------------------- environment


@dataclass
class _Target:
    """What is trained on: the Gymnasium id, and the family's objective names (if any)."""

    env_id: str
    family: str
    objectives: tuple[str, ...]


def _resolve(args: PPOArgs) -> _Target:
    import envs

    if args.env_id:
        objectives: tuple[str, ...] = ()
        if args.family in envs.FAMILIES:
            fam = envs.get_family(args.family)
            ids = {s.env_id for s in fam.splits}
            if fam.view_entry_point:
                ids |= {fam.view_id(s.name) for s in fam.splits}
            if args.env_id in ids:
                objectives = fam.objective_names
        return _Target(args.env_id, args.family, objectives)
    fam = envs.get_family(args.family)
    # A PettingZoo family trains on its single-agent view of the train split.
    return _Target(fam.training_env_id, fam.name, fam.objective_names)


def training_distribution(args: PPOArgs, target: _Target) -> dict[str, Any]:
    """What the policy was trained on, recorded in its file: the environment, each
    split's share of the levels, the level sampler, the budget and the seed."""
    shares = parse_mix(target.family, args.mix) if args.mix else {}
    return {
        "method": "ppo",
        "env_id": target.env_id,
        "env_kwargs": args.env_kwargs,
        "splits": {"train": 1.0 - sum(shares.values()), **shares},
        "sampler": args.sampler,
        **({"sampler_args": _sampler_args(args, target)} if args.sampler == "plr" else {}),
        "steps": args.total_steps,
        "seed": args.seed,
    }


def plr_score(args: PPOArgs, family: str) -> str:
    """The score PLR ranks levels by: ``args.plr_score``, with ``auto`` meaning exact
    regret where the family has a planner (``level_optimum``), else positive value loss."""
    import envs

    if args.plr_score != "auto":
        return args.plr_score
    has_planner = getattr(envs.FAMILIES.get(family), "level_optimum", None) is not None
    return "regret" if has_planner else "pvl"


def _sampler_args(args: PPOArgs, target: _Target) -> dict[str, Any]:
    """The PLR settings a run used (recorded in its training distribution)."""
    return dataclasses.asdict(args.plr_settings(plr_score(args, target.family)))


def make_vector_env(
    env_id: str,
    num_envs: int,
    env_kwargs: Mapping[str, Any] | None = None,
    level_mixture: Sequence[tuple[dict[str, Any], float]] = (),
) -> gym.vector.VectorEnv:
    """The batched environment: the id's own vector class if it has one, else a sync vector.

    ``level_mixture``: ``[(split kwargs, share), ...]`` for a vector class that can
    draw each level from a mixture (it takes a ``level_mixture`` argument)."""
    spec = gym.spec(env_id)
    mode = "vector_entry_point" if spec.vector_entry_point is not None else "sync"
    kwargs = dict(env_kwargs or {})
    if level_mixture:
        vector_class = spec.vector_entry_point
        if isinstance(vector_class, str):
            vector_class = gym.envs.registration.load_env_creator(vector_class)
        accepts = vector_class is not None and (
            "level_mixture" in inspect.signature(vector_class).parameters
        )
        if not accepts:
            raise ValueError(f"{env_id} cannot draw its levels from a mixture (no level_mixture)")
        kwargs["level_mixture"] = list(level_mixture)
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, **kwargs)


def _mixture(args: PPOArgs, target: _Target) -> list[tuple[dict[str, Any], float]]:
    """The ``level_mixture`` of ``args.mix``: each named split's kwargs and share."""
    return level_mixture(target.family, args.mix, args.env_kwargs)


def reset_seed(seed: int) -> int:
    """The seed of the vector environment's first reset for run ``seed``.

    Vector environments seed slot ``i`` with ``s + i``, so runs seeded 1, 2, ...
    with ``s = seed`` would share all but one slot's level stream. A hash of the
    run seed, below 2**29 (so below the evaluation level range), keeps
    independently seeded instances on independent training levels.
    """
    return int(np.random.SeedSequence(seed).generate_state(1)[0] % (1 << 29))


def _objective_totals(info: Mapping[str, Any], names: Sequence[str], n: int) -> np.ndarray:
    """``info["objectives"]`` of a vector step as an (n, len(names)) float array (NaN if absent)."""
    out = np.full((n, len(names)), np.nan)
    objectives = info.get("objectives")
    if objectives is None:
        return out
    if isinstance(objectives, Mapping):
        for j, name in enumerate(names):
            if name in objectives:
                out[:, j] = np.asarray(objectives[name], dtype=np.float64).reshape(n)
        return out
    # An object array of per-env dicts.
    for i, item in enumerate(objectives):
        if isinstance(item, Mapping):
            for j, name in enumerate(names):
                out[i, j] = float(item.get(name, np.nan))
    return out


class _PLRLevels:
    """PLR⊥ choosing a vector environment's levels: each slot's level when its episode
    starts (``reset`` with ``reset_mask``: the slot's next observation is a first one),
    its score when the episode ends. Only replayed levels are trained on (:attr:`trained`)."""

    def __init__(self, args: PPOArgs, target: _Target, env: gym.vector.VectorEnv) -> None:
        import envs

        family = envs.get_family(target.family)
        score = plr_score(args, family.name)
        if score == "regret" and family.level_optimum is None:
            raise ValueError(
                f"plr_score=regret needs an exact planner, and {family.name} has none "
                "(no level_optimum); use plr_score=pvl"
            )
        if not getattr(env.unwrapped, "resets_single_slots", False):
            raise ValueError(
                f"sampler=plr needs a vector environment that resets single slots "
                f"(reset with options reset_mask); {target.env_id}'s does not say it can"
            )
        self.settings = args.plr_settings(score)
        rng = np.random.default_rng(reset_seed(args.seed))
        self.sampler = PLRSampler(self.settings, family.train_level_seeds, rng)
        self.level_optimum = family.level_optimum
        self.env = env
        # Which mixture component a level seed belongs to, where the env can say (logging).
        self.mixture = getattr(getattr(env, "unwrapped", env), "mixture", None)
        n = env.num_envs
        self.seeds = np.zeros(n, dtype=np.int64)
        self.replayed = np.zeros(n, dtype=bool)
        self.optimum: list[LevelOptimum | None] = [None] * n
        self.solved = 0  # exact optima computed (the rest were skipped by their bound)
        # Positive value loss: episodes ended in this rollout, and each slot's running
        # episode's sums carried over from earlier rollouts.
        self.pending: list[tuple[int, int, int]] = []
        self.start = np.zeros(n, dtype=np.int64)
        self.carry = np.zeros((2, n))

    @property
    def trained(self) -> torch.Tensor:
        """1 for the slots playing a replayed level (learned from), 0 for new levels (scored)."""
        return torch.from_numpy(self.replayed.astype(np.float32))

    def _reset(self, slots: np.ndarray) -> Any:
        n = self.env.num_envs
        seeds: list[int | None] = [None] * n
        for i in slots.tolist():
            seed, replayed = self.sampler.next_level()
            self.seeds[i], self.replayed[i], seeds[i] = seed, replayed, seed
        mask = np.zeros(n, dtype=bool)
        mask[slots] = True
        obs, _ = self.env.reset(seed=seeds, options={"reset_mask": mask})
        if self.settings.score == "regret" and self.level_optimum is not None:
            for i in slots.tolist():
                known = self.sampler.buffer.optimum_of(int(self.seeds[i]))
                self.optimum[i] = (
                    LevelOptimum(known, lambda known=known: known)
                    if not np.isnan(known)
                    else self.level_optimum(self.env, i)
                )
        return obs

    def _regret(self, slot: int, episode_return: float) -> tuple[float, float] | None:
        """``(regret, optimum)`` of the slot's ended episode; None when even the optimum's
        upper bound leaves a new level's regret too low to enter a full buffer."""
        level = self.optimum[slot]
        assert level is not None
        buffer = self.sampler.buffer
        seed = int(self.seeds[slot])
        if seed not in buffer and buffer.full and level.bound - episode_return <= buffer.min_score:
            return None
        known = buffer.optimum_of(seed)
        if np.isnan(known):
            known = level.solve()
            self.solved += 1
        return known - episode_return, known

    def start_all(self) -> Any:
        return self._reset(np.arange(self.env.num_envs))

    def ended(self, step: int, slots: np.ndarray, returns: np.ndarray) -> Any:
        """Episodes of ``slots`` ended at rollout step ``step`` with ``returns``: score
        them (regret now; positive value loss after the rollout's GAE) and start the
        slots' next levels. Returns the batch's observation."""
        for i in slots.tolist():
            if self.settings.score == "regret":
                scored = self._regret(i, float(returns[i]))
                if scored is not None:
                    self.sampler.record(int(self.seeds[i]), *scored)
            else:
                self.pending.append((step, i, int(self.seeds[i])))
        return self._reset(slots)

    def rollout_done(self, advantages: np.ndarray, valid: np.ndarray) -> None:
        """Positive value loss of the episodes that ended in this rollout (from its GAE)."""
        if self.settings.score != "pvl":
            return
        positive = np.maximum(advantages, 0.0) * valid
        sums = np.vstack([np.zeros((1, positive.shape[1])), np.cumsum(positive, axis=0)])
        counts = np.vstack([np.zeros((1, valid.shape[1])), np.cumsum(valid, axis=0)])
        for step, i, seed in self.pending:
            begin = self.start[i]
            total = self.carry[0, i] + sums[step + 1, i] - sums[begin, i]
            count = self.carry[1, i] + counts[step + 1, i] - counts[begin, i]
            self.sampler.record(seed, total / max(count, 1.0))
            self.carry[:, i] = 0.0
            self.start[i] = step + 1
        cols = np.arange(positive.shape[1])
        self.carry[0] += sums[-1] - sums[self.start, cols]
        self.carry[1] += counts[-1] - counts[self.start, cols]
        self.start[:] = 0
        self.pending.clear()

    def log(self) -> dict[str, float]:
        """The curve's PLR columns: replayed share of episodes, buffer fill and mean
        score, and the share of buffered levels drawn from the mixture's other splits."""
        buffer = self.sampler.buffer
        n = len(buffer)
        mixed = math.nan
        if self.mixture is not None and n:
            mixed = float(np.mean(self.mixture.components(buffer.seeds[:n]) > 0))
        return {
            "plr_replayed": self.sampler.replays / max(self.sampler.episodes, 1),
            "plr_buffer_fill": n / buffer.size,
            "plr_mean_score": float(buffer.scores[:n].mean()) if n else math.nan,
            "plr_mixed_share": mixed,
        }


#: Curve columns a PLR run adds (after ``sps``).
PLR_CURVE_COLUMNS = ("plr_replayed", "plr_buffer_fill", "plr_mean_score", "plr_mixed_share")


# --------------------------------------------------------------------------- training


@dataclass
class TrainResult:
    """What a training run produced and how fast it ran."""

    checkpoint: Path
    curve_csv: Path
    curve_png: Path
    args_json: Path
    steps_per_second: float
    """Environment steps per second over the whole run (rollouts and updates)."""
    final_mean_return: float
    """Mean return of the last (up to) ``max(100, num_envs)`` completed training episodes."""
    global_step: int = 0
    episodes: int = 0
    seconds: float = 0.0
    actor: nn.Module | None = field(default=None, repr=False, compare=False)
    """The trained actor in memory (the module the checkpoint scripts)."""


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(args: PPOArgs, *, progress: bool = True) -> TrainResult:
    """Train PPO with ``args``; write policy, arguments, curve and plot into ``args.out_dir``."""
    target = _resolve(args)
    torch.set_num_threads(max(1, args.torch_threads))
    _seed_everything(args.seed)

    env = make_vector_env(target.env_id, args.num_envs, args.env_kwargs, _mixture(args, target))
    autoreset = env.metadata.get("autoreset_mode", gym.vector.AutoresetMode.NEXT_STEP)
    autoreset = getattr(autoreset, "value", autoreset)
    if autoreset not in ("NextStep", "SameStep"):
        raise ValueError(f"{target.env_id}: unsupported vector autoreset mode {autoreset!r}")
    next_step_reset = autoreset == "NextStep"
    obs_space, act_space = env.single_observation_space, env.single_action_space
    if not isinstance(act_space, spaces.Discrete):
        raise TypeError(f"PPO here supports Discrete actions, got {act_space}")
    obs_dim, n_actions = flat_dim(obs_space), int(act_space.n)

    image = image_slot(obs_space)
    actor = Actor(obs_dim, n_actions, args.hidden_sizes, image, args.conv_channels)
    critic = Critic(obs_dim, args.hidden_sizes, image, args.conv_channels)
    params = [*actor.parameters(), *critic.parameters()]
    optimizer = torch.optim.Adam(params, lr=args.learning_rate, eps=1e-5)

    N, T = args.num_envs, args.num_steps
    obs_buf = torch.zeros((T, N, obs_dim))
    act_buf = torch.zeros((T, N), dtype=torch.long)
    logp_buf = torch.zeros((T, N))
    rew_buf = torch.zeros((T, N))
    term_buf = torch.zeros((T, N))
    trunc_buf = torch.zeros((T, N))
    val_buf = torch.zeros((T, N))
    valid_buf = torch.zeros((T, N))  # 1 for a real transition (not an autoreset step)
    trained_buf = torch.zeros((T, N))  # 1 for a transition the losses learn from

    paths = start_outputs(args)
    objective_columns = [f"mean_{name}" for name in target.objectives]
    columns = [*CURVE_COLUMNS[:4], *objective_columns, *CURVE_COLUMNS[4:]]
    plr = _PLRLevels(args, target, env) if args.sampler == "plr" else None
    if plr is not None:
        columns += PLR_CURVE_COLUMNS
    rows: list[dict[str, float]] = []

    # Episode bookkeeping (per environment slot).
    ep_return = np.zeros(N)
    ep_length = np.zeros(N, dtype=np.int64)
    recent: deque[float] = deque(maxlen=max(100, N))
    episodes = 0

    if plr is None:
        obs, reset_info = env.reset(seed=reset_seed(args.seed))
    else:  # PLR chooses every slot's first level (a self-play env is refused by it)
        obs, reset_info = plr.start_all(), {}
    next_obs = torch.from_numpy(flatten_batch(obs_space, obs))
    next_valid = torch.ones(N)  # False for a slot whose next step is an autoreset step
    self_play = "active" in reset_info
    if self_play:
        next_valid = torch.from_numpy(np.asarray(reset_info["active"], dtype=np.float32))
    next_trained = torch.ones(N) if plr is None else plr.trained
    global_step = 0
    start = time.perf_counter()

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    bar = Progress(
        TextColumn(f"[bold]PPO {target.env_id} seed {args.seed}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[sps]:>7,.0f} steps/s  return {task.fields[ret]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not (progress and console.is_terminal),
        transient=False,
    )
    total = args.num_iterations * args.batch_size
    with bar:
        task = bar.add_task("train", total=total, sps=0.0, ret="-")
        for iteration in range(1, args.num_iterations + 1):
            if args.anneal_lr:
                frac = 1.0 - (iteration - 1.0) / args.num_iterations
                optimizer.param_groups[0]["lr"] = frac * args.learning_rate

            # ---------------------------------------------------------- rollout
            it_returns: list[float] = []
            it_lengths: list[int] = []
            it_objectives: list[np.ndarray] = []
            for step in range(T):
                obs_buf[step] = next_obs
                valid_buf[step] = next_valid
                trained_buf[step] = next_valid * next_trained
                with torch.no_grad():
                    if self_play:  # only the rows of live organisms are run through the nets
                        live = next_valid.bool()
                        action = torch.zeros(N, dtype=torch.long)
                        logp_buf[step] = 0.0
                        val_buf[step] = 0.0
                        dist = Categorical(logits=actor(next_obs[live]), validate_args=False)
                        sampled = dist.sample()
                        action[live] = sampled
                        logp_buf[step, live] = dist.log_prob(sampled)
                        val_buf[step, live] = critic(next_obs[live])
                    else:
                        dist = Categorical(logits=actor(next_obs), validate_args=False)
                        action = dist.sample()
                        logp_buf[step] = dist.log_prob(action)
                        val_buf[step] = critic(next_obs)
                act_buf[step] = action
                obs, reward, terminated, truncated, info = env.step(action.numpy())
                valid_np = next_valid.numpy().astype(bool)
                reward = np.asarray(reward, dtype=np.float64) * valid_np
                terminated = np.asarray(terminated, dtype=bool) & valid_np
                truncated = np.asarray(truncated, dtype=bool) & valid_np
                rew_buf[step] = torch.from_numpy(reward.astype(np.float32))
                term_buf[step] = torch.from_numpy(terminated.astype(np.float32))
                trunc_buf[step] = torch.from_numpy(truncated.astype(np.float32))
                done = terminated | truncated
                if "active" in info:  # rows are organism slots (self-play): live ones only
                    next_valid = torch.from_numpy(np.asarray(info["active"], dtype=np.float32))
                elif next_step_reset and plr is None:
                    next_valid = torch.from_numpy((~done).astype(np.float32))
                global_step += N

                if "active" in info:  # self-play: a level's objectives, once, on its first row
                    levels = _objective_totals(info, target.objectives, N)
                    it_objectives.extend(levels[~np.isnan(levels).all(axis=1)])
                ep_return += reward
                ep_length += valid_np
                global_step += int(valid_np.sum()) - N if "active" in info else 0
                if done.any():
                    ended = np.flatnonzero(done)
                    if plr is not None:  # PLR resets the ended slots onto levels of its choosing
                        obs = plr.ended(step, ended, ep_return)
                        next_trained = plr.trained
                    totals = _objective_totals(info, target.objectives, N)[ended]
                    for k, i in enumerate(ended):
                        it_returns.append(float(ep_return[i]))
                        it_lengths.append(int(ep_length[i]))
                        if "active" not in info:
                            it_objectives.append(totals[k])
                    ep_return[ended] = 0.0
                    ep_length[ended] = 0
                next_obs = torch.from_numpy(flatten_batch(obs_space, obs))

            # ---------------------------------------------------------- GAE
            with torch.no_grad():
                next_value = critic(next_obs)
                advantages = torch.zeros((T, N))
                lastgae = torch.zeros(N)
                for t in reversed(range(T)):
                    following = next_value if t == T - 1 else val_buf[t + 1]
                    term, trunc = term_buf[t], trunc_buf[t]
                    if not args.bootstrap_truncated:
                        term = torch.maximum(term, trunc)
                    done_t = torch.maximum(term, trunc)
                    delta = rew_buf[t] + args.gamma * following * (1.0 - term) - val_buf[t]
                    lastgae = delta + args.gamma * args.gae_lambda * (1.0 - done_t) * lastgae
                    lastgae = lastgae * valid_buf[t]
                    advantages[t] = lastgae
                returns = advantages + val_buf
            if plr is not None:
                plr.rollout_done(advantages.numpy(), valid_buf.numpy())

            # ---------------------------------------------------------- update
            keep = trained_buf.reshape(-1).bool()
            b_obs = obs_buf.reshape(-1, obs_dim)[keep]
            b_act = act_buf.reshape(-1)[keep]
            b_logp = logp_buf.reshape(-1)[keep]
            b_adv = advantages.reshape(-1)[keep]
            b_ret = returns.reshape(-1)[keep]
            b_val = val_buf.reshape(-1)[keep]
            n_valid = int(b_obs.shape[0])
            mb_size = max(1, math.ceil(n_valid / args.num_minibatches))
            clipfracs: list[float] = []
            pg_loss = v_loss = entropy_loss = approx_kl = torch.zeros(())
            for _epoch in range(args.update_epochs):
                order = torch.randperm(n_valid)
                for begin in range(0, n_valid, mb_size):
                    mb = order[begin : begin + mb_size]
                    dist = Categorical(logits=actor(b_obs[mb]), validate_args=False)
                    new_logp = dist.log_prob(b_act[mb])
                    entropy = dist.entropy()
                    new_value = critic(b_obs[mb])
                    logratio = new_logp - b_logp[mb]
                    ratio = logratio.exp()
                    with torch.no_grad():
                        approx_kl = ((ratio - 1) - logratio).mean()
                        clipfracs.append(
                            ((ratio - 1.0).abs() > args.clip_coef).float().mean().item()
                        )
                    mb_adv = b_adv[mb]
                    if args.norm_adv and len(mb) > 1:
                        mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                    pg_loss = torch.max(
                        -mb_adv * ratio,
                        -mb_adv * torch.clamp(ratio, 1 - args.clip_coef, 1 + args.clip_coef),
                    ).mean()
                    if args.clip_vloss:
                        unclipped = (new_value - b_ret[mb]) ** 2
                        clipped = b_val[mb] + torch.clamp(
                            new_value - b_val[mb], -args.clip_coef, args.clip_coef
                        )
                        v_loss = 0.5 * torch.max(unclipped, (clipped - b_ret[mb]) ** 2).mean()
                    else:
                        v_loss = 0.5 * ((new_value - b_ret[mb]) ** 2).mean()
                    entropy_loss = entropy.mean()
                    loss = pg_loss - args.ent_coef * entropy_loss + args.vf_coef * v_loss
                    optimizer.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(params, args.max_grad_norm)
                    optimizer.step()
                if args.target_kl is not None and approx_kl.item() > args.target_kl:
                    break

            # ---------------------------------------------------------- logging
            elapsed = time.perf_counter() - start
            sps = global_step / max(elapsed, 1e-9)
            episodes += len(it_returns)
            recent.extend(it_returns)
            row: dict[str, float] = {
                "global_step": global_step,
                "episodes": episodes,
                "mean_return": float(np.mean(it_returns)) if it_returns else math.nan,
                "mean_length": float(np.mean(it_lengths)) if it_lengths else math.nan,
            }
            objective_means = (
                np.nanmean(np.stack(it_objectives), axis=0)
                if it_objectives and target.objectives
                else np.full(len(target.objectives), np.nan)
            )
            for column, value in zip(objective_columns, objective_means, strict=True):
                row[column] = float(value)
            row |= {
                "policy_loss": float(pg_loss.item()),
                "value_loss": float(v_loss.item()),
                "entropy": float(entropy_loss.item()),
                "approx_kl": float(approx_kl.item()),
                "clipfrac": float(np.mean(clipfracs)) if clipfracs else math.nan,
                "sps": sps,
            }
            if plr is not None:
                row |= plr.log()
            rows.append(row)
            ret_text = f"{np.mean(recent):.2f}" if recent else "-"
            bar.update(task, completed=global_step, sps=sps, ret=ret_text)

    seconds = time.perf_counter() - start
    env.close()

    write_curve(paths["curve_csv"], columns, rows)
    save_policy(
        actor,
        paths["checkpoint"],
        observation_space=obs_space,
        action_space=act_space,
        metadata={
            "args": args.to_dict(),
            "algorithm": "ppo",
            # A PPO policy is stochastic; evaluated greedily, a memoryless policy loops.
            "deterministic": False,
            "family": target.family,
            "seed": args.seed,
            "env_id": target.env_id,
            "env_kwargs": args.env_kwargs,
            "global_step": global_step,
            "training": training_distribution(args, target),
        },
    )
    plot_curve(
        paths["curve_csv"],
        paths["curve_png"],
        title=f"PPO on {target.env_id}, seed {args.seed}",
    )
    return TrainResult(
        checkpoint=paths["checkpoint"],
        curve_csv=paths["curve_csv"],
        curve_png=paths["curve_png"],
        args_json=paths["args_json"],
        steps_per_second=global_step / max(seconds, 1e-9),
        final_mean_return=float(np.mean(recent)) if recent else math.nan,
        global_step=global_step,
        episodes=episodes,
        seconds=seconds,
        actor=actor,
    )


def _smooth(values: np.ndarray, counts: np.ndarray, window: int) -> np.ndarray:
    """Episode-weighted mean of ``values`` over a trailing window of ``window`` rows."""
    ok = np.isfinite(values) & (counts > 0)
    weights = np.where(ok, counts, 0.0)
    total = np.convolve(np.where(ok, values, 0.0) * weights, np.ones(window))[: len(values)]
    norm = np.convolve(weights, np.ones(window))[: len(values)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, total / norm, np.nan)


def plot_curve(csv_path: str | Path, png_path: str | Path, *, title: str) -> Path:
    """One panel per objective (each on its own scale; the reward's named in its title),
    then policy entropy and approximate KL, against env steps."""
    curve = read_curve(csv_path)
    steps = curve.get("global_step", np.array([]))
    counts = np.diff(curve.get("episodes", np.array([])), prepend=0.0)
    window = max(1, len(steps) // 50)
    objectives = {
        name[5:]: _smooth(values, counts, window)
        for name, values in curve.items()
        if name.startswith("mean_") and name not in ("mean_return", "mean_length")
    }
    reward = _smooth(curve["mean_return"], counts, window)
    ylabel = f"per episode (last {window} updates)"
    panels = [
        *objective_panels(objectives, ylabel, reward),
        Panel("policy entropy", "nats", {"entropy": curve.get("entropy", np.array([]))}),
        Panel("approximate KL per update", "", {"approx KL": curve.get("approx_kl", np.array([]))}),
    ]
    return plot_panels(steps, "environment steps", panels, title=title, path=png_path)


__all__ = [
    "CURVE_COLUMNS",
    "Actor",
    "Critic",
    "PPOArgs",
    "Torso",
    "TrainResult",
    "UnknownFieldError",
    "apply_overrides",
    "image_slot",
    "make_vector_env",
    "plot_curve",
    "read_curve",
    "reset_seed",
    "train",
]
