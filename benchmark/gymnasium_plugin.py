"""Registers MesaBench's environments with Gymnasium the moment Gymnasium is imported.

Gymnasium 0.26-0.29 loaded third-party environments from the ``gymnasium.envs``
entry-point group when it was imported. Gymnasium 1.0 removed that plugin
system: an id such as ``MesaBench/KeysChests-train-v1`` is known only after
``import envs`` (or with the module in the id, ``"envs:MesaBench/..."``). So that
``gymnasium.make("MesaBench/...")`` works right after installation, as the old
plugins did, the installed file ``mesabench-gymnasium.pth`` (see ``setup.py``)
calls :func:`install` when the interpreter starts. That costs one small import;
the families themselves are imported only when Gymnasium is, right after it.
"""

from __future__ import annotations

# Imported at every interpreter start: few imports, and light ones.
import importlib.util
import os
import sys
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

#: The package whose import registers every family (``envs/__init__.py``).
ENVS_PACKAGE = "envs"
_OURS = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), ENVS_PACKAGE)


def register_families() -> None:
    """Import this checkout's ``envs`` package, which registers every family.

    A different ``envs`` package first on the path (a user's project often has
    one) is left alone: importing someone else's package on ``import gymnasium``
    would run their code.
    """
    if ENVS_PACKAGE in sys.modules:  # imported, or being imported (it imports gymnasium)
        return
    spec = importlib.util.find_spec(ENVS_PACKAGE)
    if (
        spec is None
        or spec.origin is None
        or os.path.dirname(os.path.realpath(spec.origin)) != _OURS
    ):
        return
    try:
        importlib.import_module(ENVS_PACKAGE)
    except Exception as error:  # never break `import gymnasium` for a user
        warnings.warn(f"MesaBench environments not registered: {error!r}", stacklevel=2)


class _AfterGymnasium:
    """Finds ``gymnasium`` like the rest of ``sys.meta_path`` and makes its loader
    call :func:`register_families` once Gymnasium's own ``__init__`` has run."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != "gymnasium":
            return None
        sys.meta_path.remove(self)  # one import only; and find_spec below must not see us
        spec = importlib.util.find_spec(fullname)
        loader = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_gymnasium = loader.exec_module

        def exec_then_register(module: ModuleType) -> None:
            exec_gymnasium(module)
            register_families()

        loader.exec_module = exec_then_register  # this spec's loader instance only
        return spec


def install() -> None:
    """Register the families when Gymnasium is imported (now, if it already is)."""
    if "gymnasium" in sys.modules:
        register_families()
    elif not any(isinstance(finder, _AfterGymnasium) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterGymnasium())
