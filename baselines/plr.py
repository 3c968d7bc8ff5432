"""Robust prioritised level replay (PLR⊥; Jiang et al. 2021, "Replay-Guided Adversarial
Environment Design"), the level sampler behind ``PPOArgs(sampler="plr")``.

A buffer holds the training levels (level seeds) with the highest scores seen so
far. Each time an environment slot starts an episode, the sampler either
*replays* a level from the buffer (probability ``replay_prob``, once the buffer is
``min_fill`` full) or draws a *new* level from the training distribution. In
the robust variant the learner is updated only on replayed levels: a new level's
episode is played by the current policy to score it, and enters the buffer if
its score beats the lowest score there (or the buffer has room).

Replay distribution, as in the paper (and jaxgmg's ``plr_replay_probs``)::

    P_replay = (1 - staleness_coef) * P_S + staleness_coef * P_C
    P_S(i) ∝ (1 / rank(S_i)) ** (1 / temperature)     rank 1 = highest score
    P_C(i) ∝ c - C_i                                   c: episodes started so far,
                                                        C_i: when level i was last sampled

Scores:

* ``regret``: the level's exact regret, the best return a planner reaches on it
  (:attr:`envs.family.Family.level_optimum`) minus the episode's return. Used
  where the family has an exact planner.
* ``pvl``: positive value loss, the mean over the episode's steps of
  ``max(GAE advantage, 0)`` (the paper's default where no planner exists).

A replayed level's score is replaced by the score of its newest episode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The scores a buffer can be ranked by.
SCORES = ("regret", "pvl")


@dataclass(frozen=True)
class PLRSettings:
    """The sampler's parameters (``PPOArgs`` carries them as ``plr_*`` fields)."""

    buffer_size: int = 1000
    replay_prob: float = 0.5
    temperature: float = 0.3
    staleness_coef: float = 0.3
    min_fill: float = 0.5
    score: str = "regret"

    def __post_init__(self) -> None:
        problems = []
        if self.buffer_size < 1:
            problems.append(f"buffer_size must be at least 1, got {self.buffer_size}")
        if not 0.0 <= self.replay_prob <= 1.0:
            problems.append(f"replay_prob must be in [0, 1], got {self.replay_prob}")
        if self.temperature <= 0.0:
            problems.append(f"temperature must be positive, got {self.temperature}")
        if not 0.0 <= self.staleness_coef <= 1.0:
            problems.append(f"staleness_coef must be in [0, 1], got {self.staleness_coef}")
        if not 0.0 <= self.min_fill <= 1.0:
            problems.append(f"min_fill must be in [0, 1], got {self.min_fill}")
        if self.score not in SCORES:
            problems.append(f"score must be one of {', '.join(SCORES)}, got {self.score!r}")
        if problems:
            raise ValueError("PLR: " + "; ".join(problems))


class LevelBuffer:
    """The highest-scoring levels seen: seed, score, last sampling time, and the
    level's optimum (``nan`` where unknown) per entry."""

    def __init__(self, size: int, temperature: float, staleness_coef: float) -> None:
        self.size = int(size)
        self.temperature = float(temperature)
        self.staleness_coef = float(staleness_coef)
        self.seeds = np.zeros(self.size, dtype=np.int64)
        self.scores = np.zeros(self.size)
        self.last_visit = np.zeros(self.size, dtype=np.int64)
        self.optimum = np.full(self.size, np.nan)
        self.count = 0
        self._index: dict[int, int] = {}

    def __len__(self) -> int:
        return self.count

    def __contains__(self, seed: int) -> bool:
        return int(seed) in self._index

    @property
    def full(self) -> bool:
        return self.count == self.size

    @property
    def min_score(self) -> float:
        """The lowest score in the buffer (``-inf`` while it is empty)."""
        return float(self.scores[: self.count].min()) if self.count else -np.inf

    def replay_probs(self, now: int) -> np.ndarray:
        """The probability of replaying each filled entry (``len(self)`` of them)."""
        n = self.count
        if n == 0:
            return np.zeros(0)
        ranks = np.empty(n)
        ranks[np.argsort(-self.scores[:n], kind="stable")] = np.arange(1, n + 1)
        h = (1.0 / ranks) ** (1.0 / self.temperature)
        by_score = h / h.sum()
        staleness = (now - self.last_visit[:n]).astype(np.float64)
        total = staleness.sum()
        # Every level sampled just now: staleness says nothing; fall back to the scores.
        by_staleness = staleness / total if total > 0 else by_score
        return (1.0 - self.staleness_coef) * by_score + self.staleness_coef * by_staleness

    def sample(self, rng: np.random.Generator, now: int) -> int:
        """An entry drawn from :meth:`replay_probs`; marks it sampled at ``now``."""
        if self.count == 0:
            raise ValueError("cannot replay from an empty level buffer")
        probs = self.replay_probs(now)
        index = int(rng.choice(self.count, p=probs / probs.sum()))
        self.last_visit[index] = now
        return index

    def observe(self, seed: int, score: float, now: int, optimum: float = np.nan) -> bool:
        """A level's newest score: updates its entry, or adds it (to a free entry, or in
        place of the lowest score when that is lower). Returns whether it is in the buffer."""
        seed = int(seed)
        index = self._index.get(seed)
        if index is not None:
            self.scores[index] = score
            if not np.isnan(optimum):
                self.optimum[index] = optimum
            return True
        if self.count < self.size:
            index = self.count
            self.count += 1
        else:
            index = int(np.argmin(self.scores))
            if not score > self.scores[index]:
                return False
            del self._index[int(self.seeds[index])]
        self.seeds[index], self.scores[index] = seed, score
        self.last_visit[index], self.optimum[index] = now, optimum
        self._index[seed] = index
        return True

    def optimum_of(self, seed: int) -> float:
        index = self._index.get(int(seed))
        return float(self.optimum[index]) if index is not None else float("nan")


class PLRSampler:
    """Decides each new episode's level: a replay from the buffer, or a new level
    drawn uniformly from ``seed_range`` (the family's training level seeds)."""

    def __init__(
        self, settings: PLRSettings, seed_range: tuple[int, int], rng: np.random.Generator
    ) -> None:
        self.settings = settings
        self.buffer = LevelBuffer(
            settings.buffer_size, settings.temperature, settings.staleness_coef
        )
        self.low, self.high = int(seed_range[0]), int(seed_range[1])
        self.rng = rng
        self.episodes = 0
        self.replays = 0

    @property
    def can_replay(self) -> bool:
        return len(self.buffer) >= max(1, int(np.ceil(self.settings.min_fill * self.buffer.size)))

    def next_level(self) -> tuple[int, bool]:
        """``(level seed, replayed)`` for an episode about to start."""
        self.episodes += 1
        if self.can_replay and self.rng.random() < self.settings.replay_prob:
            self.replays += 1
            index = self.buffer.sample(self.rng, self.episodes)
            return int(self.buffer.seeds[index]), True
        return int(self.rng.integers(self.low, self.high)), False

    def record(self, seed: int, score: float, optimum: float = np.nan) -> bool:
        """The score of an episode that ended on level ``seed`` (replayed or new)."""
        return self.buffer.observe(seed, score, self.episodes, optimum)


def positive_value_loss(advantages: np.ndarray) -> float:
    """PLR's positive value loss of one episode: the mean of ``max(A_t, 0)`` over its steps."""
    advantages = np.asarray(advantages, dtype=np.float64)
    return float(np.maximum(advantages, 0.0).mean()) if advantages.size else 0.0


__all__ = ["SCORES", "LevelBuffer", "PLRSampler", "PLRSettings", "positive_value_loss"]
