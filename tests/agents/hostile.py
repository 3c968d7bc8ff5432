"""Hostile and broken agents: each tries one thing a leaderboard must withstand.

The catalogue (tests/test_trust.py) copies this file into a directory of its own
beside ``victim.json``, which names the database under test and a TCP port on
this machine that nobody inside the sandbox should reach.
"""

import gc
import json
import os
import signal
import socket
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

VICTIM = json.loads(Path(__file__).with_name("victim.json").read_text())


class Up:
    """Walks up: valid actions, so a failure is the hostile part's doing."""

    privileged = False

    def __init__(self, context, hostile=None):
        self.context = context
        self.hostile = hostile or (lambda: None)

    def act(self, observations):
        self.hostile()
        return np.zeros(len(observations["inventory"]), dtype=np.int64)


def _up_with(hostile):
    return lambda context: Up(context, hostile)


# ----------------------------------------------------------------- hidden state


def reads_env(context):
    """Asks the context for the environment's hidden state."""
    core = context.env.unwrapped.core
    return Up(context, lambda: core.state_of(0))


def _find_cores():
    return [o for o in gc.get_objects() if type(o).__name__ == "KeysChestsCore"]


def _gc_planner():
    if not _find_cores():
        raise RuntimeError("found no hidden state through the garbage collector")


gc_planner = _up_with(_gc_planner)


def _write_objectives():
    for core in _find_cores():  # finds none: the environment lives in another process
        core.chests_opened[:] = 99


#: Walks up forever, writing the objective counters wherever it can find them.
counter_writer = _up_with(_write_objectives)


class ClaimsPrivilege(Up):
    privileged = True


def claims_privilege(context):
    return ClaimsPrivilege(context)


# ----------------------------------------------------------------- the database


def _delete_database():
    os.remove(VICTIM["db"])


deletes_database = _up_with(_delete_database)


def _rewrite_rows():
    connection = sqlite3.connect(VICTIM["db"])
    connection.execute("UPDATE episodes SET length = 1")
    connection.commit()


rewrites_rows = _up_with(_rewrite_rows)


def deletes_database_at_build(context):
    os.remove(VICTIM["db"])
    return Up(context)


def _write_tmp():
    Path(VICTIM["tmp_marker"]).write_text("written from inside the sandbox")


#: Writes under /tmp (a private one) and then plays normally: stored, nothing leaks.
writes_tmp = _up_with(_write_tmp)


def _connect():
    socket.create_connection(("127.0.0.1", VICTIM["port"]), timeout=2).close()


phones_home = _up_with(_connect)


# ----------------------------------------------------------------- exiting


def _sys_exit():
    sys.exit(0)


sys_exit_in_act = _up_with(_sys_exit)


def _os_exit():
    os._exit(0)


os_exit_in_act = _up_with(_os_exit)


def _kill_self():
    os.kill(os.getpid(), signal.SIGKILL)


kills_itself = _up_with(_kill_self)


def _forge_reply():
    # Writes a reply header announcing a huge message on the reply pipe, then stops.
    os.write(int(sys.argv[2]), (1 << 62).to_bytes(8, "little"))


forges_reply = _up_with(_forge_reply)


def forges_build_reply(context):
    """Claims a billion instances, hoping the evaluator makes room for them."""
    message = json.dumps({"instances": 10**9}).encode()
    os.write(int(sys.argv[2]), len(message).to_bytes(8, "little") + message)
    return Up(context)


def _kill_parent():
    os.kill(os.getppid(), signal.SIGKILL)


#: Sandboxed, its parent is the PID namespace's init, which ignores it: it plays on.
kills_parent = _up_with(_kill_parent)


def _look_for_the_evaluator():
    others = [
        pid
        for pid in os.listdir("/proc")
        if pid.isdigit() and int(pid) not in (os.getpid(), os.getppid())
    ]
    if others:
        raise RuntimeError(f"can see processes {others} (the evaluator among them)")


#: Looks through /proc for the evaluating process (to read its memory); sandboxed, finds none.
looks_for_the_evaluator = _up_with(_look_for_the_evaluator)


# ----------------------------------------------------------------- hanging


def _sleep():
    time.sleep(3600)


sleeps_in_act = _up_with(_sleep)


class SleepsInReset(Up):
    def reset(self):
        time.sleep(3600)


def sleeps_in_reset(context):
    return SleepsInReset(context)


def sleeps_at_build(context):
    time.sleep(3600)


def _spin():
    while True:
        pass


spins_in_act = _up_with(_spin)


# ----------------------------------------------------------------- processes


def _fork():
    if os.fork() == 0:
        time.sleep(3600)
        os._exit(0)


forks_in_act = _up_with(_fork)


def _daemonize():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(3600)
        os._exit(0)
    time.sleep(0.2)  # the middle process is gone: its child is an orphan


daemonizes_in_act = _up_with(_daemonize)


# ----------------------------------------------------------------- memory


def _eat_memory():
    hoard = np.ones(1 << 30, dtype=np.uint8)  # 1 GB
    hoard[::4096] = 2


eats_memory = _up_with(_eat_memory)


# ----------------------------------------------------------------- bad factories and actions


def returns_nothing(context):
    return []


def returns_a_number(context):
    return 3


def plays_nothing(context):
    from benchmark.protocol import UnsupportedFamily

    raise UnsupportedFamily("plays no family")


class WordActions(Up):
    def act(self, observations):
        return ["up"] * len(observations["inventory"])


def word_actions(context):
    return WordActions(context)


class TooManyActions(Up):
    def act(self, observations):
        return np.zeros(len(observations["inventory"]) + 1, dtype=np.int64)


def too_many_actions(context):
    return TooManyActions(context)


not_a_factory = 3
