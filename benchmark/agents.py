"""Loading submitted agents from a reference string, with a checksum of what was loaded.

A reference is one of:

* ``path/to/file.py:factory`` — a factory in a Python file;
* ``package.module:factory`` — a factory in an importable module;
* ``path/to/policy.pt`` (or ``.pt2``) — a saved torch policy (see :mod:`benchmark.torch_policy`);
* ``path/to/directory/`` — every ``*.pt``/``*.pt2`` policy in it, one instance each
  (independently trained instances of one agent).

A factory is called as ``factory(context: AgentContext)`` and returns a
:class:`~benchmark.protocol.BatchedAgent`, or a list of them (one per
instance), or raises :class:`~benchmark.protocol.UnsupportedFamily`.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from benchmark.protocol import AgentContext, BatchedAgent

#: Prefix of a family's reference policies, e.g. ``reference:keys_chests:oracle:chests_opened``.
REFERENCE_PREFIX = "reference:"


#: File endings of saved torch policies.
POLICY_SUFFIXES = (".pt", ".pt2")


def _policy_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in POLICY_SUFFIXES)


class AgentLoadError(ValueError):
    """The reference does not name a loadable agent; the message says why."""


@dataclass(frozen=True)
class AgentSource:
    """Where an agent comes from, and a checksum of exactly what was loaded.

    ``build(context)`` returns one agent per instance.
    """

    reference: str
    checksum: str
    kind: str  # "python", "torch" or "reference"

    def build(self, context: AgentContext) -> list[BatchedAgent]:
        made = _builder(self)(context)
        agents = list(made) if isinstance(made, list | tuple) else [made]
        for agent in agents:
            if not callable(getattr(agent, "act", None)):
                raise AgentLoadError(
                    f"{self.reference} returned {type(agent).__name__}, which has no act() method"
                )
        return agents


def _sha256(*chunks: bytes) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(len(chunk).to_bytes(8, "little"))
        digest.update(chunk)
    return digest.hexdigest()


def resolve(reference: str) -> AgentSource:
    """Check that ``reference`` names an agent and compute its checksum (nothing is built)."""
    if reference.startswith(REFERENCE_PREFIX):
        return AgentSource(reference, _reference_checksum(reference), "reference")
    path = _locate(Path(reference))
    if path.is_dir():
        policies = _policy_files(path)
        if not policies:
            raise AgentLoadError(f"directory {reference} holds no *.pt policy files")
        chunks = [c for p in policies for c in (p.name.encode(), p.read_bytes())]
        return AgentSource(reference, _sha256(*chunks), "torch")
    if path.suffix in POLICY_SUFFIXES:
        if not path.is_file():
            raise AgentLoadError(f"policy file {reference} does not exist")
        return AgentSource(reference, _sha256(path.read_bytes()), "torch")
    if ":" not in reference:
        raise AgentLoadError(
            f"cannot load agent {reference!r}: expected 'path/to/file.py:factory', "
            "'package.module:factory', a .pt policy file or a directory of them"
        )
    target, attribute = reference.rsplit(":", 1)
    module = _import(target, reference)
    _factory(module, attribute, reference)
    source_bytes = Path(module.__file__).read_bytes() if module.__file__ else target.encode()
    return AgentSource(reference, _sha256(source_bytes, attribute.encode()), "python")


#: The repository root: relative agent paths that do not exist from the working
#: directory are looked up here, so stored baselines load from anywhere.
REPO_ROOT = Path(__file__).resolve().parent.parent


def _locate(path: Path) -> Path:
    if path.is_absolute() or path.exists() or not (REPO_ROOT / path).exists():
        return path
    return REPO_ROOT / path


def reference_source(family: str, policy: str) -> AgentSource:
    """The family's reference policy ``policy`` (``random`` or ``oracle:<objective>``)."""
    return resolve(f"{REFERENCE_PREFIX}{family}:{policy}")


def _reference_checksum(reference: str) -> str:
    """Covers the family's source files, so editing a planner invalidates stored references."""
    from envs.family import get_family

    family_name, _, policy = reference.removeprefix(REFERENCE_PREFIX).partition(":")
    family = get_family(family_name)
    if policy not in family.reference_names:
        raise AgentLoadError(
            f"{family_name} has no reference policy {policy!r}; it has "
            + ", ".join(family.reference_names)
        )
    package = Path(importlib.import_module(f"envs.{family_name}").__file__).parent
    files = sorted(package.rglob("*.py"))
    return _sha256(reference.encode(), *(code_of(f.read_text()) for f in files))


def code_of(source: str) -> bytes:
    """What a Python source does, without its docstrings, comments and layout.

    A reference's checksum is made of these, so that editing a planner or the
    dynamics invalidates the stored reference runs but rewording a docstring
    does not (re-evaluating every reference of a family for a comment would
    leave stale rows behind for nothing).
    """
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False).encode()


def _import(target: str, reference: str) -> ModuleType:
    if target.endswith(".py"):
        path = _locate(Path(target))
        if not path.is_file():
            raise AgentLoadError(f"agent file {target} does not exist (from {reference!r})")
        name = "mesabench_agent_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            del sys.modules[name]
            raise AgentLoadError(f"importing {target} failed: {error!r}") from error
        return module
    try:
        return importlib.import_module(target)
    except ImportError as error:
        raise AgentLoadError(f"cannot import {target!r} (from {reference!r}): {error}") from None


def _factory(module: ModuleType, attribute: str, reference: str) -> Callable:
    factory = getattr(module, attribute, None)
    if factory is None:
        names = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        close = difflib.get_close_matches(attribute, names, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise AgentLoadError(f"{module.__name__} has no factory {attribute!r} ({reference}).{hint}")
    if not callable(factory):
        raise AgentLoadError(f"{reference} is not callable")
    return factory


def _builder(source: AgentSource) -> Callable[[AgentContext], BatchedAgent | Sequence]:
    if source.kind == "reference":
        from envs.family import get_family

        family_name, _, policy = source.reference.removeprefix(REFERENCE_PREFIX).partition(":")
        return lambda context: get_family(family_name).make_reference(policy, context)
    if source.kind == "torch":
        # Imported here: torch takes most of the command line's start-up time.
        from benchmark.torch_policy import policy_agent

        path = _locate(Path(source.reference))
        files = _policy_files(path) if path.is_dir() else [path]
        return lambda context: [
            policy_agent(f, context.observation_space, seed=context.seed) for f in files
        ]
    target, attribute = source.reference.rsplit(":", 1)
    return _factory(_import(target, source.reference), attribute, source.reference)
