"""The messages between the worker pool and its worker processes, both halves in one place.

Jobs go from the pool to the workers through one SOCK_SEQPACKET socket: a message holds one job,
or several fast ones joined by BATCH_SEP; a job's fields are joined by SEP (neither can occur in a
path, a helper name or a number). Events come back on each worker's own pipe, one line each:

  T <seq> ...                              took these jobs (written before any of them starts)
  P <seq> ...                              gives these back unstarted: the pool sends them again
  S <seq>                                  about to run job <seq> (written before user code runs)
  D <seq> <ok 1|0> <started> <finished> [<json [error, reason]>]   job <seq> finished
  R <seq>                                  job <seq> not started: its claim's local lease ran out
  X                                        this worker exits and takes no more jobs
"""

from __future__ import annotations

import json
from typing import NamedTuple

#: Field separator of a job.
SEP = "\0"
#: Job separator in a message that carries several (fast helpers, handed over in bulk).
BATCH_SEP = b"\x1e\0"
#: Builds a NamedTuple from a complete tuple, without its argument handling: jobs and events are
#: decoded on the hot path, several per execution.
_tuple = tuple.__new__


class JobMessage(NamedTuple):
    """What a worker needs to run one execution (a tuple: one is built per job, on the hot path)."""

    seq: int  # the pool's number for the job, in the events about it
    at: float  # wall time not to start before (the due instant; 0 = at once)
    not_after: float  # the worker's monotonic time after which it must not start (local lease)
    execution_id: str
    helper: str
    source: str  # the helper's file
    execution_time: int
    attempt: int
    dispatcher: str


def encode_job(job: JobMessage) -> bytes:
    return SEP.join(
        (
            str(job.seq),
            repr(job.at),
            repr(job.not_after),
            job.execution_id,
            job.helper,
            job.source,
            str(job.execution_time),
            str(job.attempt),
            job.dispatcher,
        )
    ).encode()


def decode_job(part: bytes) -> JobMessage:
    """A worker reads one per job: the tuple is built directly, without NamedTuple's argument
    handling (a third of the cost)."""
    seq, at, not_after, execution_id, helper, source, execution_time, attempt, dispatcher = part.decode().split(SEP)
    fields = (int(seq), float(at), float(not_after), execution_id, helper, source, int(execution_time))
    return _tuple(JobMessage, fields + (int(attempt), dispatcher))


def join_batch(parts: list[bytes]) -> bytes:
    """One socket message from encoded jobs."""
    return BATCH_SEP.join(parts)


def split_batch(message: bytes) -> list[bytes]:
    """The encoded jobs of one socket message."""
    return message.split(BATCH_SEP)


_SEP_BYTES = SEP.encode()


def _seqs_text(parts: list[bytes]) -> str:
    """The job numbers of encoded jobs, as the event lines write them (no int round trip)."""
    return b" ".join(p[: p.index(_SEP_BYTES)] for p in parts).decode()


def seq_of(part: bytes) -> int:
    """An encoded job's number, without decoding the rest."""
    return int(part.split(SEP.encode(), 1)[0])


# -- events: the worker writes them ----------------------------------------------------------


def took(parts: list[bytes]) -> str:
    return f"T {_seqs_text(parts)}\n"


def gave_back(parts: list[bytes]) -> str:
    return f"P {_seqs_text(parts)}\n"


def starting(seq: int) -> str:
    return f"S {seq}\n"


def done(
    seq: int, *, ok: bool, started: float, finished: float, error: str | None = None, reason: str | None = None
) -> str:
    if ok:
        return f"D {seq} 1 {started!r} {finished!r}\n"
    return f"D {seq} 0 {started!r} {finished!r} {json.dumps([error, reason])}\n"


def not_started(seq: int) -> str:
    return f"R {seq}\n"


EXITING = "X\n"


# -- events: the pool reads them -------------------------------------------------------------


class Event(NamedTuple):
    """One event line, decoded (a tuple: several are read per job). `seqs` holds the job
    numbers (one for S, D and R)."""

    kind: str  # T, P, S, D, R or X
    seqs: tuple[int, ...] = ()
    ok: bool = False
    started: float = 0.0
    finished: float = 0.0
    error: str | None = None
    reason: str | None = None

    @property
    def seq(self) -> int:
        return self.seqs[0]


_KINDS = {b"T": "T", b"P": "P", b"S": "S", b"R": "R", b"D": "D", b"X": "X"}


def decode_event(line: bytes) -> Event:
    """An event line (without its newline); ValueError for a line that is none. Read on the
    dispatcher's hot path, three times per job: bytes are split, never decoded as a whole."""
    kind = _KINDS.get(line[:1])
    try:
        if kind == "S" or kind == "R":
            return _tuple(Event, (kind, (int(line[2:]),), False, 0.0, 0.0, None, None))
        if kind == "T" or kind == "P":
            return _tuple(Event, (kind, tuple(map(int, line[2:].split())), False, 0.0, 0.0, None, None))
        if kind == "D":
            return _done(line)
    except (ValueError, IndexError):
        pass
    else:
        if kind == "X" and line == b"X":
            return Event("X")
    raise ValueError(f"not a worker event: {line[:80]!r}")


def _done(line: bytes) -> Event:
    fields = line[2:].split(b" ", 4)
    seq, ok, started, finished = int(fields[0]), fields[1] == b"1", float(fields[2]), float(fields[3])
    if len(fields) == 4:
        return _tuple(Event, ("D", (seq,), ok, started, finished, None if ok else "unknown error", None))
    texts = json.loads(fields[4])
    if not (isinstance(texts, list) and len(texts) == 2 and all(isinstance(t, (str, type(None))) for t in texts)):
        raise ValueError("not two texts")
    return _tuple(Event, ("D", (seq,), ok, started, finished, texts[0], texts[1]))
