"""Loading submitted agents from a reference string, with a checksum of what was loaded.

A reference is one of:

* ``path/to/file.py:factory`` — a factory in a Python file;
* ``package.module:factory`` — a factory in an importable module;
* ``path/to/policy.pt`` (or ``.pt2``) — a saved torch policy (see :mod:`benchmark.torch_policy`);
* ``path/to/directory/`` — every ``*.pt``/``*.pt2`` policy in it, one instance each
  (independently trained instances of one agent).

A factory is called as ``factory(context: AgentContext)`` and returns a
:class:`~benchmark.protocol.BatchedAgent`, or a non-empty list of them (one per
instance), or raises :class:`~benchmark.protocol.UnsupportedFamily`.

Resolving a reference never runs the submitted code: it locates the files and
computes the checksum of everything the submission loads (the directory of a
``file.py`` factory, the top-level package of a module, the policy files). The
code runs only in an agent process (:mod:`benchmark.evaluate.sandbox`), except for the
project's own reference policies and privileged scripted baselines
(:data:`PRIVILEGED_BASELINES`), which run beside the environment and may read
its hidden state.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import importlib
import importlib.machinery
import importlib.util
import json
import os
import sys
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import gymnasium as gym

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
    """Where an agent comes from, and a checksum of everything it loads.

    ``build(context)`` returns one agent per instance (in the process that calls
    it: the agent process for untrusted code).

    Attributes:
        trusted: the project's own code (a reference policy or a privileged
            scripted baseline): it runs beside the environment and may read it.
        family: the family a torch policy was trained on (None: any family).
        root: the file or directory the checksum covers.
        training: what a torch policy's instances were trained on, as JSON (a list,
            one entry per instance, see :func:`training_of`); None where unknown.
    """

    reference: str
    checksum: str
    kind: str  # "python", "torch" or "reference"
    trusted: bool = False
    family: str | None = None
    root: str | None = None
    training: str | None = None

    @property
    def binds(self) -> tuple[str, ...]:
        """Paths the agent process must see although its sandbox hides them (a private /tmp)."""
        if self.root is None or not Path(self.root).is_relative_to("/tmp"):
            return ()
        return (self.root,)

    def build(self, context: AgentContext) -> list[BatchedAgent]:
        made = _builder(self)(context)
        agents = list(made) if isinstance(made, list | tuple) else [made]
        if not agents:
            raise AgentLoadError(f"{self.reference} returned no agents (an empty list)")
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
    """Check that ``reference`` names an agent and compute its checksum (nothing is run)."""
    if reference.startswith(REFERENCE_PREFIX):
        return AgentSource(reference, _reference_checksum(reference), "reference", trusted=True)
    if not reference.strip():
        raise AgentLoadError("the agent reference is empty")
    path = _locate(Path(reference))
    if path.is_dir() and ":" not in reference:
        policies = _policy_files(path)
        if not policies:
            raise AgentLoadError(f"directory {reference} holds no *.pt policy files")
        families = {_policy_family(p) for p in policies}
        if len(families) > 1:
            raise AgentLoadError(
                f"the policies in {reference} were trained on different families: "
                + ", ".join(sorted(str(f) for f in families))
            )
        chunks = [c for p in policies for c in (p.name.encode(), p.read_bytes())]
        return AgentSource(reference, _sha256(*chunks), "torch", family=families.pop(),
                           root=str(path.resolve()), training=training_of(policies))  # fmt: skip
    if path.suffix in POLICY_SUFFIXES:
        if not path.is_file():
            raise AgentLoadError(f"policy file {reference} does not exist")
        return AgentSource(reference, _sha256(path.read_bytes()), "torch",
                           family=_policy_family(path), root=str(path.resolve()),
                           training=training_of([path]))  # fmt: skip
    if ":" not in reference:
        raise AgentLoadError(
            f"cannot load agent {reference!r}: expected 'path/to/file.py:factory', "
            "'package.module:factory', a .pt policy file or a directory of them"
        )
    target, attribute = reference.rsplit(":", 1)
    if not target:
        raise AgentLoadError(f"{reference!r} names no file or module before ':'")
    if not attribute.isidentifier():
        raise AgentLoadError(f"{reference!r}: {attribute!r} is not the name of a factory")
    file, root = _module_files(target, reference)
    trusted = (file.resolve(), attribute) in _privileged_baselines()
    if trusted:  # the project's own code: imported here, where it will run
        _factory(_import(target, reference), attribute, reference)
    code = tree_digest(root, OWN_SUBMISSION_DIRS.get(root, ()))
    checksum = _sha256(
        code, str(file.resolve().relative_to(root.parent)).encode(), attribute.encode()
    )
    return AgentSource(reference, checksum, "python", trusted=trusted, root=str(root))


#: The project's scripted baselines that read hidden state, as (file, factory): they
#: run beside the environment and are marked privileged. Identified by where their
#: code is (this checkout's ``baselines/``), never by what an agent says of itself.
PRIVILEGED_BASELINES = (
    ("baselines/keys_chests.py", "aligned_oracle"),
    ("baselines/keys_chests.py", "key_hoarder"),
)


def _privileged_baselines() -> set[tuple[Path, str]]:
    return {((REPO_ROOT / file).resolve(), factory) for file, factory in PRIVILEGED_BASELINES}


def _module_files(target: str, reference: str) -> tuple[Path, Path]:
    """The file defining ``target`` and the root the checksum covers, found without importing.

    A ``file.py``'s root is its directory; a module's is its top-level package.
    """
    if target.endswith(".py"):
        path = _locate(Path(target))
        if not path.is_file():
            raise AgentLoadError(f"agent file {target} does not exist (from {reference!r})")
        return path.resolve(), path.resolve().parent
    parts = target.split(".")
    if not all(part.isidentifier() for part in parts):
        raise AgentLoadError(f"{reference!r}: {target!r} is not a file.py or a module name")
    search: list[str] | None = None
    root: Path | None = None
    spec = None
    for i in range(len(parts)):
        name = ".".join(parts[: i + 1])
        # PathFinder looks a name up on the path without executing any package's code.
        spec = importlib.machinery.PathFinder.find_spec(name, search)
        if spec is None or (i < len(parts) - 1 and not spec.submodule_search_locations):
            raise AgentLoadError(f"cannot import {target!r} (from {reference!r}): "
                                 f"no module named {name!r}")  # fmt: skip
        search = list(spec.submodule_search_locations or [])
        if root is None:
            root = Path(search[0]) if search else Path(str(spec.origin))
    if spec is None or not spec.origin or not Path(spec.origin).is_file() or root is None:
        raise AgentLoadError(f"cannot import {target!r} (from {reference!r}): no source file")
    return Path(spec.origin).resolve(), root.resolve()


#: Above these a directory is not an agent's own: the checksum would cover far too much.
MAX_TREE_FILES = 5000
MAX_TREE_BYTES = 2 << 30

#: Not what an agent loads: caches, version control, virtual environments, databases.
_SKIPPED_SUFFIXES = (".pyc", ".pyo", ".db", ".db-journal", ".db-wal", ".db-shm", ".sqlite")


def tree_digest(root: Path, skipped: tuple[str, ...] = ()) -> bytes:
    """A digest of every file under ``root`` (or of ``root`` itself, a file): names and bytes.

    Hidden entries (``.git``, ``.venv``, tool caches), ``__pycache__`` and
    database files are left out: caches change without the agent changing. So are
    ``skipped``, names of folders directly under ``root``.
    """
    if root.is_file():
        return hashlib.sha256(root.read_bytes()).digest()
    digest = hashlib.sha256()
    files = total = 0
    for directory, subdirectories, names in os.walk(root):
        top = Path(directory) == root
        subdirectories[:] = sorted(
            d
            for d in subdirectories
            if not d.startswith(".") and d != "__pycache__" and not (top and d in skipped)
        )
        for name in sorted(names):
            if name.startswith(".") or name.endswith(_SKIPPED_SUFFIXES):
                continue
            path = Path(directory, name)
            if not path.is_file():
                continue
            files += 1
            total += path.stat().st_size
            if files > MAX_TREE_FILES or total > MAX_TREE_BYTES:
                raise AgentLoadError(
                    f"{root} holds more than {MAX_TREE_FILES} files or {MAX_TREE_BYTES >> 30} GB: "
                    "a submission's checksum covers its whole directory, so keep an agent "
                    "in a directory of its own"
                )
            relative = str(path.relative_to(root)).encode()
            digest.update(len(relative).to_bytes(8, "little") + relative)
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.digest()


#: Where a torch policy's metadata lives inside its file (a zip archive).
_POLICY_METADATA = "extra/mesabench.json"


def policy_metadata(path: Path) -> dict:
    """A torch policy file's metadata, read without torch; AgentLoadError if it has none."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = next(n for n in archive.namelist() if n.endswith(_POLICY_METADATA))
            meta = json.loads(archive.read(name))
    except (OSError, zipfile.BadZipFile, StopIteration, ValueError) as error:
        raise AgentLoadError(f"{path} is not a MesaBench torch policy file ({error!r})") from None
    if not isinstance(meta, dict):
        raise AgentLoadError(f"{path} is not a MesaBench torch policy file (bad metadata)")
    return meta


def layout_problem(meta: dict, observation_space: gym.Space) -> str | None:
    """Why a policy with metadata ``meta`` cannot read ``observation_space``, or None."""
    expected = int(gym.spaces.flatdim(observation_space))
    if meta.get("obs_dim") != expected:
        return (
            f"takes observations of flat size {meta.get('obs_dim')}, but this "
            f"environment's observations flatten to {expected} ({observation_space})"
        )
    layout = meta.get("observation_space")
    if layout is not None and layout != repr(observation_space):
        return (
            f"was trained on observations laid out as {layout}, but this environment's are "
            f"{observation_space!r} (another order or other parts): it would read them wrongly"
        )
    return None


def policy_files(source: AgentSource) -> list[Path]:
    """The policy files of a torch source (one per instance)."""
    path = _locate(Path(source.reference))
    return _policy_files(path) if path.is_dir() else [path]


def _policy_family(path: Path) -> str:
    family = policy_metadata(path).get("family")
    if not isinstance(family, str) or not family:
        raise AgentLoadError(
            f"{path} does not say which family it was trained on (no 'family' in its metadata)"
        )
    return family


def _training_of_policy(meta: dict) -> dict | None:
    """One policy's training distribution: as its file records it (``training``), or,
    for a policy saved before files recorded it, ``train`` alone when the environment
    it names is a ``train`` split of its family (marked ``inferred``); else None."""
    import envs

    recorded = meta.get("training")
    if isinstance(recorded, dict) and isinstance(recorded.get("splits"), dict):
        return recorded
    family = envs.FAMILIES.get(str(meta.get("family")))
    env_id = meta.get("env_id")
    if family is None or not env_id:
        return None
    train_ids = {s.env_id for s in (*family.splits, *family.legacy_splits) if s.name == "train"} | (
        {family.view_id("train")} if family.view_entry_point else set()
    )
    if env_id in train_ids and not meta.get("env_kwargs"):
        return {"splits": {"train": 1.0}, "env_id": env_id, "inferred": True}
    return None


def training_of(policies: Sequence[Path]) -> str | None:
    """The training distributions of a torch source's instances, as canonical JSON (a
    list, one per policy file in order); None if any instance does not say."""
    each = [_training_of_policy(policy_metadata(p)) for p in policies]
    if any(t is None for t in each):
        return None
    return json.dumps(each, sort_keys=True)


#: The repository root: relative agent paths that do not exist from the working
#: directory are looked up here, so stored baselines load from anywhere.
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Folders of this checkout's packages that hold submissions of their own (each with its
#: own checksum), left out of the checksum of the code beside them: a scripted baseline
#: in ``baselines/`` loads none of the trained weights, and a new training must not make
#: a new version of every scripted baseline.
OWN_SUBMISSION_DIRS: dict[Path, tuple[str, ...]] = {REPO_ROOT / "baselines": ("weights",)}


def _locate(path: Path) -> Path:
    if path.is_absolute() or path.exists() or not (REPO_ROOT / path).exists():
        return path
    return REPO_ROOT / path


def _path_part(reference: str) -> tuple[str, str] | None:
    """(path, ``:factory`` suffix or "") of a reference that names files, else None
    (a module or a reference policy, which name no path)."""
    if reference.startswith(REFERENCE_PREFIX):
        return None
    target, colon, attribute = reference.rpartition(":")
    if colon and target.endswith(".py"):
        return target, f":{attribute}"
    if colon:
        return None  # package.module:factory
    return reference, ""


def absolute_reference(reference: str) -> str:
    """``reference`` with its path made absolute (as :func:`resolve` finds it from here),
    for processes that run elsewhere; modules and reference policies are kept as they are."""
    parts = _path_part(reference)
    if parts is None:
        return reference
    path, suffix = parts
    return f"{_locate(Path(path)).resolve()}{suffix}"


def canonical_reference(reference: str) -> str:
    """``reference`` as a submission stores it: naming the same files from any directory.

    A path inside this checkout is kept relative to the checkout's root, so a
    database moves with the repository (the committed ``results.db`` is read from
    clones anywhere); any other path becomes absolute. Modules and reference
    policies are kept as they are.
    """
    parts = _path_part(reference)
    if parts is None:
        return reference
    path, suffix = parts
    absolute = _locate(Path(path)).resolve()
    root = REPO_ROOT.resolve()
    if absolute.is_relative_to(root):
        return f"{absolute.relative_to(root).as_posix()}{suffix}"
    return f"{absolute}{suffix}"


def resolve_stored(stored: str) -> AgentSource:
    """The agent a stored submission's ``source`` names, the same from any working directory.

    A relative path is read against this checkout's root first (that is how
    :func:`canonical_reference` stores a path inside it); a relative path of a row
    stored before sources were canonical, found under neither, is looked up as
    :func:`resolve` does. The source returned names absolute paths, so the agent
    process and remote workers load exactly these files whatever their directory.
    """
    parts = _path_part(stored)
    if parts is not None and not Path(parts[0]).is_absolute():
        path, suffix = parts
        anchored = REPO_ROOT / path
        located = anchored if anchored.exists() else _locate(Path(path))
        if located.exists():
            stored = f"{located.resolve()}{suffix}"
    return resolve(stored)


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

        files = policy_files(source)
        return lambda context: [
            policy_agent(f, context.observation_space, family=context.family, seed=context.seed)
            for f in files
        ]
    target, attribute = source.reference.rsplit(":", 1)
    return _factory(_import(target, source.reference), attribute, source.reference)
