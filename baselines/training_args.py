"""What every trainer shares: arguments that round-trip through JSON and take overrides,
and the training-curve CSV files.

A trainer declares its arguments as a ``@dataclass`` that also derives from
:class:`TrainingArgs`; ``mesabench train METHOD --set field=value`` then works
for it through :func:`apply_overrides`.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import json
import math
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np


class UnknownFieldError(ValueError):
    """A ``field=value`` override (or a JSON key) that names no field of the arguments."""

    def __init__(self, args_class: type, name: str) -> None:
        known = [f.name for f in dataclasses.fields(args_class)]
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        super().__init__(
            f"unknown {args_class.__name__} field {name!r}.{hint} Known: {', '.join(known)}."
        )
        self.name = name


class TrainingArgs:
    """Mixin for a trainer's ``@dataclass`` of arguments."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict of every field (tuples become lists)."""
        return {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(self).items()  # type: ignore[call-overload]
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The arguments ``data`` (as written by :meth:`to_dict`) describe; unknown keys raise."""
        known = typing.get_type_hints(cls)
        for key in data:
            if key not in known:
                raise UnknownFieldError(cls, key)
        values = {
            k: tuple(v) if typing.get_origin(known[k]) is tuple else v for k, v in data.items()
        }
        return cls(**values)

    def with_overrides(self, overrides: Iterable[str]) -> Self:
        """A copy with ``field=value`` strings applied (see :func:`apply_overrides`)."""
        return apply_overrides(self, overrides)


def _convert(owner: str, name: str, kind: Any, text: str) -> Any:
    """Convert the string ``text`` to the type ``kind`` of field ``name``."""
    origin, params = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if text.strip().lower() in ("none", "null", "") and type(None) in params:
            return None
        (inner,) = [p for p in params if p is not type(None)]
        return _convert(owner, name, inner, text)
    try:
        if kind is bool:
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true/false")
        if origin is dict or kind is dict:
            value = json.loads(text)
            if not isinstance(value, dict):
                raise ValueError("expected a JSON object")
            return value
        if origin is tuple:
            # "128,128", and the JSON spelling "[128, 128]" too.
            parts = text.replace(" ", "").strip("[]()").split(",")
            return tuple(int(part) for part in parts if part)
        if kind is int:
            return int(float(text)) if "e" in text.lower() else int(text)
        if kind is float:
            return float(text)
        return str(text)
    except ValueError as error:
        problem = f"bad value {text!r} for {owner} field {name!r} ({kind}): {error}"
        raise ValueError(problem) from None


Args = typing.TypeVar("Args")


def apply_overrides(args: Args, overrides: Iterable[str]) -> Args:
    """Apply ``field=value`` strings to a copy of ``args``, converting to each field's type.

    Tuples are comma-separated (``hidden_sizes=128,128``), booleans accept
    true/false/1/0/yes/no, optional fields accept ``none``, dicts take JSON. An
    unknown field raises :class:`UnknownFieldError` naming it and the nearest field.
    """
    args_class = type(args)
    kinds = typing.get_type_hints(args_class)
    values = dataclasses.asdict(args)  # type: ignore[call-overload]
    for item in overrides:
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep:
            raise ValueError(f"override {item!r} is not of the form field=value")
        if name not in kinds:
            raise UnknownFieldError(args_class, name)
        values[name] = _convert(args_class.__name__, name, kinds[name], text.strip())
    return args_class(**values)


def read_training_args(args_class: type[Args], path: str | Path) -> Args:
    """The arguments written to ``path`` (a ``seedS.args.json``), as ``args_class``.

    Raises ``ValueError`` naming the file when it cannot be read, is not JSON, not an object, or
    holds a field ``args_class`` does not have (e.g. another method's arguments).
    """
    try:
        data = json.loads(Path(path).read_text())
    except OSError as error:
        raise ValueError(f"cannot read the arguments file {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds {type(data).__name__}, not an arguments object")
    try:
        return args_class.from_dict(data)  # type: ignore[attr-defined]
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None


def start_outputs(args: Any) -> dict[str, Path]:
    """Create ``args.out_dir`` and write the exact arguments; returns every output's path.

    One instance's files, named by its seed so a directory holds several instances:
    ``seed{S}.pt`` (the policy), ``.args.json``, ``.curve.csv`` and ``.curve.png``.
    """
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"seed{args.seed}"
    paths = {
        "checkpoint": out_dir / f"{stem}.pt",
        "args_json": out_dir / f"{stem}.args.json",
        "curve_csv": out_dir / f"{stem}.curve.csv",
        "curve_png": out_dir / f"{stem}.curve.png",
    }
    paths["args_json"].write_text(json.dumps(args.to_dict(), indent=2) + "\n")
    return paths


def _fmt(value: float) -> str:
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    return "" if value != value else f"{value:.6g}"


def write_curve(path: Path, columns: Sequence[str], rows: Sequence[Mapping[str, float]]) -> None:
    """A training curve as CSV: one row per update/generation, stable column names."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _fmt(row.get(k, math.nan)) for k in columns})


def read_curve(path: str | Path) -> dict[str, np.ndarray]:
    """A curve CSV as float columns (empty cells are NaN)."""
    with Path(path).open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        names = reader.fieldnames or []
    return {n: np.array([float(r[n]) if r[n] else np.nan for r in rows]) for n in names}


# --------------------------------------------------------------------------- mixtures


def parse_mix(family: str, mix: str) -> dict[str, float]:
    """``"many_keys:0.02,..."`` -> ``{"many_keys": 0.02, ...}``, every name a split of
    ``family`` other than ``train`` (the nearest name suggested otherwise)."""
    import envs

    if not mix.strip():
        return {}
    fam = envs.get_family(family)
    shares: dict[str, float] = {}
    for part in mix.split(","):
        name, sep, share = part.strip().rpartition(":")
        if not sep or not name:
            raise ValueError(f"mix: expected SPLIT:SHARE, got {part.strip()!r}")
        try:
            split = fam.split(name).name
        except LookupError as error:  # names the nearest split
            raise ValueError(f"mix: {error}") from None
        if split == "train":
            raise ValueError("mix: train is the rest of the mixture; name the other splits")
        try:
            shares[split] = float(share)
        except ValueError:
            raise ValueError(f"mix: the share of {split} must be a number, got {share!r}") from None
    if any(not 0.0 < v <= 1.0 for v in shares.values()) or sum(shares.values()) > 1.0:
        raise ValueError(f"mix: shares must be in (0, 1] and sum to at most 1, got {shares}")
    return shares


def level_mixture(
    family: str, mix: str, env_kwargs: Mapping[str, Any] | None = None
) -> list[tuple[dict[str, Any], float]]:
    """The ``level_mixture`` a batched environment takes for ``mix``: each named split's
    kwargs (with ``env_kwargs`` on top, as on the rest of the levels) and its share."""
    import envs

    shares = parse_mix(family, mix)
    if not shares:
        return []
    fam = envs.get_family(family)
    extra = dict(env_kwargs or {})
    return [({**fam.split(name).kwargs, **extra}, share) for name, share in shares.items()]
