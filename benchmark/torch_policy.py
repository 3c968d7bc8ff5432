"""Saved torch policies: the file format a trained agent is submitted in.

A policy file is a ``torch.export`` program (loading it needs no training code;
TorchScript is deprecated). Its ``forward`` maps a float32 batch of *flattened*
observations, shape ``(batch, obs_dim)``, to action logits, shape
``(batch, n_actions)``. Its metadata (``mesabench.json`` inside the file)
records the family it was trained on, the observation layout (the observation
space, whose key order is the flattening order), the dimensions and whatever
the trainer keeps (arguments, seed). Loading checks the family and the layout
against the environment and refuses a mismatch: a policy fed its observation
in another order would act at random without a word.

Observations are flattened by :func:`flatten_batch`, the batched counterpart of
``gymnasium.spaces.flatten``: Box values reshaped and cast to float, Discrete as
one-hot, Dict and Tuple concatenated in their space order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from benchmark.agents import layout_problem

FORMAT = "mesabench-torch-policy-v1"
_META_FILE = "mesabench.json"


def flat_dim(space: gym.Space) -> int:
    """Length of one observation of ``space`` after :func:`flatten_batch`."""
    return int(spaces.flatdim(space))


__all__ = ["flat_dim", "flatten_batch", "layout_problem", "load_policy", "policy_agent"]


def flatten_batch(space: gym.Space, observations: Any) -> np.ndarray:
    """Flatten a batch of observations of ``space`` into a (batch, flat_dim) float32 array."""
    if isinstance(space, spaces.Box | spaces.MultiBinary):
        array = np.asarray(observations)
        return array.reshape(array.shape[0], -1).astype(np.float32, copy=False)
    if isinstance(space, spaces.Discrete):
        index = np.asarray(observations).reshape(-1) - space.start
        out = np.zeros((index.shape[0], int(space.n)), dtype=np.float32)
        out[np.arange(index.shape[0]), index] = 1.0
        return out
    if isinstance(space, spaces.MultiDiscrete):
        array = np.asarray(observations).reshape(len(observations), -1) - space.start.reshape(-1)
        parts = [
            flatten_batch(spaces.Discrete(int(n)), array[:, i])
            for i, n in enumerate(space.nvec.reshape(-1))
        ]
        return np.concatenate(parts, axis=1)
    if isinstance(space, spaces.Dict):
        parts = [flatten_batch(sub, observations[key]) for key, sub in space.spaces.items()]
        return np.concatenate(parts, axis=1)
    if isinstance(space, spaces.Tuple):
        parts = [flatten_batch(sub, observations[i]) for i, sub in enumerate(space.spaces)]
        return np.concatenate(parts, axis=1)
    raise TypeError(f"cannot flatten observations of space {space}")


def save_policy(
    module: torch.nn.Module,
    path: str | Path,
    *,
    observation_space: gym.Space,
    action_space: gym.Space,
    family: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Export ``module`` (any batch size) and save it with its metadata at ``path``.

    ``family`` (or ``metadata["family"]``) names the family the policy plays.
    """
    if not isinstance(action_space, spaces.Discrete):
        raise TypeError(f"torch policies support Discrete action spaces, got {action_space}")
    meta = {
        "format": FORMAT,
        "obs_dim": flat_dim(observation_space),
        "n_actions": int(action_space.n),
        "observation_space": repr(observation_space),
        **(metadata or {}),
    }
    if family is not None:
        meta["family"] = family
    if not meta.get("family"):
        raise ValueError("a policy file must say which family it plays: give family=...")
    example = torch.zeros(2, meta["obs_dim"])
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(
        module.cpu().eval(), (example,), dynamic_shapes=((batch, torch.export.Dim.STATIC),)
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Through a file object: torch.export would warn about any ending but ``.pt2``.
    with path.open("wb") as file:
        torch.export.save(program, file, extra_files={_META_FILE: json.dumps(meta, sort_keys=True)})
    return path


def load_policy(path: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Load a policy file; returns the module and its metadata."""
    extra = {_META_FILE: ""}
    try:
        with Path(path).open("rb") as file:
            program = torch.export.load(file, extra_files=extra)
    except Exception as error:  # torch raises many kinds for a file that is not a program
        raise ValueError(f"{path} is not a MesaBench torch policy file: {error}") from None
    meta = json.loads(extra[_META_FILE] or "{}")
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is a torch.export file but not a {FORMAT} policy (no metadata)")
    return program.module(), meta


class TorchPolicyAgent:
    """A batched agent acting with a saved policy: greedy by default, or sampled."""

    privileged = False

    def __init__(
        self,
        module: torch.nn.Module,
        observation_space: gym.Space,
        *,
        deterministic: bool = True,
        seed: int = 0,
        name: str = "policy",
    ) -> None:
        self.module = module
        self.observation_space = observation_space
        self.deterministic = deterministic
        self.generator = torch.Generator().manual_seed(seed)
        self.name = name

    def act(self, observations: Any) -> np.ndarray:
        flat = torch.from_numpy(flatten_batch(self.observation_space, observations))
        with torch.inference_mode():
            logits = self.module(flat)
        if self.deterministic:
            return logits.argmax(dim=-1).numpy()
        probs = torch.softmax(logits, dim=-1)
        return torch.multinomial(probs, 1, generator=self.generator).squeeze(-1).numpy()


def policy_agent(
    path: str | Path,
    observation_space: gym.Space,
    *,
    family: str | None = None,
    deterministic: bool | None = None,
    seed: int = 0,
) -> TorchPolicyAgent:
    """Load ``path`` as an agent for ``observation_space`` (and ``family``, if given),
    checking the policy's family and observation layout agree.

    ``deterministic=None`` acts as the policy was trained to: greedily, unless its
    metadata says ``"deterministic": false`` (a policy evolved or trained to sample).
    """
    module, meta = load_policy(path)
    if deterministic is None:
        deterministic = bool(meta.get("deterministic", True))
    if family is not None and meta.get("family") != family:
        raise ValueError(f"policy {path} plays {meta.get('family')!r}, not {family!r}")
    problem = layout_problem(meta, observation_space)
    if problem is not None:
        raise ValueError(f"policy {path} {problem}")
    return TorchPolicyAgent(
        module, observation_space, deterministic=deterministic, seed=seed, name=Path(path).stem
    )
