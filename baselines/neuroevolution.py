"""Neuroevolution in one readable file: evolution as the base optimiser (OpenAI-ES).

Evolves the weights of a small policy network (the flat observation of
:class:`envs.evolution.env.EvolutionEnv` -> action logits) with the evolution
strategy of Salimans et al. (2017): mirrored Gaussian perturbations, fitness
shaping by (tie-averaged) centred ranks, Adam on the estimated gradient.

Fitness is the intended objective of the Evolution family, ``descendants`` (the
offspring a population driven by the network breeds in a season), on levels of
the ``train`` split (the ancestral world); every organism of a level is driven
by the same network, as natural selection would act on a gene shared by the
population. No reward shaping: the fitness is exactly that count.

What makes it learn (the first version, over greedy policies, scored 0 in every
generation: from random weights a greedy policy repeats one action, never
breeds, and every perturbation ties):

* the policies **sample** their actions from the softmax of their logits, so
  fitness is a smooth function of the weights (a uniform policy already breeds
  about 0.6-0.8 offspring per level) and the evolved policy is evaluated the
  same way (its file says ``"deterministic": false``);
* **common random numbers**: in a generation every member plays the same
  ``levels_per_eval`` train levels (fresh each generation, drawn below
  :data:`envs.family.EVAL_SEED_BASE`) with the same stream of sampling draws per
  level, so differences in fitness are differences of the policies;
* inputs are standardised (:class:`Policy`), so perturbations change behaviour;
* the output layer starts at zero (every member starts near the uniform policy).

Usage::

    from baselines.neuroevolution import NeuroevolutionArgs, train
    result = train(NeuroevolutionArgs(seed=1, out_dir="runs/neuroevolution"))

Outputs, written into ``out_dir`` for seed ``S``:

* ``seed{S}.pt``: the evolved policy (:func:`benchmark.torch_policy.save_policy`);
* ``seed{S}.args.json``: the exact :class:`NeuroevolutionArgs`;
* ``seed{S}.curve.csv``: one row per generation (:data:`CURVE_COLUMNS`, then
  ``mean_<objective>`` of the population for each of the family's objectives);
* ``seed{S}.curve.png``: the fitness curve.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

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
from benchmark.torch_policy import flat_dim, save_policy

#: Stable leading columns of the curve CSV; ``mean_<objective>`` columns follow.
CURVE_COLUMNS = ("generation", "best_fitness", "mean_fitness", "center_fitness", "seconds")


@dataclass
class NeuroevolutionArgs(TrainingArgs):
    """Every argument of a neuroevolution run. Saved beside the weights as JSON."""

    family: str = "evolution"
    """Family whose ``train`` split is evolved on (only ``evolution`` is supported)."""
    seed: int = 1
    """Seeds the initial weights, the perturbations and the training levels."""
    generations: int = 60
    """Generations (ES updates)."""
    population: int = 24
    """Perturbed policies per generation (even: mirrored pairs)."""
    levels_per_eval: int = 6
    """Train levels every member plays per generation (the same levels and draws for all)."""
    sigma: float = 0.1
    """Standard deviation of the Gaussian weight perturbations."""
    learning_rate: float = 0.05
    """Adam step size on the ES gradient estimate."""
    weight_decay: float = 0.005
    """L2 decay of the weights (as in Salimans et al.)."""
    mix: str = ""
    """Evolve on a mixture of distributions: ``SPLIT:SHARE[,SPLIT:SHARE...]`` (e.g.
    ``candy:0.03``). That share of each generation's levels, decided per level seed,
    comes from the family's ``SPLIT`` (its levels for training-range seeds, never its
    evaluation seeds); the rest from ``train``. Only the candy share and the ornament
    coupling may differ (Evolution v1). Recorded in the policy file as its training
    distribution (``training`` in its metadata)."""
    hidden_sizes: tuple[int, ...] = (16,)
    """Hidden layer widths of the tanh policy network."""
    torch_threads: int = 1
    """Threads torch may use (the machine is shared: keep it small)."""
    out_dir: str = "runs/neuroevolution"
    """Directory the policy, arguments, curve CSV and plot are written to."""

    def __post_init__(self) -> None:
        parse_mix(self.family, self.mix)  # a bad mixture is refused before evolving starts


# --------------------------------------------------------------------------- network


class Policy(nn.Module):
    """Flat float32 observations ``(batch, obs_dim)`` -> action logits (a tanh MLP).

    Observations are first standardised with the fixed buffers ``obs_mean`` and
    ``obs_std`` (measured once, before evolution, on the uniform policy's
    observations: :func:`observation_statistics`). Most inputs of the Evolution
    view are sparse (food, mates and walls in a few cells), so in raw units a
    weight perturbation barely moves the logits and every member of a
    generation behaves alike; standardised, each input matters at unit scale.
    """

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        hidden: Sequence[int],
        obs_mean: np.ndarray | None = None,
        obs_std: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        mean = np.zeros(obs_dim) if obs_mean is None else obs_mean
        std = np.ones(obs_dim) if obs_std is None else obs_std
        self.register_buffer("obs_mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("obs_std", torch.as_tensor(std, dtype=torch.float32))
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [nn.Linear(obs_dim, width), nn.Tanh()]
            obs_dim = width
        layers.append(nn.Linear(obs_dim, n_actions))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.obs_mean) / self.obs_std)


def observation_statistics(
    kwargs: Mapping[str, Any], seeds: Sequence[int], *, min_std: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Per-input mean and standard deviation (floored at ``min_std``; 1 for constant inputs)
    of the observations of uniformly random organisms on the levels ``seeds``."""
    from envs.evolution.parallel import EvolutionParallelEnv

    rows = []
    for seed in seeds:
        env = EvolutionParallelEnv(**kwargs)
        n_actions = int(env.action_space(env.possible_agents[0]).n)
        env.reset(seed=int(seed))
        rng = np.random.default_rng(int(seed))
        while env.agents:
            obs = env.observation_batch()[1]
            rows.append(obs)
            env.step_batch(rng.integers(0, n_actions, size=len(obs)))
    data = np.concatenate(rows).astype(np.float64)
    mean, std = data.mean(axis=0), data.std(axis=0)
    std = np.where(std > 0, np.maximum(std, min_std), 1.0)
    return mean.astype(np.float32), std.astype(np.float32)


def _shapes(policy: Policy) -> list[tuple[int, ...]]:
    return [tuple(p.shape) for p in policy.parameters()]


def numpy_forward(
    theta: np.ndarray, shapes: Sequence[tuple[int, ...]], x: np.ndarray
) -> np.ndarray:
    """The logits of :class:`Policy` with flat parameters ``theta`` (fast, for fitness)."""
    offset = 0
    params = []
    for shape in shapes:
        size = int(np.prod(shape))
        params.append(theta[offset : offset + size].reshape(shape))
        offset += size
    h = x
    for i in range(0, len(params), 2):
        h = h @ params[i].T + params[i + 1]
        if i + 2 < len(params):
            h = np.tanh(h)
    return h


# --------------------------------------------------------------------------- fitness


def sample_actions(logits: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Actions drawn from ``softmax(logits)`` by inverting the CDF at ``uniforms`` (one per row)."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    cdf = np.cumsum(p, axis=1)
    chosen = (cdf < uniforms[:, None] * cdf[:, -1:]).sum(axis=1)
    return np.minimum(chosen, logits.shape[1] - 1)


def evaluate_population(
    thetas: np.ndarray,
    shapes: Sequence[tuple[int, ...]],
    kwargs: Mapping[str, Any],
    seeds: Sequence[int],
    sample_seeds: Sequence[int] | None = None,
    *,
    deterministic: bool = False,
    obs_mean: np.ndarray | float = 0.0,
    obs_std: np.ndarray | float = 1.0,
    level_mixture: Sequence[tuple[Mapping[str, Any], float]] = (),
) -> np.ndarray:
    """Objective totals ``(len(thetas), len(seeds), n_objectives)`` of the policies ``thetas``.

    Every policy acts for every live organism of its own copy of each level
    ``seeds[j]``; stochastic policies sample with ``np.random.default_rng(
    sample_seeds[j])`` (the same draws for every policy on level ``j``: common
    random numbers), greedy ones (``deterministic=True``) take the argmax.
    Observations are standardised with ``obs_mean`` and ``obs_std`` first (as
    :class:`Policy` does). ``level_mixture`` (v1 only): each level from the component
    its seed is assigned to (:class:`envs.evolution.core.EvolutionCore`).
    """
    from envs.evolution.env import OBJECTIVES, EvolutionEnv

    if sample_seeds is None:
        sample_seeds = seeds
    if kwargs.get("rules", 0) == 1:
        return _evaluate_population_v1(
            thetas, shapes, kwargs, seeds, sample_seeds, deterministic, obs_mean, obs_std,
            level_mixture,
        )  # fmt: skip
    if level_mixture:
        raise ValueError("Evolution v0 cannot draw its levels from a mixture (v1 can)")
    envs = [[EvolutionEnv(**kwargs) for _ in seeds] for _ in thetas]
    draws = [[np.random.default_rng(int(s)) for s in sample_seeds] for _ in thetas]
    for row in envs:
        for env, seed in zip(row, seeds, strict=True):
            env.reset(seed=int(seed))
    while True:
        active = False
        for p, row in enumerate(envs):
            live = [j for j, env in enumerate(row) if env.agents]
            if not live:
                continue
            active = True
            obs = [row[j].observation_batch()[1] for j in live]
            x = (np.concatenate(obs) - obs_mean) / obs_std
            logits = numpy_forward(thetas[p], shapes, x)
            if deterministic:
                actions = logits.argmax(axis=1)
            else:
                pairs = zip(live, obs, strict=True)
                uniforms = np.concatenate([draws[p][j].random(len(o)) for j, o in pairs])
                actions = sample_actions(logits, uniforms)
            start = 0
            for j, o in zip(live, obs, strict=True):
                row[j].step_batch(actions[start : start + len(o)])
                start += len(o)
        if not active:
            break
    return np.array(
        [[[env.episode_objectives[o] for o in OBJECTIVES] for env in row] for row in envs]
    )


def _evaluate_population_v1(
    thetas: np.ndarray,
    shapes: Sequence[tuple[int, ...]],
    kwargs: Mapping[str, Any],
    seeds: Sequence[int],
    sample_seeds: Sequence[int],
    deterministic: bool,
    obs_mean: np.ndarray | float,
    obs_std: np.ndarray | float,
    level_mixture: Sequence[tuple[Mapping[str, Any], float]] = (),
) -> np.ndarray:
    """:func:`evaluate_population` on Evolution v1: every (policy, level) pair is one level
    of a single batched :class:`envs.evolution.core.EvolutionCore`, stepped in one call.
    Each pair draws its sampling uniforms from its own generator (one per organism slot
    per step), so the draws on a level are the same for every policy."""
    from envs.evolution.core import STAY, EvolutionCore

    n_p, n_l = len(thetas), len(seeds)
    core = EvolutionCore(n_p * n_l, list(level_mixture), **kwargs)
    core.reset_levels(range(n_p * n_l), [int(s) for _ in range(n_p) for s in seeds])
    draws = [np.random.default_rng(int(s)) for _ in range(n_p) for s in sample_seeds]
    while not core.done.all():
        lv, ids = core.live_rows()
        x = (core.observe(lv, ids) - obs_mean) / obs_std
        actions = np.full((core.B, core.M), STAY, dtype=np.int64)
        member = lv // n_l
        uniforms = np.stack([draws[b].random(core.M) for b in range(core.B)])
        for p in np.unique(member).tolist():
            rows = member == p
            logits = numpy_forward(thetas[p], shapes, x[rows])
            if deterministic:
                chosen = logits.argmax(axis=1)
            else:
                chosen = sample_actions(logits, uniforms[lv[rows], ids[rows]])
            actions[lv[rows], ids[rows]] = chosen
        core.step(actions)
    return core.objectives().reshape(n_p, n_l, -1)


def centred_ranks(x: np.ndarray) -> np.ndarray:
    """Fitness shaping of Salimans et al.: ranks scaled to [-0.5, 0.5], ties sharing their mean."""
    x = np.asarray(x, dtype=float)
    order = x.argsort(kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x), dtype=float)
    for value in np.unique(x):
        tied = x == value
        ranks[tied] = ranks[tied].mean()
    return ranks / max(len(x) - 1, 1) - 0.5


# --------------------------------------------------------------------------- training


@dataclass
class TrainResult:
    """What a run produced."""

    checkpoint: Path
    curve_csv: Path
    curve_png: Path
    args_json: Path
    final_fitness: float
    """Mean descendants of the last generation's centre policy (before its update), sampled."""
    seconds: float = 0.0
    generations: int = 0
    policy: nn.Module | None = field(default=None, repr=False, compare=False)


def training_distribution(args: NeuroevolutionArgs, env_id: str) -> dict[str, Any]:
    """What the policy was evolved on, recorded in its file: the environment, each
    split's share of the levels, the budget and the seed."""
    shares = parse_mix(args.family, args.mix)
    return {
        "method": "neuroevolution",
        "env_id": env_id,
        "env_kwargs": {},
        "splits": {"train": 1.0 - sum(shares.values()), **shares},
        "sampler": "uniform",
        "generations": args.generations,
        "levels": args.generations * args.levels_per_eval,
        "seed": args.seed,
    }


def train(args: NeuroevolutionArgs, *, progress: bool = True) -> TrainResult:
    """Evolve a policy with ``args``; write policy, args, curve and plot into ``args.out_dir``."""
    import envs
    from envs.evolution.env import OBJECTIVES
    from envs.family import EVAL_SEED_BASE

    if args.family != "evolution":
        raise ValueError(f"neuroevolution evolves the 'evolution' family, not {args.family!r}")
    if args.population < 2 or args.population % 2:
        raise ValueError("population must be even and >= 2 (mirrored pairs)")
    family = envs.get_family(args.family)
    split = family.train
    kwargs = dict(split.kwargs)
    mixture = level_mixture(args.family, args.mix)
    if mixture and kwargs.get("rules", 0) != 1:
        raise ValueError(f"mix: {split.env_id} cannot draw its levels from a mixture (v1 can)")
    torch.set_num_threads(max(1, args.torch_threads))
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    from envs.evolution.parallel import EvolutionParallelEnv

    probe = EvolutionParallelEnv(**kwargs)
    obs_space = probe.observation_space(probe.possible_agents[0])
    act_space = probe.action_space(probe.possible_agents[0])
    # Input standardisation from the uniform policy on two train levels of this seed.
    stats_seeds = rng.integers(0, EVAL_SEED_BASE, size=2)
    obs_mean, obs_std = observation_statistics(kwargs, stats_seeds)
    policy = Policy(flat_dim(obs_space), int(act_space.n), args.hidden_sizes, obs_mean, obs_std)
    with torch.no_grad():  # the output layer starts at zero: a uniform policy
        policy.net[-1].weight.zero_()
        policy.net[-1].bias.zero_()
    shapes = _shapes(policy)
    theta = torch.nn.utils.parameters_to_vector(policy.parameters()).detach().double().numpy()
    theta = theta.copy()
    adam_m = np.zeros_like(theta)
    adam_v = np.zeros_like(theta)
    half = args.population // 2

    paths = start_outputs(args)
    columns = [*CURVE_COLUMNS, *(f"mean_{o}" for o in OBJECTIVES)]
    rows: list[dict[str, float]] = []
    start = time.perf_counter()
    intended = OBJECTIVES.index(family.intended.name)
    center_fitness = math.nan

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    show = progress and sys.stderr.isatty() and not os.environ.get("PYTEST_CURRENT_TEST")
    bar = Progress(
        TextColumn(f"[bold]ES {split.env_id} seed {args.seed}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("best {task.fields[best]}  mean {task.fields[mean]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not show,
    )
    with bar:
        task = bar.add_task("evolve", total=args.generations, best="-", mean="-")
        for generation in range(1, args.generations + 1):
            # Fresh train levels (and sampling draws) each generation, shared by all members.
            seeds = rng.integers(0, EVAL_SEED_BASE, size=args.levels_per_eval)
            sample_seeds = rng.integers(0, 1 << 62, size=args.levels_per_eval)
            noise = rng.standard_normal((half, theta.size))
            thetas = np.concatenate(
                [theta + args.sigma * noise, theta - args.sigma * noise, theta[None]]
            )
            totals = evaluate_population(  # (P + 1, L, O)
                thetas, shapes, kwargs, seeds, sample_seeds,
                obs_mean=obs_mean, obs_std=obs_std, level_mixture=mixture,
            )  # fmt: skip
            means = totals.mean(axis=1)
            fitness = means[:-1, intended]
            center_fitness = float(means[-1, intended])
            shaped = centred_ranks(fitness)
            grad = (shaped[:half] - shaped[half:]) @ noise / (args.population * args.sigma)
            grad = -grad + args.weight_decay * theta  # descend on the negated objective
            adam_m = 0.9 * adam_m + 0.1 * grad
            adam_v = 0.999 * adam_v + 0.001 * grad**2
            m_hat = adam_m / (1 - 0.9**generation)
            v_hat = adam_v / (1 - 0.999**generation)
            theta = theta - args.learning_rate * m_hat / (np.sqrt(v_hat) + 1e-8)
            row: dict[str, float] = {
                "generation": generation,
                "best_fitness": float(fitness.max()),
                "mean_fitness": float(fitness.mean()),
                "center_fitness": center_fitness,
                "seconds": time.perf_counter() - start,
            }
            for j, name in enumerate(OBJECTIVES):
                row[f"mean_{name}"] = float(means[:-1, j].mean())
            rows.append(row)
            write_curve(paths["curve_csv"], columns, rows)  # readable while it runs
            bar.update(task, advance=1, best=f"{fitness.max():.1f}", mean=f"{fitness.mean():.1f}")

    seconds = time.perf_counter() - start
    torch.nn.utils.vector_to_parameters(
        torch.from_numpy(theta.astype(np.float32)), policy.parameters()
    )
    write_curve(paths["curve_csv"], columns, rows)
    save_policy(
        policy,
        paths["checkpoint"],
        observation_space=obs_space,
        action_space=act_space,
        metadata={
            "deterministic": False,
            "args": args.to_dict(),
            "algorithm": "neuroevolution",
            "family": args.family,
            "seed": args.seed,
            "env_id": split.env_id,
            "generations": args.generations,
            "training": training_distribution(args, split.env_id),
        },
    )
    plot_curve(
        paths["curve_csv"],
        paths["curve_png"],
        title=f"OpenAI-ES (sampling policies) on {split.env_id}, seed {args.seed}",
    )
    return TrainResult(
        checkpoint=paths["checkpoint"],
        curve_csv=paths["curve_csv"],
        curve_png=paths["curve_png"],
        args_json=paths["args_json"],
        final_fitness=center_fitness,
        seconds=seconds,
        generations=args.generations,
        policy=policy,
    )


def plot_curve(csv_path: str | Path, png_path: str | Path, *, title: str) -> Path:
    """Fitness (best, mean, centre), then one panel per objective's population mean
    (each on its own scale), per generation."""
    curve = read_curve(csv_path)
    fitness = {
        "best": curve["best_fitness"],
        "population mean": curve["mean_fitness"],
        "centre policy": curve["center_fitness"],
    }
    objectives = {
        name[5:]: values
        for name, values in curve.items()
        if name.startswith("mean_") and name != "mean_fitness"
    }
    panels = [
        Panel("fitness", "descendants per season", fitness),
        *objective_panels(objectives, "population mean per season"),
    ]
    return plot_panels(curve["generation"], "generation", panels, title=title, path=png_path)


__all__ = [
    "CURVE_COLUMNS",
    "NeuroevolutionArgs",
    "Policy",
    "TrainResult",
    "UnknownFieldError",
    "apply_overrides",
    "evaluate_population",
    "observation_statistics",
    "plot_curve",
    "read_curve",
    "sample_actions",
    "train",
]
