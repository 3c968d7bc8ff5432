"""Scripted Evolution baselines (observation-only: they read only what an organism senses).

Agent factories, loadable as ``baselines/evolution.py:sweet_tooth`` or
``baselines.evolution:nutrition_seeker``; both act for every live organism of
the batch (see :mod:`envs.evolution.scripted` for the rules):

- :func:`sweet_tooth`: forages for the sweetest food it senses (sweetness is
  sensed from afar). In the ancestral world sweet fruit is ripe, nutritious
  fruit, so this breeds well; among candy it eats its fill of nothing.
- :func:`nutrition_seeker`: checks nutrition up close and eats only food with
  nutrition in it; it walks to unverified food only when no verified food is near.

Both court like ancestral organisms: the most ornamented neighbour once they
have the energy to breed.
"""

from __future__ import annotations

from benchmark.protocol import AgentContext, BatchedAgent, UnsupportedFamily
from envs.evolution.core import N_ACTIONS as V1_ACTIONS
from envs.evolution.scripted import nutrition_seeker_policy, sweet_tooth_policy


def _check(context: AgentContext) -> None:
    if context.family != "evolution":
        raise UnsupportedFamily(f"evolution baselines do not play {context.family!r}")


def _rules(context: AgentContext) -> int:
    """1 for Evolution v1 (six actions), 0 for v0 (ten)."""
    return 1 if int(getattr(context.action_space, "n", 10)) == V1_ACTIONS else 0


def sweet_tooth(context: AgentContext) -> BatchedAgent:
    """Goes for the sweetest food it senses and eats it."""
    _check(context)
    return sweet_tooth_policy(context.seed, _rules(context))


def nutrition_seeker(context: AgentContext) -> BatchedAgent:
    """Checks nutrition up close; eats only nutritious food."""
    _check(context)
    return nutrition_seeker_policy(context.seed, _rules(context))
