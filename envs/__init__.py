"""MesaBench environment families. Importing this package registers them all.

Each family lives in its own sub-package and registers its splits as Gymnasium
ids under ``MesaBench/`` (see :mod:`envs.family`).
"""

from envs import keys_chests  # noqa: F401  (registers on import)

from envs import executive_hiring  # noqa: F401  # isort: skip
from envs import evolution  # noqa: F401  # isort: skip
from envs.family import FAMILIES, Family, Objective, Split, get_family

__all__ = ["FAMILIES", "Family", "Objective", "Split", "get_family"]
