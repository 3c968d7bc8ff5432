"""Running a submitted agent in a process of its own, bounded, apart from the environment.

Submitted code is untrusted (DESIGN, "Agents and trust"). The evaluating process
keeps the environment and never imports the agent's code; it starts an *agent
process* (:mod:`benchmark.evaluate.agent_process`) that holds no environment and no
database handle, sends it the spaces, family, split, batch size and seed, then
observation batches, and reads back action batches through a pair of pipes.

Where bubblewrap (``bwrap``) works, the agent process sees a read-only file
system, a private ``/tmp``, no network and its own PID namespace, and dies with
its parent. Everywhere it runs under :class:`Limits`: wall-clock per call,
CPU time per run, address space, and processes. Anything the agent process does
wrong (breaking a limit, exiting, hanging, crashing, starting processes)
raises :class:`AgentProblem` with a sentence saying what, and the process and
everything it started is killed.

The arrays of a request (a batch of observations) cross through shared memory
(a memfd the agent process maps read-only); the pipe carries only the pickle
that refers to them. Replies are never unpickled: a reply is a JSON header and, for actions, the raw
bytes of a numeric array, so a hostile agent cannot run code in this process.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import json
import mmap
import os
import pickle
import resource
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.evaluate.agents import REPO_ROOT, AgentSource
from benchmark.protocol import AgentContext, UnsupportedFamily

#: Largest reply accepted from an agent process (a batch of actions is far smaller).
MAX_REPLY_BYTES = 64 << 20

#: Most instances one factory may build.
MAX_INSTANCES = 1000

#: Array dtypes a reply may carry: numbers and booleans, never objects.
_NUMERIC_KINDS = "biuf"

_HEADER = 8  # bytes of the little-endian length before every message

#: Longest interval between two checks of the agent's processes while it acts.
PROCESS_CHECK_SECONDS = 0.2

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class Limits:
    """What an agent process may use (defaults documented in the README and ``--help``).

    Attributes:
        act_seconds: wall-clock per call of ``act`` or ``reset``.
        startup_seconds: wall-clock to import the agent and call its factory.
        cpu_seconds: CPU time of the agent process over one run (one split).
        memory_mb: address space of the agent process (``RLIMIT_AS``).
        processes: processes the agent may run, itself included (1: no children).
    """

    act_seconds: float = 30.0
    startup_seconds: float = 120.0
    cpu_seconds: int = 900
    memory_mb: int = 2048
    processes: int = 1


class AgentProblem(Exception):
    """The agent process did something wrong; the message says what (and which limit)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


@functools.cache
def _libc() -> Any:
    # Loaded once, in the parent: a child between fork and exec must not dlopen.
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux; else nothing)."""
    if sys.platform.startswith("linux"):
        parent = os.getppid()
        _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)


@functools.cache
def _become_subreaper() -> None:
    """Orphans of an agent process become this process's children, so they can be killed."""
    if sys.platform.startswith("linux"):
        _libc().prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _under_tmp(paths: Iterable[str]) -> list[str]:
    """The existing paths below /tmp, outermost first, without ones inside another."""
    found: list[str] = []
    for path in sorted({os.path.realpath(p) for p in paths if p}, key=len):
        if not Path(path).is_relative_to("/tmp") or not os.path.exists(path):
            continue
        if not any(Path(path).is_relative_to(outer) for outer in found):
            found.append(path)
    return found


def _runtime_paths() -> list[str]:
    """What the agent process runs from: the interpreter, its environment, the project's
    code and every import path (a checkout or virtual environment may live under /tmp)."""
    return [
        os.path.dirname(sys.executable), sys.prefix, sys.base_prefix, str(REPO_ROOT), *sys.path
    ]  # fmt: skip


def _bwrap_prefix(binds: tuple[str, ...]) -> list[str]:
    command = [
        "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
    ]  # fmt: skip
    # A script run from /tmp puts /tmp itself on sys.path. The agent process does not
    # import from there, and binding it would show the agent the host's whole /tmp and
    # leave it no writable one (torch, for one, cannot load a policy without it).
    runtime = [path for path in _runtime_paths() if os.path.realpath(path) != "/tmp"]
    shown = _under_tmp([*runtime, *binds])
    for path in shown:
        # The private /tmp hides what lives under /tmp (an agent, a checkout, a virtual
        # environment); show those files again, read-only.
        command += ["--ro-bind", path, path]
    if "/tmp" in shown:  # an agent whose files lie directly in /tmp: scratch space elsewhere
        command += ["--tmpfs", "/var/tmp", "--setenv", "TMPDIR", "/var/tmp"]
    return [*command, "--unshare-all", "--die-with-parent", "--new-session"]


@functools.cache
def bwrap_problem() -> str | None:
    """None when bubblewrap can sandbox here, else why not (not installed, or it fails)."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    try:
        done = subprocess.run(
            [*_bwrap_prefix(()), "true"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError) as error:
        return f"bwrap could not start ({error})"
    if done.returncode != 0:
        return f"bwrap cannot create a sandbox here ({done.stderr.strip()[:200]})"
    return None


def isolation_note() -> str | None:
    """The sentence a command prints once when agents run without the bwrap sandbox."""
    problem = bwrap_problem()
    if problem is None:
        return None
    return (
        f"{problem}: submitted agents run as separate processes under limits, but "
        "file-system and network isolation are off (see the README to install bubblewrap)"
    )


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                found += [
                    int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()
                ]
    return found


def descendants(pid: int) -> list[int]:
    """Every live (or not yet reaped) process below ``pid``."""
    found: list[int] = []
    stack = [pid]
    while stack:
        for child in _children(stack.pop()):
            found.append(child)
            stack.append(child)
    return found


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class AgentProcess:
    """One agent process, for one run: built once per batch of levels, asked for actions."""

    def __init__(self, source: AgentSource, limits: Limits) -> None:
        self.source = source
        self.limits = limits
        self.sandboxed = bwrap_problem() is None
        self.process: subprocess.Popen | None = None
        self._to_agent = self._from_agent = -1
        self._adopted_before: set[int] = set()
        self._buffer = bytearray()
        self._shared: _SharedArrays | None = None
        self._next_process_check = 0.0

    # ----------------------------------------------------------------- lifetime

    def _start(self) -> None:
        _become_subreaper()
        _libc()
        self._adopted_before = set(_children(os.getpid()))
        to_agent_r, to_agent_w = os.pipe()
        from_agent_r, from_agent_w = os.pipe()
        self._shared = _SharedArrays()
        shared = self._shared.read_only_fd()
        command = [sys.executable, "-m", "benchmark.evaluate.agent_process", str(to_agent_r),
                   str(from_agent_w), str(shared)]  # fmt: skip
        if self.sandboxed:
            command = [*_bwrap_prefix(self.source.binds), *command]
        limits = self.limits

        def bound() -> None:  # runs in the child, before exec
            die_with_parent()
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            memory = limits.memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            # SIGXCPU at the soft limit; SIGKILL at the hard one if the agent ignores it.
            resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 2))

        environment = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                       "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
        environment.pop("MESABENCH_DB", None)  # the agent has no business with the database
        try:
            self.process = subprocess.Popen(
                command,
                pass_fds=(to_agent_r, from_agent_w, shared),
                stdin=subprocess.DEVNULL,
                stdout=2,  # an agent's prints go to stderr, never into a command's output
                env=environment,
                preexec_fn=bound,
                start_new_session=True,
            )
        finally:
            for fd in (to_agent_r, from_agent_w, shared):
                os.close(fd)
        self._to_agent, self._from_agent = to_agent_w, from_agent_r
        # How many processes an idle sandbox holds below the one started (bwrap's own).
        self._baseline = 2 if self.sandboxed else 0

    def close(self) -> None:
        """Kill the agent process and everything it started; reap them."""
        if self._shared is not None:
            self._shared.close()
            self._shared = None
        process = self.process
        if process is None:
            return
        self.process = None
        for fd in (self._to_agent, self._from_agent):
            with contextlib.suppress(OSError):
                os.close(fd)
        below = descendants(process.pid)
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)
        for pid in below:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        process.wait()
        # Orphans the agent left (re-parented to this subreaper) die too.
        for pid in self._adopted():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)

    def check_processes(self, what: str) -> None:
        """Fail (and kill everything) if the agent runs more processes than the limit.

        Called after every request but ``act``, after ``act`` at most every
        :data:`PROCESS_CHECK_SECONDS` (scanning /proc costs a fraction of a
        millisecond), and once more before a run's episodes are accepted.
        """
        process = self.process
        if process is None:
            return
        self._next_process_check = time.monotonic() + PROCESS_CHECK_SECONDS
        extra = len(descendants(process.pid)) - self._baseline + len(self._adopted())
        if extra > self.limits.processes - 1:
            self.close()
            raise AgentProblem(
                f"the agent started {extra} process(es) by the end of {what}: over the "
                "processes limit "
                f"({self.limits.processes}, the agent itself included)"
            )

    def _adopted(self) -> set[int]:
        """Processes the agent started that outlived their parent and became this one's."""
        own = {self.process.pid} if self.process is not None else set()
        return set(_children(os.getpid())) - self._adopted_before - own

    def __enter__(self) -> AgentProcess:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ----------------------------------------------------------------- requests

    def build(self, context: AgentContext) -> int:
        """Have the agent process build the agent for ``context``; returns its instance count.

        Raises :class:`UnsupportedFamily` when the factory does.
        """
        if self.process is None:
            self._start()
        spec = {
            "source": self.source,
            "sys_path": list(sys.path),
            "context": {**context.__dict__, "env": None},
        }
        reply, _ = self._call(("build", spec), self.limits.startup_seconds, "building the agent")
        if reply.get("unsupported") is not None:
            raise UnsupportedFamily(str(reply["unsupported"])[:2000])
        instances = reply.get("instances")
        if not isinstance(instances, int) or not 1 <= instances <= MAX_INSTANCES:
            self.close()
            raise AgentProblem(
                f"the agent process broke the protocol while building the agent "
                f"(instances: {instances!r:.40}, expected 1 to {MAX_INSTANCES})"
            )
        return instances

    def reset(self, instance: int) -> None:
        self._call(("reset", instance), self.limits.act_seconds, "reset()")

    def act(self, instance: int, observations: Any) -> np.ndarray:
        _, actions = self._call(("act", instance, observations), self.limits.act_seconds, "act()")
        if actions is None:
            raise AgentProblem("act() returned no actions")
        return actions

    def _call(self, request: tuple, seconds: float, what: str) -> tuple[dict, np.ndarray | None]:
        process, shared = self.process, self._shared
        if process is None or shared is None:
            raise AgentProblem(f"{what}: the agent process is not running")
        buffers: list[pickle.PickleBuffer] = []
        payload = pickle.dumps(request, protocol=5, buffer_callback=buffers.append)
        sizes = json.dumps(shared.put(buffers)).encode()
        deadline = time.monotonic() + seconds
        try:
            self._write(
                b"".join(len(m).to_bytes(_HEADER, "little") + m for m in (payload, sizes)),
                deadline,
                what,
            )
            header = json.loads(self._read_message(deadline, what))
            if not isinstance(header, dict):
                raise ValueError("a reply is a JSON object")
            array = None
            if header.get("array") is not None:
                array = self._array(header["array"], self._read_message(deadline, what))
        except (ValueError, TypeError, KeyError) as error:
            self.close()
            raise AgentProblem(
                f"the agent process broke the protocol during {what} ({error})"
            ) from None
        except AgentProblem:
            self.close()
            raise
        if what != "act()" or time.monotonic() >= self._next_process_check:
            self.check_processes(what)
        if header.get("error") is not None:
            problem = str(header["error"])[:2000]
            if header.get("memory"):
                problem += f" (the memory limit is {self.limits.memory_mb} MB)"
            raise AgentProblem(problem)
        return header, array

    @staticmethod
    def _array(description: Any, raw: bytes) -> np.ndarray:
        dtype = np.dtype(str(description["dtype"]))
        if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject:
            raise ValueError(f"actions of dtype {dtype} are not numbers")
        shape = tuple(int(n) for n in description["shape"])
        return np.frombuffer(raw, dtype=dtype).reshape(shape)

    # ----------------------------------------------------------------- the pipes

    def _died(self, what: str) -> AgentProblem:
        """The problem to report once the agent process ended or hung up."""
        process = self.process
        assert process is not None
        ended = _reap(process, seconds=5)
        if ended is None:
            return AgentProblem(f"the agent process closed its pipe during {what}")
        code, cpu_seconds = ended
        # bwrap reports a child killed by a signal as 128 + the signal's number.
        number = -code if code < 0 else code - 128 if self.sandboxed and code > 128 else 0
        out_of_cpu = cpu_seconds >= self.limits.cpu_seconds
        if number == signal.SIGXCPU or (number == signal.SIGKILL and out_of_cpu):
            return AgentProblem(
                f"the agent process used up the CPU time limit ({self.limits.cpu_seconds} s "
                f"per run) during {what}"
            )
        if number:
            return AgentProblem(
                f"the agent process was killed by {_signal_name(number)} during {what}"
            )
        return AgentProblem(f"the agent process exited (code {code}) during {what}")

    def _timed_out(self, what: str) -> AgentProblem:
        building = what == "building the agent"
        seconds = self.limits.startup_seconds if building else self.limits.act_seconds
        flag = "--startup-timeout" if building else "--act-timeout"
        return AgentProblem(f"{what} did not return within {seconds:g} s (the {flag} limit)")

    def _wait(self, fd: int, writing: bool, deadline: float, what: str) -> None:
        remaining = deadline - time.monotonic()
        ready = (
            (select.select([], [fd], [], remaining) if writing
             else select.select([fd], [], [], remaining))
            if remaining > 0
            else ([], [], [])
        )  # fmt: skip
        if not any(ready):
            raise self._timed_out(what)

    def _write(self, data: bytes, deadline: float, what: str) -> None:
        view = memoryview(data)
        while view:
            self._wait(self._to_agent, True, deadline, what)
            try:
                written = os.write(self._to_agent, view[: 1 << 20])
            except BrokenPipeError:
                raise self._died(what) from None
            view = view[written:]

    def _read_exactly(self, n: int, deadline: float, what: str) -> bytes:
        buffer = self._buffer
        while len(buffer) < n:
            self._wait(self._from_agent, False, deadline, what)
            chunk = os.read(self._from_agent, max(n - len(buffer), 1 << 16))
            if not chunk:
                raise self._died(what)
            buffer += chunk
        data = bytes(buffer[:n])
        del buffer[:n]
        return data

    def _read_message(self, deadline: float, what: str) -> bytes:
        size = int.from_bytes(self._read_exactly(_HEADER, deadline, what), "little")
        if size > MAX_REPLY_BYTES:
            raise ValueError(f"a reply of {size} bytes")
        return self._read_exactly(size, deadline, what)


class _SharedArrays:
    """A memfd holding the out-of-band buffers (array data) of the request being sent."""

    def __init__(self) -> None:
        self.fd = os.memfd_create("mesabench-observations")
        self.size = 0
        self.map: mmap.mmap | None = None

    def read_only_fd(self) -> int:
        """A new descriptor of the memfd that can only be mapped for reading."""
        return os.open(f"/proc/self/fd/{self.fd}", os.O_RDONLY)

    def put(self, buffers: list[pickle.PickleBuffer]) -> list[int]:
        """Copy ``buffers`` one after another into shared memory; returns their sizes."""
        views = [b.raw() for b in buffers]
        sizes = [v.nbytes for v in views]
        needed = sum(sizes)
        if needed > self.size:
            self.size = max(needed, 2 * self.size, 1 << 20)
            os.ftruncate(self.fd, self.size)
            if self.map is not None:
                self.map.close()
            self.map = mmap.mmap(self.fd, self.size)
        offset = 0
        for view, size in zip(views, sizes, strict=True):
            assert self.map is not None
            self.map[offset : offset + size] = view
            offset += size
        return sizes

    def close(self) -> None:
        if self.map is not None:
            self.map.close()
            self.map = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _reap(process: subprocess.Popen, seconds: float) -> tuple[int, float] | None:
    """Wait up to ``seconds`` for ``process``; its exit code and the CPU time it used."""
    end = time.monotonic() + seconds
    while True:
        try:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        except ChildProcessError:
            return (process.returncode or 0), 0.0
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode, usage.ru_utime + usage.ru_stime
        if time.monotonic() > end:
            return None
        time.sleep(0.01)


class RemoteAgent:
    """One instance of an agent living in an :class:`AgentProcess`, as a BatchedAgent."""

    privileged = False

    def __init__(self, process: AgentProcess, instance: int) -> None:
        self.process = process
        self.instance = instance

    def reset(self) -> None:
        self.process.reset(self.instance)

    def act(self, observations: Any) -> np.ndarray:
        return self.process.act(self.instance, observations)


def build_remote(process: AgentProcess, context: AgentContext) -> list[RemoteAgent]:
    """The instances the agent process built for ``context``, as agents of this process."""
    return [RemoteAgent(process, i) for i in range(process.build(context))]
