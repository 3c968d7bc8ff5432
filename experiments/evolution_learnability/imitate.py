"""Can PPO's network hold a policy above the bar? Behaviour cloning of the patient courter.

A diagnostic, not a baseline: the benchmark's learners learn from reward alone. If
the network PPO trains (``baselines.ppo.Actor``: a 128x128 tanh MLP on the flat
197-value observation) can imitate ``ceiling.PatientOrganism`` (0.84 on train) well
enough to clear 0.7, the gap is in what PPO's updates find, not in what its
network can express.

It rolls the patient courter (FULL 0.9, GOOD 0.6, EXPLORE 0) out on training-range
level seeds (never evaluation seeds), records every live organism's observation
and action, fits the actor to them by cross-entropy, saves the result as a
MesaBench policy file and scores it like ``evaluate.py`` does (first 32 train
levels, mean-normalised), greedy (argmax) and sampled.

Run from the repository root:
``.venv/bin/python experiments/evolution_learnability/imitate.py [out_dir]``
(default ``experiments/evolution_learnability/imitation``).
"""

import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1] / "tests")]

from ceiling import PatientOrganism, descendants, reference  # noqa: E402
from first_seeds import objective_means  # noqa: E402

from baselines.ppo import Actor  # noqa: E402
from benchmark.evaluate.agents import resolve  # noqa: E402
from benchmark.torch_policy import save_policy  # noqa: E402
from envs.evolution import FAMILY, scripted  # noqa: E402
from envs.evolution.core import N_ACTIONS, STAY, EvolutionCore  # noqa: E402
from envs.evolution.vector import EvolutionSelfPlayVector  # noqa: E402

#: Training-range level seeds the demonstrations come from (evaluation seeds are far above).
DEMO_SEEDS = range(1, 129)
FULL, GOOD = 0.9, 0.6
EPOCHS, BATCH, LEARNING_RATE = 10, 4096, 1e-3


def demonstrations(policy: scripted.ScriptedOrganism) -> tuple[np.ndarray, np.ndarray]:
    """Every live organism's (observation, action) over the demonstration levels."""
    split = FAMILY.split("train")
    core = EvolutionCore(len(DEMO_SEEDS), **split.kwargs)
    core.reset_levels(range(len(DEMO_SEEDS)), list(DEMO_SEEDS))
    observations, actions = [], []
    while not core.done.all():
        levels, ids = core.live_rows()
        chosen = np.full((core.B, core.M), STAY)
        if len(levels):
            obs = core.observe(levels, ids)
            act = policy.act(obs)
            chosen[levels, ids] = act
            observations.append(obs.astype(np.float32))
            actions.append(act)
        core.step(chosen)
    print(f"demonstrated: {float(core.objectives()[:, 0].mean()):.2f} descendants per founder")
    return np.concatenate(observations), np.concatenate(actions)


def clone(observations: np.ndarray, actions: np.ndarray) -> Actor:
    torch.manual_seed(1)
    actor = Actor(observations.shape[1], N_ACTIONS, (128, 128), None, ())
    optimizer = torch.optim.Adam(actor.parameters(), lr=LEARNING_RATE)
    x, y = torch.from_numpy(observations), torch.from_numpy(actions)
    for epoch in range(EPOCHS):
        order = torch.randperm(len(x))
        total, right = 0.0, 0
        for start in range(0, len(x), BATCH):
            batch = order[start : start + BATCH]
            logits = actor(x[batch])
            loss = functional.cross_entropy(logits, y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
            right += int((logits.argmax(-1) == y[batch]).sum())
        print(f"epoch {epoch + 1}: loss {total / len(x):.3f}, accuracy {right / len(x):.3f}")
    return actor


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else HERE / "imitation")
    scripted.EXPLORE = 0.0
    start = time.perf_counter()
    observations, actions = demonstrations(PatientOrganism(FULL, GOOD))
    counts = np.bincount(actions, minlength=N_ACTIONS) / len(actions)
    print(f"{len(actions)} demonstrated steps; action shares {np.round(counts, 3).tolist()}")
    actor = clone(observations, actions)
    vector = EvolutionSelfPlayVector(192, **FAMILY.split("train").kwargs)
    oracle, uniform = reference("oracle:descendants"), reference("random")
    print(f"oracle {oracle:.2f}, uniform {uniform:.2f} descendants per founder on train")
    print(f"the patient courter itself: {descendants(PatientOrganism(FULL, GOOD)):.2f}")
    for deterministic in (True, False):
        path = out / f"{'greedy' if deterministic else 'sampled'}.pt"
        save_policy(
            actor,
            path,
            observation_space=vector.single_observation_space,
            action_space=vector.single_action_space,
            family=FAMILY.name,
            metadata={"method": "behaviour cloning of the patient courter (a diagnostic)"},
            deterministic=deterministic,
        )
        train = objective_means(resolve(str(path)), FAMILY, "train", 32)["descendants"]
        alignment = (train - uniform) / (oracle - uniform)
        print(f"{path}: train {train:.2f} (alignment {alignment:.3f})")
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
