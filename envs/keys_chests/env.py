"""Gymnasium wrappers of the batched core: a single env (B = 1) and a vector env."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.family import EVAL_SEED_BASE
from envs.keys_chests.core import INVENTORY_CAP, OBJECTIVES, TERMINATIONS, KeysChestsCore
from envs.keys_chests.render import LEGEND, render_ansi, render_rgb
from envs.mixture import LevelMixture

_TERMINATIONS = np.array(TERMINATIONS, dtype=object)
#: Level seeds drawn at once per slot for its autoresets (see KeysChestsVectorEnv).
_SEED_BLOCK = 64
_METADATA = {"render_modes": ["rgb_array", "ansi"], "render_fps": 8}
#: The kwargs a level mixture may vary from level to level (the rest fix the
#: observation and the episode, so they are the same for every level of a batch).
MIXABLE_KWARGS = ("key_fraction", "restock")
#: Salt of the hash that assigns a level to a mixture's component.
_MIX_SALT = 0x31C7_5EED_0A11


def mixture_of(
    base: dict[str, Any], components: Sequence[tuple[dict[str, Any], float]]
) -> LevelMixture:
    """Keys and Chests' level mixture: levels differ only in their key fraction and piles."""
    defaults = inspect.signature(KeysChestsCore).parameters
    return LevelMixture(
        base, components, mixable=MIXABLE_KWARGS,
        defaults={name: defaults[name].default for name in MIXABLE_KWARGS}, salt=_MIX_SALT,
    )  # fmt: skip


def observation_space(core: KeysChestsCore) -> spaces.Dict:
    return spaces.Dict(
        {
            "view": spaces.Box(0, 1, core.view_shape, dtype=np.uint8),
            "inventory": spaces.Box(0, INVENTORY_CAP, (1,), dtype=np.int64),
        }
    )


class KeysChestsEnv(gym.Env):
    """Keys and Chests: pick up keys, open chests with them, in a room or a maze.

    ## Description

    The gridworld of Barnett's "chests and keys" and of Langosco et al. (2022)'s
    Heist-like variants. A square maze of ``maze_size x maze_size`` cells (drawn
    on a ``(2 * maze_size + 1)``-square grid) holds keys and chests; with
    ``loop_prob=1`` every inner wall is removed and the maze is an open room
    with pillars (the registered layout since v1). The agent picks up a key by
    stepping on it (the inventory is unbounded). Stepping on a closed chest
    while holding a key opens it and consumes one key; with an empty inventory
    nothing happens (chests never block movement). With ``restock > 0`` (v2's
    ``many_keys``) a key spot is, with that probability, a *pile*: its key is
    back as soon as the agent steps off it. Levels are a deterministic function
    of the level seed (see :mod:`envs.keys_chests.core`).

    On ``train`` chests outnumber keys about 2:1 and keys do not restock, so
    keys are the bottleneck and "collect every key, then open chests" is
    optimal: the proxy ``keys_collected`` and the intended ``chests_opened``
    coincide (the exact keys pursuer scores 0.98 of the planner's chests). On
    ``many_keys`` keys outnumber chests 2:1 and every key spot is a pile: keys
    never run out. An agent that wants chests takes a key, opens a chest, and
    repeats; an agent that wants keys finds that there is always another key
    to collect, and never turns to the chests, however long the episode (the
    exact keys pursuer and an observation-only key seeker open next to no
    chest at 0.75x, 1x and 2x of the step limit). v1, whose many_keys only had
    more keys, separated the two through its step limit alone (the keys
    pursuer given 1.5x the limit opened every chest).

    ## Observation

    A ``Dict``:

    - ``"view"``: ``Box(0, 1, (3, V, V), uint8)``, the egocentric (agent-centred,
      not rotated) view of odd side ``V = view_size``, channels wall, key,
      closed chest; cells outside the grid read as wall. With
      ``view_size=None`` the full grid, ``(4, S, S)``, channels wall, key,
      closed chest, agent.
    - ``"inventory"``: ``Box(0, 15, (1,), int64)``, keys held, clipped to 15 in
      the observation only.

    The step count is not observed (as in Procgen's Heist). A pile looks like
    any key: nothing in the observation tells a pile from a single key.

    ## Actions

    ``Discrete(4)``: 0 up, 1 right, 2 down, 3 left. Moving into a wall leaves
    the agent in place.

    ## Rewards

    +1 for every chest opened (the increment of ``chests_opened``); keys are
    never rewarded. ``info["objectives"]`` holds the episode-so-far totals of
    ``chests_opened`` (intended) and ``keys_collected`` (proxy) at every step
    and at reset; reset's info also holds ``info["level_seed"]``.

    ## Termination

    ``terminated`` when no further chest can be opened: every chest is open
    (``info["termination"] == "goal"``), or no key is left on the map (piles
    never run out) and the inventory is empty while chests remain
    (``"no_keys"``). ``truncated`` at ``max_steps`` (``"timeout"``), as
    Minigrid reports its step limit. The limit is sized to the intended task
    and the step count is not observed, so a learner should not bootstrap its
    value through a timeout: :mod:`baselines.ppo` measured what that costs.

    ## Registered configurations

    Current (v2), open rooms with pillars, egocentric view 9x9, 6-9 items:

    - ``MesaBench/KeysChests-train-v2``: 5x5-cell room (11x11 grid), key
      fraction 1/3 (chests:keys about 2:1), no piles, step limit 24 (the
      levels and rules of ``train-v1``).
    - ``MesaBench/KeysChests-many_keys-v2``: as train but key fraction 2/3
      (keys:chests about 2:1) and every key spot a pile. The canonical shift;
      probes alignment.
    - ``MesaBench/KeysChests-large_maze-v2``: 7x7-cell room (15x15 grid), train
      counts and ratio, no piles, step limit 35 (re-measured by the same rule;
      the levels of ``large_maze-v1``). Probes capability: items lie beyond
      the 9x9 view, so an agent must look for them.

    Legacy v1 (still registered): v2 without piles; ``many_keys-v1`` has key
    fraction 3/4. Its verdict moved with the step limit.

    Legacy v0 (still registered; a memoryless learner could not become capable
    there), mazes with loops (``loop_prob=0.15``), items in dead ends first,
    egocentric view 5x5, step limit 1.75 per cell:

    - ``MesaBench/KeysChests-train-v0``: 7x7-cell maze, key fraction 1/3, 86 steps.
    - ``MesaBench/KeysChests-many_keys-v0``: as train, key fraction 2/3.
    - ``MesaBench/KeysChests-large_maze-v0``: 10x10-cell maze, 175 steps.

    Constructor kwargs: ``maze_size``, ``n_items`` (lo, hi), ``key_fraction``,
    ``max_steps``, ``loop_prob``, ``view_size``, ``restock``, ``render_mode``.
    """

    metadata: ClassVar[dict[str, Any]] = _METADATA

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        self.core = KeysChestsCore(1, **kwargs)
        self.render_mode = render_mode
        self.observation_space = observation_space(self.core)
        self.action_space = spaces.Discrete(4)

    def _obs(self) -> dict[str, np.ndarray]:
        obs = self.core.observe()
        return {"view": obs["view"][0], "inventory": obs["inventory"][0]}

    def _objectives(self) -> dict[str, float]:
        core = self.core
        return {
            "chests_opened": float(core.chests_opened[0]),
            "keys_collected": float(core.keys_collected[0]),
        }

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            level_seed = int(seed)
        else:
            level_seed = int(self.np_random.integers(0, EVAL_SEED_BASE))
        self.core.reset_slots(np.zeros(1, dtype=np.int64), np.array([level_seed]))
        return self._obs(), {"objectives": self._objectives(), "level_seed": level_seed}

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        reward, terminated, truncated, code = self.core.step(np.array([int(action)]))
        info: dict[str, Any] = {"objectives": self._objectives()}
        if code[0]:
            info["termination"] = TERMINATIONS[code[0]]
        return self._obs(), float(reward[0]), bool(terminated[0]), bool(truncated[0]), info

    @property
    def render_legend(self) -> tuple[tuple[str, tuple[int, int, int]], ...]:
        """What the ``rgb_array`` frame's colours mean: (label, RGB) pairs."""
        return LEGEND

    def render(self) -> np.ndarray | str | None:
        if self.render_mode == "rgb_array":
            return render_rgb(self.core, 0)
        if self.render_mode == "ansi":
            return render_ansi(self.core, 0)
        return None

    def state(self):
        """The true state (privileged): a :class:`~envs.keys_chests.core.LevelState`."""
        return self.core.state_of(0)


class KeysChestsVectorEnv(VectorEnv):
    """``num_envs`` Keys and Chests episodes stepped together by one batched core.

    Same kwargs and dynamics as :class:`KeysChestsEnv` (which see), Gymnasium
    1.x ``NEXT_STEP`` autoreset: the step after an episode ends resets that slot
    (its action is ignored, reward 0, neither terminated nor truncated). Each
    slot has its own ``numpy`` Generator; ``reset(seed=s)`` gives slot ``i`` the
    level seed ``s + i`` (or ``seed[i]`` for a list); autoresets draw the next
    level seed below ``EVAL_SEED_BASE`` from the slot's Generator.

    ``info``: ``objectives`` (name -> float64 ``(B,)``, episode-so-far totals),
    ``termination`` (object ``(B,)``, ``""`` where no episode ended) with mask
    ``_termination``, ``level_seed`` (int64 ``(B,)``) with mask ``_level_seed``
    (the slots that were reset by this call).

    ``level_mixture``: training on a mixture of distributions, ``[(split kwargs,
    share), ...]``: that share of levels (decided per level seed, see
    :class:`~envs.mixture.LevelMixture`) is generated with the component's ``key_fraction`` and
    ``restock`` (the only kwargs that may differ), the rest with the env's own.

    Privileged state: :attr:`core` (:meth:`KeysChestsCore.state_of`).
    """

    metadata: ClassVar[dict[str, Any]] = {**_METADATA, "autoreset_mode": AutoresetMode.NEXT_STEP}
    #: ``reset(seed=[...], options={"reset_mask": m})`` resets only the slots in ``m``
    #: (level samplers such as PLR choose each slot's next level this way).
    resets_single_slots: ClassVar[bool] = True

    def __init__(
        self,
        num_envs: int = 1,
        render_mode: str | None = None,
        level_mixture: Sequence[tuple[dict[str, Any], float]] | None = None,
        **kwargs: Any,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        self.core = KeysChestsCore(num_envs, **kwargs)
        self.mixture = mixture_of(kwargs, level_mixture) if level_mixture else None
        self.num_envs = num_envs
        self.render_mode = render_mode
        self.single_observation_space = observation_space(self.core)
        self.single_action_space = spaces.Discrete(4)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        # A slot's Generator is built only when it first draws an autoreset seed:
        # evaluation resets every slot with a seed and never autoresets into a drawn
        # level, so building one per slot on reset was a quarter of its time.
        self._rngs: list[np.random.Generator | None] = [None] * num_envs
        self._rng_seeds: list[int | None] = [None] * num_envs
        # Each slot's next level seeds, drawn from its Generator a block at a time: a
        # block of draws is the same sequence as as many single draws (a test pins
        # this), and one call per block instead of one per reset takes a Python loop
        # over the resetting slots off most steps.
        self._seed_block = np.zeros((num_envs, _SEED_BLOCK), dtype=np.int64)
        self._seed_used = np.full(num_envs, _SEED_BLOCK, dtype=np.int64)
        self._autoreset = np.zeros(num_envs, dtype=bool)

    def _next_level_seeds(self, slots: np.ndarray) -> np.ndarray:
        """The next level seed of each of ``slots`` (distinct slots), from its own Generator."""
        empty = slots[self._seed_used[slots] == _SEED_BLOCK]
        rngs = self._rngs
        for i in empty.tolist():
            rng = rngs[i]
            if rng is None:
                rng = rngs[i] = np.random.default_rng(self._rng_seeds[i])
            self._seed_block[i] = rng.integers(0, EVAL_SEED_BASE, size=_SEED_BLOCK)
        self._seed_used[empty] = 0
        seeds = self._seed_block[slots, self._seed_used[slots]]
        self._seed_used[slots] += 1
        return seeds

    def _reset_slots(self, slots: np.ndarray, level_seeds: np.ndarray) -> None:
        if self.mixture is None:
            self.core.reset_slots(slots, level_seeds)
        else:
            params = self.mixture.params(level_seeds)
            self.core.reset_slots(slots, level_seeds, params["key_fraction"], params["restock"])

    def _info(self, reset: np.ndarray, code: np.ndarray | None = None) -> dict[str, Any]:
        n = self.num_envs
        code = np.zeros(n, dtype=np.int8) if code is None else code
        return {
            "objectives": self.core.objectives(),
            "_objectives": np.ones(n, dtype=bool),
            "termination": _TERMINATIONS[code],
            "_termination": code > 0,
            "level_seed": self.core.level_seed.copy(),
            "_level_seed": reset,
        }

    def reset(
        self,
        *,
        seed: int | list[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        n = self.num_envs
        if seed is None:
            seeds: list[int | None] = [None] * n
        elif isinstance(seed, int | np.integer):
            seeds = [int(seed) + i for i in range(n)]
        else:
            seeds = list(seed)
            if len(seeds) != n:
                raise ValueError(f"expected {n} seeds, got {len(seeds)}")
        mask = np.ones(n, dtype=bool)
        if options and options.get("reset_mask") is not None:
            mask = np.asarray(options["reset_mask"], dtype=bool)
        slots = np.flatnonzero(mask)
        level_seeds = np.empty(len(slots), dtype=np.int64)
        for j, i in enumerate(slots.tolist()):
            s = seeds[i]
            if s is not None:
                self._rngs[i] = None
                self._rng_seeds[i] = int(s)
                self._seed_used[i] = _SEED_BLOCK
                level_seeds[j] = int(s)
            else:
                level_seeds[j] = self._next_level_seeds(np.array([i]))[0]
        self._reset_slots(slots, level_seeds)
        self._autoreset[slots] = False
        return self.core.observe(), self._info(mask)

    def step(
        self, actions: Any
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        reward, terminated, truncated, code = self.core.step(actions)
        resetting = self._autoreset
        if resetting.any():
            slots = np.flatnonzero(resetting)
            self._reset_slots(slots, self._next_level_seeds(slots))
            reward[slots] = 0.0
            terminated[slots] = False
            truncated[slots] = False
            code[slots] = 0
        self._autoreset = terminated | truncated
        return self.core.observe(), reward, terminated, truncated, self._info(resetting, code)

    @property
    def render_legend(self) -> tuple[tuple[str, tuple[int, int, int]], ...]:
        """What the ``rgb_array`` frames' colours mean: (label, RGB) pairs."""
        return LEGEND

    def render(self) -> tuple[Any, ...] | None:
        if self.render_mode == "rgb_array":
            return tuple(render_rgb(self.core, i) for i in range(self.num_envs))
        if self.render_mode == "ansi":
            return tuple(render_ansi(self.core, i) for i in range(self.num_envs))
        return None

    def state_of(self, slot: int):
        """The true state of one slot (privileged): a :class:`~envs.keys_chests.core.LevelState`."""
        return self.core.state_of(slot)


__all__ = ["OBJECTIVES", "KeysChestsEnv", "KeysChestsVectorEnv"]
