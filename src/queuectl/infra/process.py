"""Process control in one place: children that die with their parent, whole process groups
killed at once, and what Linux's /proc says about a process.

The dispatcher's workers, the embedded server's supervisor, discovery children, the tests and the
benchmarks all need these; each rule (the prctl call, the stat line's layout) is written once.
Off Linux, the /proc readers answer "unknown" (None, 0, empty) and prctl is skipped.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Have the kernel send `sig` to this process when its parent dies (PR_SET_PDEATHSIG).

    Meant as a `preexec_fn`: it runs in the child between fork and exec, so it must not raise.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except Exception:  # noqa: BLE001 - not Linux: the parent still kills its children on exit
        pass


def term_with_parent() -> None:
    """`preexec_fn` for a worker: SIGTERM when the dispatcher dies, which the worker turns into a
    kill of its whole process group (the helper's own children included)."""
    die_with_parent(signal.SIGTERM)


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> bool:
    """Signal a whole process group (a child started with `start_new_session=True` leads one);
    False when it is gone already or not ours."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


@dataclass(frozen=True)
class ProcStat:
    """The fields of /proc/<pid>/stat that queuectl reads (times in seconds)."""

    state: str  # R running, S sleeping, T stopped, t traced, Z zombie, X dead, ...
    ppid: int
    user: float
    system: float
    children_user: float  # CPU of reaped children
    children_system: float

    @property
    def stopped(self) -> bool:
        """Stopped by a signal (SIGSTOP, a suspended job) or by a tracer."""
        return self.state in ("T", "t")

    @property
    def gone(self) -> bool:
        return self.state in ("Z", "X")


def stat(pid: int) -> ProcStat | None:
    """/proc/<pid>/stat parsed, or None when the process is gone (or not on Linux). The command
    name may hold spaces and parentheses: the fields start after the last ')'."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
        tick = os.sysconf("SC_CLK_TCK")
        return ProcStat(
            state=fields[0].decode(),
            ppid=int(fields[1]),
            user=int(fields[11]) / tick,
            system=int(fields[12]) / tick,
            children_user=int(fields[13]) / tick,
            children_system=int(fields[14]) / tick,
        )
    except (OSError, IndexError, ValueError):
        return None


def is_stopped(pid: int) -> bool:
    """Is the process stopped (state T or t)? False when gone or unknown."""
    found = stat(pid)
    return found is not None and found.stopped


def cpu_seconds(pid: int, *, with_reaped_children: bool = False) -> float:
    """User + system CPU seconds of a live process (0.0 when gone)."""
    found = stat(pid)
    if found is None:
        return 0.0
    total = found.user + found.system
    if with_reaped_children:
        total += found.children_user + found.children_system
    return total


def children(pid: int) -> list[int]:
    """The direct children of a process (from its threads' `children` files)."""
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def descendants(pid: int) -> list[int]:
    """Every live descendant of a process, children first. Workers run in sessions of their own
    but keep the dispatcher as their parent, so they are found here."""
    out: list[int] = []
    stack = [pid]
    while stack:
        for child in children(stack.pop()):
            out.append(child)
            stack.append(child)
    return out
