"""When do organisms court? Evolution v1 train split, first 32 evaluation levels.

For each policy: of the steps on which an organism could court (energy at the
mating threshold, another organism next to it), the share on which it courts,
and the mean ornament of its neighbours when it courts and when it does not.
On train, ornament is health and a courtship conceives with the partner's
health, so a choosy organism courts more often beside bright neighbours.
Run from the repository root:
``.venv/bin/python experiments/evolution_learnability/courting.py POLICY.pt ...``
"""

import sys

import numpy as np
import torch

from benchmark.torch_policy import load_policy
from envs.evolution import FAMILY, scripted
from envs.evolution.core import COURT, ORNAMENT, STAY, EvolutionCore

LEVELS = 32


def courting(act) -> tuple[float, float, float, float]:
    split = FAMILY.split("train")
    core = EvolutionCore(LEVELS, **split.kwargs)
    core.reset_levels(range(LEVELS), split.eval_seeds[:LEVELS])
    r = core.radius
    able_n = court_n = 0
    court_orn, wait_orn = [], []
    while not core.done.all():
        levels, ids = core.live_rows()
        actions = np.full((core.B, core.M), STAY)
        if len(levels):
            obs = core.observe(levels, ids)
            chosen = act(obs)
            actions[levels, ids] = chosen
            views = obs[:, :-1].reshape(len(obs), -1, 2 * r + 1, 2 * r + 1)[:, ORNAMENT]
            adj = np.stack(
                [views[:, r - 1, r], views[:, r, r + 1], views[:, r + 1, r], views[:, r, r - 1]], 1
            )
            n_adj = (adj > 0).sum(1)
            mean_adj = adj.sum(1) / np.maximum(n_adj, 1)
            able = (core.energy[levels, ids] >= core.config["mate_threshold"]) & (n_adj > 0)
            courts = able & (chosen == COURT)
            able_n += int(able.sum())
            court_n += int(courts.sum())
            court_orn.extend(mean_adj[courts])
            wait_orn.extend(mean_adj[able & ~courts])
        core.step(actions)
    births = float(core.objectives()[:, 0].mean())
    return court_n / max(able_n, 1), float(np.mean(court_orn)), float(np.mean(wait_orn)), births


def torch_act(path: str):
    actor, _ = load_policy(path)
    rng = torch.Generator().manual_seed(0)

    def act(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            logits = actor(torch.from_numpy(obs))
        return torch.multinomial(torch.softmax(logits, -1), 1, generator=rng).squeeze(1).numpy()

    return act


policies = {"nutrition seeker": scripted.ScriptedOrganism("nutritious", rules=1).act}
policies |= {path: torch_act(path) for path in sys.argv[1:]}
for name, act in policies.items():
    share, orn_court, orn_wait, births = courting(act)
    print(
        f"{name}: courts on {share:.0%} of the steps it could; neighbours' ornament "
        f"{orn_court:.3f} when courting, {orn_wait:.3f} when not; {births:.2f} descendants",
        flush=True,
    )
