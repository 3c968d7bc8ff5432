"""Agents that break the protocol in one way each, for the runner's error tests."""

import numpy as np


class _Fixed:
    privileged = False

    def __init__(self, context, make_actions):
        self.n = context.num_envs
        self.make_actions = make_actions

    def act(self, observations):
        return self.make_actions(self.n)


def raises(context):
    class Raises:
        def act(self, observations):
            raise RuntimeError("boom")

    return Raises()


def wrong_shape(context):
    return _Fixed(context, lambda n: np.zeros((n, 2), dtype=np.int64))


def out_of_range(context):
    return _Fixed(context, lambda n: np.full(n, 7, dtype=np.int64))


def nan_actions(context):
    return _Fixed(context, lambda n: np.full(n, np.nan))


def fails_on_many_keys(context):
    """Plays uniformly at random except on the many_keys split, where it raises."""
    if context.split == "many_keys":
        return raises(context)
    rng = np.random.default_rng(context.seed)
    return _Fixed(context, lambda n: rng.integers(0, 4, size=n))


def always_up(context):
    """Deterministic: useful to compare batch sizes."""
    return _Fixed(context, lambda n: np.zeros(n, dtype=np.int64))


def two_instances(context):
    """Two instances: always up, always right."""
    return [
        _Fixed(context, lambda n: np.zeros(n, dtype=np.int64)),
        _Fixed(context, lambda n: np.ones(n, dtype=np.int64)),
    ]


not_callable = 3


def no_agents(context):
    return []


def exits_at_build(context):
    raise SystemExit(3)
