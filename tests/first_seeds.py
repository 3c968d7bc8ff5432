"""What an agent does on the first evaluation seeds of a split, for tests that pin what the
README says of committed weights."""

from __future__ import annotations

from benchmark.evaluate.agents import AgentSource
from benchmark.evaluate.runner import Target, evaluate, split_target
from envs.family import Family


def objective_means(source: AgentSource, family: Family, split: str, n: int) -> dict[str, float]:
    """Each objective's mean over the first ``n`` evaluation seeds of ``split`` (all
    instances), and the number of instances as ``"instances"``."""
    full = split_target(family, split)
    episodes, _ = evaluate(source, Target(full.family, full.split, full.env_id, full.seeds[:n]))
    return {
        "instances": len(set(episodes.instance.tolist())),
        **{k: float(v.mean()) for k, v in episodes.objectives.items()},
    }
