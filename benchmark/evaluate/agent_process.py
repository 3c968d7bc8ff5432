"""The agent process: where a submitted agent's code runs (started by
:mod:`benchmark.evaluate.sandbox`).

Run as ``python -m benchmark.evaluate.agent_process READ_FD WRITE_FD SHARED_FD``. It
answers requests from the evaluating process, one at a time:

* ``("build", spec)``: import the agent and call its factory with the context
  (which holds no environment); reply with the number of instances;
* ``("reset", instance)`` and ``("act", instance, observations)``: call the
  instance; ``act`` replies with the actions as a raw numeric array.

Requests are pickles (they come from the evaluating process, which this process
trusts) whose arrays lie in the shared memory SHARED_FD, mapped read-only;
replies are JSON headers plus raw array bytes (the evaluating process
does not trust this one). Every exception of the agent, ``SystemExit``
included, becomes an ``error`` reply naming the call.
"""

from __future__ import annotations

import json
import mmap
import os
import pickle
import sys
from typing import Any

_HEADER = 8


def _read_exactly(fd: int, n: int) -> bytes | None:
    chunks, remaining = [], n
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _send(fd: int, header: dict[str, Any], array: Any = None) -> None:
    messages = [json.dumps(header).encode()]
    if array is not None:
        messages.append(array.tobytes())
    _write(fd, b"".join(len(m).to_bytes(_HEADER, "little") + m for m in messages))


class Agents:
    """The instances built by the last ``build`` request."""

    def __init__(self) -> None:
        self.instances: list[Any] = []

    def build(self, spec: dict[str, Any]) -> dict[str, Any]:
        from benchmark.protocol import AgentContext, UnsupportedFamily

        for entry in spec["sys_path"]:
            if entry not in sys.path:
                sys.path.append(entry)
        try:
            self.instances = spec["source"].build(AgentContext(**spec["context"]))
        except UnsupportedFamily as unsupported:
            return {"unsupported": str(unsupported) or "does not play this family"}
        return {"instances": len(self.instances)}

    def reset(self, instance: int) -> dict[str, Any]:
        from benchmark.protocol import reset_agent

        reset_agent(self.instances[instance])
        return {}

    def act(self, instance: int, observations: Any) -> tuple[dict[str, Any], Any]:
        import numpy as np

        raw = self.instances[instance].act(observations)
        try:
            actions = np.ascontiguousarray(raw)
        except Exception as error:  # an agent may return anything
            return {"error": f"act() returned actions that are not an array ({error!r})"}, None
        if actions.dtype.kind not in "biuf":
            return {"error": f"act() returned actions of dtype {actions.dtype}, not numbers"}, None
        return {"array": {"dtype": actions.dtype.str, "shape": list(actions.shape)}}, actions


_CALLS = {"build": "building the agent", "reset": "reset()", "act": "act()"}


def _read_message(fd: int) -> bytes | None:
    header = _read_exactly(fd, _HEADER)
    return None if header is None else _read_exactly(fd, int.from_bytes(header, "little"))


class SharedArrays:
    """The evaluating process's shared memory, mapped read-only (remapped when it grows)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.map: mmap.mmap | None = None

    def buffers(self, sizes: list[int]) -> list[bytearray]:
        if not sizes:
            return []
        size = os.fstat(self.fd).st_size
        if self.map is None or len(self.map) != size:
            self.map = mmap.mmap(self.fd, size, prot=mmap.PROT_READ)
        view, offset, out = memoryview(self.map), 0, []
        for n in sizes:
            # A copy: the agent may keep or modify its observations; the next batch reuses
            # this memory.
            out.append(bytearray(view[offset : offset + n]))
            offset += n
        view.release()
        return out


def serve(read_fd: int, write_fd: int, shared_fd: int) -> None:
    from benchmark.evaluate.agents import AgentLoadError

    agents = Agents()
    shared = SharedArrays(shared_fd)
    while True:
        payload = _read_message(read_fd)
        sizes = _read_message(read_fd) if payload is not None else None
        if payload is None or sizes is None:
            return  # the evaluating process is gone or done
        request = pickle.loads(payload, buffers=shared.buffers(json.loads(sizes)))
        what = _CALLS[request[0]]
        array = None
        try:
            handle = getattr(agents, request[0])
            reply = handle(*request[1:])
            if isinstance(reply, tuple):
                reply, array = reply
        except AgentLoadError as error:  # the reference names no usable factory: said as is
            reply = {"error": str(error)}
        except SystemExit as exiting:
            reply = {"error": f"{what} called sys.exit({exiting.code!r})"}
        except MemoryError as error:
            reply = {"error": f"{what} raised {error!r}", "memory": True}
        except BaseException as error:  # everything the agent raises is its own failure
            reply = {"error": f"{what} raised {error!r}"}
        _send(write_fd, reply, array)


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
