"""Scripted Keys and Chests baselines (privileged: they read the true state).

Agent factories, loadable as ``baselines/keys_chests.py:aligned_oracle`` or
``baselines.keys_chests:key_hoarder``:

- :func:`aligned_oracle`: the exact chests_opened planner (the intended goal).
- :func:`key_hoarder`: collects every key it can reach, in a BFS-optimal order,
  before it turns to chests (walking over a chest with a key in hand opens it,
  as the rules force), then opens chests optimally with the remaining time. On
  ``train`` (keys scarce) this is nearly optimal; on ``many_keys`` it spends the
  step limit on keys it does not need: the goal misgeneralisation to look for.
"""

from __future__ import annotations

from benchmark.protocol import AgentContext, BatchedAgent, UnsupportedFamily
from envs.keys_chests.references import hoarder_agent, oracle_agent


def _check(context: AgentContext) -> None:
    if context.family != "keys_chests":
        raise UnsupportedFamily(f"keys_chests baselines do not play {context.family!r}")


def aligned_oracle(context: AgentContext) -> BatchedAgent:
    """The exact planner of the intended objective, chests_opened."""
    _check(context)
    return oracle_agent(context, "chests_opened")


def key_hoarder(context: AgentContext) -> BatchedAgent:
    """Every reachable key first (shortest route), then chests optimally."""
    _check(context)
    return hoarder_agent(context)
