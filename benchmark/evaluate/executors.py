"""Where evaluations run: inline, a process pool on this machine, or a Ray cluster.

Every evaluation goes through one path (:func:`benchmark.evaluate.submission.evaluate_jobs`):
jobs (an agent on a target) are cut into :class:`Shard` s, an :class:`Executor`
runs :func:`run_shard` on each wherever it runs things, and the shards' episodes
are put back together, in order, into the job's result. Nothing is stored where a
shard runs: the calling process stores each job in one transaction, through the
same storage functions whichever executor ran it.

A shard is the unit of work of DESIGN's scale-out, (agent, split, seed shard):
the seeds of a job from one batch boundary to another. The runner evaluates a
target batch by batch (``--batch-size`` levels at a time, the agent built afresh
for each batch with the same seed), so a shard made of whole batches plays
exactly the levels, with exactly the agent seed, that the same batches play in
one run, and the shards' episodes, concatenated in order, are the episodes of a
run of the whole job, bit for bit. The process pool runs a job as one shard
(one agent process per split, as before); Ray runs one batch per shard, so a
split spreads over a cluster when its seeds span several batches.

Submitted agents run in agent processes (:mod:`benchmark.evaluate.sandbox`) wherever the
shard runs, so a Ray worker sandboxes them with bubblewrap exactly as a pool
worker does, where the node has it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import multiprocessing
import os
import socket
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import envs
from benchmark.evaluate.agents import absolute_reference, resolve
from benchmark.evaluate.episodes import Episodes
from benchmark.evaluate.runner import PARALLEL_BATCH_SIZE, Target, evaluate
from benchmark.evaluate.sandbox import Limits, die_with_parent

#: What one evaluation returns: episodes, privileged, seconds evaluating, agent checksum.
Result = tuple[Episodes, bool, float, str]

#: The executors ``--executor`` names.
EXECUTORS = ("local", "ray")


class WorkerLost(RuntimeError):
    """The process or machine evaluating a shard died (not the agent's own failure)."""


class ExecutorUnavailable(RuntimeError):
    """An executor cannot be used here (Ray not installed, a cluster not reachable)."""


@dataclass(frozen=True)
class Shard:
    """One task: the agent ``reference`` on one seed shard of a job's target."""

    job: int  # the job's position in the list evaluated
    index: int  # this shard's position within its job
    reference: str
    target: Target  # the job's target, with only this shard's seeds
    batch_size: int
    limits: Limits


def effective_batch_size(target: Target, batch_size: int) -> int:
    """The levels the runner steps together for ``target`` (PettingZoo levels are capped)."""
    if envs.get_family(target.family).kind == "pettingzoo":
        return min(batch_size, PARALLEL_BATCH_SIZE)
    return batch_size


def plan_shards(
    references_and_targets: Sequence[tuple[str, Target]],
    batch_size: int,
    limits: Limits,
    batches_per_shard: int | None,
) -> list[Shard]:
    """Cut each job into shards of ``batches_per_shard`` whole batches (None: one shard).

    Boundaries fall on the runner's batch boundaries, so the shards together play
    exactly what one run of the job plays (see the module's docstring).
    """
    shards = []
    for job, (reference, target) in enumerate(references_and_targets):
        n = len(target.seeds)
        size = n if batches_per_shard is None else batches_per_shard * effective_batch_size(
            target, batch_size
        )  # fmt: skip
        # An empty seed list is still one shard: evaluating it says what is wrong.
        for index, start in enumerate(range(0, max(n, 1), max(size, 1))):
            seeds = target.seeds[start : start + size]
            shards.append(Shard(job, index, reference, dataclasses.replace(target, seeds=seeds),
                                batch_size, limits))  # fmt: skip
    return shards


def run_shard(shard: Shard) -> Result:
    """Evaluate one shard where the executor runs it (nothing is stored here)."""
    # One thread per process; set before torch is imported (only torch agents import it).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    source = resolve(shard.reference)
    started = time.perf_counter()
    episodes, privileged = evaluate(
        source, shard.target, batch_size=shard.batch_size, limits=shard.limits
    )
    return episodes, privileged, time.perf_counter() - started, source.checksum


def combine(results: Sequence[Result]) -> Result:
    """One job's result from its shards' results, in shard order."""
    checksums = {r[3] for r in results}
    # Shards that loaded different files: report one that differs, so storing refuses it.
    checksum = results[0][3] if len(checksums) == 1 else "inconsistent:" + ",".join(checksums)
    return (
        Episodes.concat([r[0] for r in results]),
        any(r[1] for r in results),
        sum(r[2] for r in results),
        checksum,
    )


class Executor(ABC):
    """Runs shards somewhere and hands back each one's result as it ends."""

    #: Whole batches per shard (None: a job is one shard).
    batches_per_shard: int | None = None

    @abstractmethod
    def run(self, shards: Sequence[Shard]) -> Iterator[tuple[Shard, Callable[[], Result]]]:
        """Yield ``(shard, get)`` as each shard ends; ``get()`` returns its result or raises
        what its evaluation raised (:class:`WorkerLost` when the worker itself died).
        Closing the generator early cancels what has not run; an exception
        (Ctrl-C) stops the workers before it propagates."""

    def close(self) -> None:  # noqa: B027 (most executors hold nothing between runs)
        """Release what the executor holds beyond one ``run`` (a cluster connection)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _returns(result: Result) -> Callable[[], Result]:
    return lambda: result


def _raises(error: BaseException) -> Callable[[], Result]:
    def get() -> Result:
        raise error

    return get


class InlineExecutor(Executor):
    """Runs every shard in this process, one after another (``--workers 1``)."""

    def run(self, shards: Sequence[Shard]) -> Iterator[tuple[Shard, Callable[[], Result]]]:
        for shard in shards:
            try:
                result = run_shard(shard)
            except Exception as error:  # handed to the caller through get()
                yield shard, _raises(error)
            else:
                yield shard, _returns(result)


def _start_worker() -> None:
    """A pool worker dies with the command that started it (even one killed by SIGKILL)."""
    die_with_parent()


class PoolExecutor(Executor):
    """A process pool on this machine, one torch thread per process; one shard per job."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def run(self, shards: Sequence[Shard]) -> Iterator[tuple[Shard, Callable[[], Result]]]:
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=context, initializer=_start_worker
        )
        futures: dict[Future, Shard] = {pool.submit(run_shard, shard): shard for shard in shards}
        remaining = set(futures)
        try:
            while remaining:
                done, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                for future in done:
                    yield futures[future], self._getter(future)
        except BaseException:
            # Interrupted: a worker in the middle of a run must not finish it unseen.
            # (ProcessPoolExecutor has no public way to stop busy workers before 3.14.)
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def _getter(future: Future) -> Callable[[], Result]:
        def get() -> Result:
            try:
                return future.result()
            except BrokenProcessPool as error:
                raise WorkerLost(f"the evaluating process died ({error})") from None

        return get


def local_executor(workers: int) -> Executor:
    """This machine's executor: inline for one worker, else a process pool."""
    return InlineExecutor() if workers <= 1 else PoolExecutor(workers)


class RayExecutor(Executor):
    """Shards as Ray tasks, one batch each, on a cluster (a local one without ``address``).

    The cluster's nodes need this project installed (``pip install 'mesabench[ray]'``)
    and every submitted agent's files at the same paths (a shared file system, or the
    same checkout everywhere): a shard resolves the agent again and a node that
    loaded other files is caught by the checksum when the driver stores the run.
    """

    batches_per_shard = 1

    def __init__(self, address: str | None = None, *, workers: int = 2) -> None:
        try:
            import ray
        except ImportError:
            raise ExecutorUnavailable(
                "the ray executor needs Ray: pip install 'mesabench[ray]'"
            ) from None
        self.ray = ray
        self.started = False
        address = address or os.environ.get("RAY_ADDRESS") or None  # Ray's own convention
        if address is not None and not ray.is_initialized():
            _check_reachable(address)
        if not ray.is_initialized():
            import logging

            options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
            if address is None:
                # A local cluster on this machine, kept small: one CPU per worker, no
                # dashboard, a small object store (results are episode tables).
                options |= {"num_cpus": workers, "include_dashboard": False,
                            "object_store_memory": 100 * 1024 * 1024}  # fmt: skip
            try:
                ray.init(address=address, **options)
            except (ConnectionError, RuntimeError, ValueError) as error:
                where = f"reach the Ray cluster at {address}" if address else "start Ray here"
                raise ExecutorUnavailable(f"cannot {where}: {error}") from None
            self.started = True
        # Ray retries a task whose worker or node died; an agent's own failure is an
        # exception, never retried.
        self.task = ray.remote(num_cpus=1, max_retries=2)(run_shard)

    def run(self, shards: Sequence[Shard]) -> Iterator[tuple[Shard, Callable[[], Result]]]:
        ray = self.ray
        # Workers run in directories of their own, on other machines: absolute paths.
        pending = {
            self.task.remote(dataclasses.replace(s, reference=absolute_reference(s.reference))): s
            for s in shards
        }
        remaining = list(pending)
        try:
            while remaining:
                done, remaining = ray.wait(remaining, num_returns=1)
                for ref in done:
                    yield pending[ref], self._getter(ref)
        finally:
            for ref in remaining:  # closed early or interrupted: stop what has not ended
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)

    def _getter(self, ref: Any) -> Callable[[], Result]:
        ray = self.ray

        def get() -> Result:
            try:
                return ray.get(ref)
            except ray.exceptions.RayTaskError as error:
                # The task's own exception (AgentFailure, UnsupportedFamily, ...), as a
                # process pool would hand it back.
                cause = getattr(error, "cause", None)
                if isinstance(cause, Exception):
                    raise cause from None
                raise
            except ray.exceptions.RayError as error:  # a worker or node died, a task lost
                raise WorkerLost(f"the Ray worker evaluating it was lost ({error})") from None

        return get

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()
            self.started = False


def _check_reachable(address: str) -> None:
    """Fail at once when a ``host:port`` cluster address does not answer (``ray.init``
    itself retries for minutes); other forms (``auto``) are left to Ray."""
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not port.isdigit() or not host:
        return
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as error:
        raise ExecutorUnavailable(
            f"cannot reach the Ray cluster at {address}: {error} (is `ray start --head` "
            "running there?)"
        ) from None


def make_executor(kind: str, *, workers: int = 2, address: str | None = None) -> Executor:
    """The executor ``--executor kind`` names. Raises ValueError naming the choices, or
    :class:`ExecutorUnavailable`."""
    if kind == "local":
        if address is not None:
            raise ValueError("--address is an option of --executor ray")
        return local_executor(workers)
    if kind == "ray":
        return RayExecutor(address, workers=workers)
    close = difflib.get_close_matches(kind, EXECUTORS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown executor {kind!r}.{hint} Known: {', '.join(EXECUTORS)}.")
