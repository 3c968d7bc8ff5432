"""Does an exploration bonus (Random Network Distillation) let PPO find selective courting?

PPO as committed (``baselines/ppo.py``, the arguments file given), except that the
reward the learner sees is the environment's reward (1 per offspring conceived)
plus ``beta`` times an RND intrinsic reward (Burda et al. 2018, "Exploration by
Random Network Distillation"):

* a fixed, randomly initialised *target* net and a trained *predictor* net, both
  MLPs from the organism's observation (the flat 4x7x7 view and the energy) to an
  ``embedding``-sized vector;
* their input is the observation normalised by a running mean and std (updated
  with every live organism's observation) and clipped to [-5, 5], as in RND;
* the intrinsic reward of a row's step is the predictor's mean squared error on
  the organism's *next* observation, divided by a running std of discounted
  intrinsic returns (RND's ``RewardForwardFilter``, ``gamma_int``); a row whose
  organism died or whose level ended at that step gets none (its next
  observation is not its own);
* after every rollout (``num_steps`` vector steps) the predictor is trained on
  that rollout's live next observations (``predictor_epochs`` epochs of
  ``predictor_minibatches`` minibatches, Adam at ``predictor_lr``).

Why: experiments/evolution_learnability/README.md finds the gap to the 0.7 bar
one of exploration (PPO learns to avoid dull partners but never finds that
seeking bright ones pays; a clone of a scripted courter holds 0.75-0.81 under
the same PPO objective). RND rewards reaching observations the predictor has not
learnt yet, e.g. being next to a bright organism with a full energy bar.

Differences from the paper, kept on purpose: the bonus is added to the
extrinsic reward and learnt by PPO's single critic (the paper uses a second,
non-episodic value head), and it is episodic per organism (the forward filter of
a row restarts with each organism).

How it is injected: ``baselines.ppo.train`` builds its training environment by
calling the module's ``make_vector_env``; this script replaces that name with a
factory that wraps the environment (:class:`RNDBonus`), whose ``step`` returns
``reward + beta * intrinsic``. ``info`` is untouched, so the curve's logged
objectives (``mean_descendants`` etc.) are the true ones; the curve's
``mean_return`` includes the bonus. The RND nets are built under a forked torch
RNG and train with their own generator, so PPO's own random stream starts as in
the committed run. Nothing in the package changes.

Run from the repository root::

    .venv/bin/python experiments/evolution_learnability/rnd.py \\
        baselines/weights/ppo_evolution/seed1.args.json \\
        --set total_steps=36864000 --set out_dir=experiments/evolution_learnability/rnd/beta0.5 \\
        --beta 0.5

(``--set`` overrides as for ``mesabench train ppo``; the RND settings are the
flags of :class:`RNDArgs`). Beside PPO's outputs in ``out_dir`` it writes
``seed{S}.rnd.json`` (the :class:`RNDArgs`) and ``seed{S}.rnd.csv`` (per update:
mean extrinsic and intrinsic reward per live organism-step, the predictor's
loss), prints every ``print_every``-th of those rows, and at the end saves the
RND nets and normalisers as ``seed{S}.rnd_nets.pt`` (runs before that was added,
``beta0.5/`` and ``beta2/`` seed 1, have no such file).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import baselines.ppo as ppo
from baselines.training_args import apply_overrides, read_training_args


@dataclass
class RNDArgs:
    """The RND bonus's settings (each a ``--flag`` of the script, ``_`` as ``-``)."""

    beta: float = 0.5
    """Weight of the normalised intrinsic reward added to the extrinsic one (1 per conception)."""
    predictor_lr: float = 1e-4
    """Adam learning rate of the predictor (the paper's 1e-4)."""
    embedding: int = 64
    """Size of the target's and the predictor's output."""
    hidden: int = 128
    """Width of the hidden layers (target: 2, predictor: 3; leaky ReLU)."""
    gamma_int: float = 0.99
    """Discount of the intrinsic returns whose running std normalises the intrinsic reward."""
    predictor_epochs: int = 4
    predictor_minibatches: int = 4
    obs_clip: float = 5.0
    print_every: int = 10
    """Print every n-th update's reward scales (and the first)."""
    centre: bool = False
    """Not RND's: subtract, at each step, the mean normalised intrinsic reward of the
    organisms that go on, so that the bonus ranks an organism's next observation against
    its contemporaries' and living longer earns none on average (plain RND's positive
    bonus pays every step an organism lives)."""


class RunningMeanStd:
    """Running mean and variance over batches (Chan et al.'s parallel update)."""

    def __init__(self, shape: tuple[int, ...] = ()) -> None:
        self.mean = np.zeros(shape)
        self.var = np.ones(shape)
        self.count = 1e-4

    def update(self, x: np.ndarray) -> None:
        if len(x) == 0:
            return
        b_mean, b_var, b_count = x.mean(axis=0), x.var(axis=0), len(x)
        delta = b_mean - self.mean
        total = self.count + b_count
        self.mean = self.mean + delta * b_count / total
        m2 = self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / total
        self.var = m2 / total
        self.count = total


def rnd_net(in_dim: int, hidden: int, out_dim: int, layers: int) -> nn.Sequential:
    parts: list[nn.Module] = []
    width = in_dim
    for _ in range(layers):
        parts += [ppo.layer_init(nn.Linear(width, hidden)), nn.LeakyReLU()]
        width = hidden
    parts.append(ppo.layer_init(nn.Linear(width, out_dim), std=1.0))
    return nn.Sequential(*parts)


class RNDBonus(gym.vector.VectorWrapper):
    """A self-play vector env whose reward includes ``beta`` times RND's intrinsic reward."""

    def __init__(
        self, env: gym.vector.VectorEnv, rnd: RNDArgs, seed: int, rollout: int, log_path: Path
    ) -> None:
        super().__init__(env)
        self.rnd = rnd
        self.rollout = rollout
        obs_dim = int(np.prod(env.single_observation_space.shape))
        with torch.random.fork_rng():  # leave PPO's torch stream as in the committed run
            torch.manual_seed(10_000 + seed)
            self.target = rnd_net(obs_dim, rnd.hidden, rnd.embedding, 2)
            self.predictor = rnd_net(obs_dim, rnd.hidden, rnd.embedding, 3)
        for p in self.target.parameters():
            p.requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.predictor.parameters(), lr=rnd.predictor_lr)
        self.generator = torch.Generator().manual_seed(20_000 + seed)
        self.obs_rms = RunningMeanStd((obs_dim,))
        self.ret_rms = RunningMeanStd()
        self.forward_filter = np.zeros(env.num_envs)
        self.active = np.ones(env.num_envs, dtype=bool)
        self.steps = 0
        self.live_steps = 0
        self.seen: list[torch.Tensor] = []  # normalised next observations of this rollout
        self.sums = np.zeros(4)  # extrinsic, raw intrinsic, normalised intrinsic, live steps
        self.log_path = log_path
        self.log_rows: list[dict[str, float]] = []
        self.updates = 0
        self.start = time.perf_counter()

    def _normalise(self, obs: np.ndarray) -> torch.Tensor:
        z = (obs - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + 1e-8)
        return torch.from_numpy(
            np.clip(z, -self.rnd.obs_clip, self.rnd.obs_clip).astype(np.float32)
        )

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.active = np.asarray(info["active"], dtype=bool)
        self.obs_rms.update(np.asarray(obs)[self.active])
        self.forward_filter[:] = 0.0
        return obs, info

    def step(self, actions):
        obs, reward, terminated, truncated, info = self.env.step(actions)
        obs = np.asarray(obs)
        was = self.active
        now = np.asarray(info["active"], dtype=bool)
        # The same organism acts on in this row: alive before and after, its level not ended.
        going_on = was & now & ~np.asarray(terminated, bool) & ~np.asarray(truncated, bool)
        self.obs_rms.update(obs[now])
        intrinsic = np.zeros(self.num_envs)
        if going_on.any():
            x = self._normalise(obs[going_on])
            with torch.no_grad():
                error = ((self.predictor(x) - self.target(x)) ** 2).mean(dim=1)
            intrinsic[going_on] = error.numpy()
            self.seen.append(x)
        self.forward_filter = np.where(
            going_on, self.forward_filter * self.rnd.gamma_int + intrinsic, 0.0
        )
        self.ret_rms.update(self.forward_filter[going_on])
        normalised = intrinsic / np.sqrt(self.ret_rms.var + 1e-8)
        if self.rnd.centre and going_on.any():
            normalised[going_on] -= normalised[going_on].mean()
        extrinsic = np.asarray(reward, dtype=np.float64)
        self.sums += [extrinsic[was].sum(), intrinsic[was].sum(), normalised[was].sum(), was.sum()]
        self.active = now
        self.steps += 1
        if self.steps % self.rollout == 0:
            self._end_rollout()
        return (
            obs,
            (extrinsic + self.rnd.beta * normalised).astype(np.float32),
            terminated,
            truncated,
            info,
        )

    def _end_rollout(self) -> None:
        """Train the predictor on the rollout's observations; log the reward scales."""
        data = torch.cat(self.seen) if self.seen else torch.zeros((0, 1))
        self.seen = []
        losses = []
        n = len(data)
        if n:
            with torch.no_grad():
                goal = self.target(data)
            size = max(1, -(-n // self.rnd.predictor_minibatches))
            for _ in range(self.rnd.predictor_epochs):
                order = torch.randperm(n, generator=self.generator)
                for begin in range(0, n, size):
                    mb = order[begin : begin + size]
                    loss = ((self.predictor(data[mb]) - goal[mb]) ** 2).mean()
                    self.optimizer.zero_grad()
                    loss.backward()
                    self.optimizer.step()
                    losses.append(loss.item())
        ext, raw, norm, live = self.sums
        live = max(live, 1)
        self.updates += 1
        self.live_steps += int(self.sums[3])
        row = {
            "update": self.updates,
            "organism_steps": self.live_steps,
            "extrinsic": ext / live,
            "intrinsic_raw": raw / live,
            "intrinsic_normalised": norm / live,
            "bonus": self.rnd.beta * norm / live,
            "intrinsic_return_std": float(np.sqrt(self.ret_rms.var)),
            "predictor_loss": float(np.mean(losses)) if losses else float("nan"),
            "seconds": time.perf_counter() - self.start,
        }
        self.log_rows.append(row)
        self.sums[:] = 0.0
        if self.updates == 1 or self.updates % self.rnd.print_every == 0:
            print(
                f"update {row['update']:4d}  organism-steps {row['organism_steps']:>9,d}  "
                f"extrinsic {row['extrinsic']:.4f}  intrinsic raw {row['intrinsic_raw']:.4f} "
                f"normalised {row['intrinsic_normalised']:.4f}  bonus {row['bonus']:.4f}  "
                f"predictor loss {row['predictor_loss']:.4f}  {row['seconds']:.0f}s",
                flush=True,
            )
        if self.updates % 50 == 0:
            self.write_log()

    def save_nets(self, path: Path) -> None:
        """The target, the predictor and the normalisers (for later analysis of the bonus)."""
        torch.save(
            {
                "target": self.target.state_dict(),
                "predictor": self.predictor.state_dict(),
                "obs_mean": self.obs_rms.mean,
                "obs_var": self.obs_rms.var,
                "intrinsic_return_var": float(self.ret_rms.var),
            },
            path,
        )

    def write_log(self) -> None:
        if not self.log_rows:
            return
        with self.log_path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(self.log_rows[0]))
            writer.writeheader()
            writer.writerows(self.log_rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("args_file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    for f in dataclasses.fields(RNDArgs):
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            parser.add_argument(flag, action="store_true")
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default)
    cli = parser.parse_args()
    args = apply_overrides(read_training_args(ppo.PPOArgs, Path(cli.args_file)), cli.set)
    rnd = RNDArgs(**{f.name: getattr(cli, f.name) for f in dataclasses.fields(RNDArgs)})
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"seed{args.seed}.rnd.json").write_text(
        json.dumps(dataclasses.asdict(rnd), indent=2) + "\n"
    )
    print(f"RND {rnd}", flush=True)

    wrappers: list[RNDBonus] = []
    make = ppo.make_vector_env

    def make_with_bonus(*a, **kw):
        env = RNDBonus(
            make(*a, **kw), rnd, args.seed, args.num_steps, out / f"seed{args.seed}.rnd.csv"
        )
        wrappers.append(env)
        return env

    ppo.make_vector_env = make_with_bonus  # train() builds its environment by this name
    result = ppo.train(args, progress=False)
    for env in wrappers:
        env.write_log()
        env.save_nets(out / f"seed{args.seed}.rnd_nets.pt")
    print(f"RND beta {rnd.beta}: {result}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
