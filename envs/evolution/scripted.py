"""Observation-only scripted organisms (batched): the sweet tooth and the nutrition seeker.

Both read only what an organism senses (its flat observation: egocentric view and
energy, see :func:`envs.evolution.env.split_observations`) and
share everything but the choice of food:

- with energy at or above the mating threshold they court the most ornamented
  neighbour, or walk towards the most ornamented organism in view (the
  ancestral mate preference: there, ornament is health);
- otherwise they forage: the **sweet tooth** walks to the food of highest
  sweetness per step (``sweetness / (distance + 1)``) in its whole view and eats
  it (in the ancestral world that is energy per step: sweetness is ripeness); the **nutrition
  seeker** walks to the nearest food that it has not yet seen to be poor (food
  whose nutrition it can sense, in the 5x5 block around it, must have nutrition
  >= :data:`NUTRITIOUS`), and eats only nutritious food;
- in v1 (``rules=1``) the same choices map onto v1's actions: a walk onto food
  eats it, and courting courts a random neighbour;
- with nothing to go for, or with probability :data:`EXPLORE` (which breaks
  the back-and-forth of a memoryless organism), a random move.
"""

from __future__ import annotations

import numpy as np

from envs.evolution.core import COURT
from envs.evolution.env import (
    DEFAULTS,
    EAST,
    EAT,
    MATE_NORTH,
    NORTH,
    NUTRITION,
    ORNAMENT,
    SOUTH,
    SWEETNESS,
    WALL,
    WEST,
    split_observations,
)

#: Nutrition the nutrition seeker accepts: any food with nutrition in it (every
#: fruit is worth eating where it lies: energy per step, not per meal, is what
#: breeding needs), so it rejects only what has none.
NUTRITIOUS = 0.05
#: Probability of a random move instead of the scripted one.
EXPLORE = 0.1
#: Energy (as observed, a fraction of the maximum) at which courting is possible.
MATE_LEVEL = DEFAULTS["mate_threshold"] / DEFAULTS["max_energy"]


def _grids(radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    offsets = np.arange(-radius, radius + 1)
    dy = np.broadcast_to(offsets[:, None], (2 * radius + 1,) * 2)
    dx = np.broadcast_to(offsets[None, :], (2 * radius + 1,) * 2)
    return dy, dx, np.abs(dy) + np.abs(dx)


def step_towards(
    dy: np.ndarray, dx: np.ndarray, blocked: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A move reducing the offset ``(dy, dx)``, avoiding ``blocked`` (B, 5) moves (by action).

    The longer axis first, then the other; a random unblocked move otherwise.
    """
    rows = np.arange(len(dy))
    vertical = np.where(dy < 0, NORTH, SOUTH)
    horizontal = np.where(dx > 0, EAST, WEST)
    v_ok = (dy != 0) & ~blocked[rows, vertical]
    h_ok = (dx != 0) & ~blocked[rows, horizontal]
    prefer_v = np.abs(dy) >= np.abs(dx)
    random = random_moves(blocked, rng)
    return np.where(
        prefer_v & v_ok, vertical, np.where(h_ok, horizontal, np.where(v_ok, vertical, random))
    )


def random_moves(blocked: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random unblocked move per row (stay if boxed in)."""
    scores = rng.random((len(blocked), 5))
    scores[:, 0] = -1.0
    scores[blocked] = -2.0
    choice = scores.argmax(axis=1)
    return np.where(scores.max(axis=1) > -1.0, choice, 0)


class ScriptedOrganism:
    """Batched scripted organism; ``forage`` is ``"sweetest"`` or ``"nutritious"``."""

    privileged = False

    def __init__(
        self,
        forage: str,
        seed: int = 0,
        near_radius: int = DEFAULTS["near_radius"],
        rules: int = 0,
    ):
        self.rules = rules
        if forage not in ("sweetest", "nutritious"):
            raise ValueError(f"unknown foraging rule {forage!r}")
        self.forage = forage
        self.seed = seed
        self.near = near_radius
        self.rng = np.random.default_rng(seed)

    def reset(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def act(self, observations: np.ndarray) -> np.ndarray:
        """Actions for a batch of flat observations ``(n, obs_dim)`` (see ``EvolutionEnv``)."""
        views, energy = split_observations(observations)
        n, _, side, _ = views.shape
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        r = side // 2
        dy, dx, dist = _grids(r)
        rng = self.rng
        rows = np.arange(n)
        sweet, nutri, orn, wall = (views[:, k] for k in (SWEETNESS, NUTRITION, ORNAMENT, WALL))
        # Blocked moves (index = action 0..4): occupied or wall neighbours.
        neigh = [(r, r), (r - 1, r), (r, r + 1), (r + 1, r), (r, r - 1)]
        blocked = np.stack([(orn[:, y, x] > 0) | (wall[:, y, x] > 0) for y, x in neigh], axis=1)
        blocked[:, 0] = False

        # Foraging target.
        food = sweet > 0
        far = 1e6
        if self.forage == "sweetest":
            score = np.where(food, sweet / (dist + 1.0), -far)
        else:
            # Verified nutritious food first, by energy per step (nutrition /
            # (distance + 1)); else the nearest food it cannot sense yet.
            sensed = (np.abs(dy) <= self.near) & (np.abs(dx) <= self.near)
            verified = food & sensed & (nutri >= NUTRITIOUS)
            unknown = food & ~sensed
            score = np.where(verified, 100.0 + nutri / (dist + 1.0), -far)
            score = np.where(unknown, -dist, score)
        flat = score.reshape(n, -1)
        best = flat.argmax(axis=1)
        has_food = flat[rows, best] > -far
        ty, tx = np.divmod(best, side)
        at_food = has_food & (ty == r) & (tx == r)
        forage = np.where(at_food, EAT, step_towards(ty - r, tx - r, blocked, rng))
        forage = np.where(has_food, forage, random_moves(blocked, rng))

        # Courting: the most ornamented neighbour, else walk to the most ornamented in view.
        others = orn.copy()
        others[:, r, r] = 0.0
        adjacent = np.stack([others[:, y, x] for y, x in neigh[1:]], axis=1)  # N, E, S, W
        court = MATE_NORTH + adjacent.argmax(axis=1)
        has_neighbour = adjacent.max(axis=1) > 0
        oscore = np.where(others > 0, others * 1000.0 - dist, -far).reshape(n, -1)
        obest = oscore.argmax(axis=1)
        sees_mate = oscore[rows, obest] > -far
        oy, ox = np.divmod(obest, side)
        approach = step_towards(oy - r, ox - r, blocked, rng)
        ready = energy >= MATE_LEVEL
        action = np.where(
            ready & has_neighbour, court, np.where(ready & sees_mate, approach, forage)
        )
        explore = rng.random(n) < EXPLORE
        action = np.where(explore, random_moves(blocked, rng), action).astype(np.int64)
        if self.rules == 1:  # v1: food is eaten on arrival, courting needs no aim
            action = np.where(action >= MATE_NORTH, COURT, np.where(action == EAT, 0, action))
        return action


def sweet_tooth_policy(seed: int = 0, rules: int = 0) -> ScriptedOrganism:
    return ScriptedOrganism("sweetest", seed, rules=rules)


def nutrition_seeker_policy(seed: int = 0, rules: int = 0) -> ScriptedOrganism:
    return ScriptedOrganism("nutritious", seed, rules=rules)
