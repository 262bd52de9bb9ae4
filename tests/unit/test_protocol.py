"""The pool <-> worker messages: every job and every event must come back from its decoder with
the very values that were encoded, and a line that is no event must be refused (ValueError)."""

from __future__ import annotations

import pytest

from queuectl.runtime.protocol import (
    EXITING,
    Event,
    JobMessage,
    decode_event,
    decode_job,
    done,
    encode_job,
    gave_back,
    join_batch,
    not_started,
    seq_of,
    split_batch,
    starting,
    took,
)


def job(seq: int = 1, **over: object) -> JobMessage:
    fields: dict[str, object] = {
        "seq": seq,
        "at": 1_796_000_000.0,
        "not_after": 12345.678,
        "execution_id": "exec-1",
        "helper": "weather",
        "source": "/srv/helpers/weather.py",
        "execution_time": 1_796_000_000,
        "attempt": 1,
        "dispatcher": "host:1234:abcd",
    }
    fields.update(over)
    return JobMessage(**fields)  # type: ignore[arg-type]


def line(event: str) -> bytes:
    """An event as the pool reads it: one line, its newline stripped."""
    assert event.endswith("\n") and event.count("\n") == 1
    return event[:-1].encode()


# -- jobs -------------------------------------------------------------------------------------

JOBS = [
    job(),
    job(source="/home/me/my helpers/wetter ☀ größe.py", helper="wetter-größe"),
    job(helper="acme.reports-daily_v2", execution_id="acme.reports-daily_v2:1796000000"),
    job(at=0.0),
    job(at=1_796_000_000.123456, not_after=0.1 + 0.2),
    job(seq=2**62 + 7, execution_time=4_102_444_800, attempt=101),
    job(not_after=1e-7, dispatcher="ホスト:99:ff"),
]


@pytest.mark.parametrize("original", JOBS, ids=[str(i) for i in range(len(JOBS))])
def test_job_round_trip(original: JobMessage) -> None:
    """Every field, floats to the last bit, survives encode/decode."""
    part = encode_job(original)
    assert isinstance(part, bytes)
    decoded = decode_job(part)
    assert decoded == original
    assert [type(v) for v in decoded] == [type(v) for v in original]
    assert seq_of(part) == original.seq


def test_batch_round_trip() -> None:
    """Several jobs in one socket message split back into the same parts, in order."""
    parts = [encode_job(j) for j in JOBS]
    message = join_batch(parts)
    assert split_batch(message) == parts
    assert [decode_job(p) for p in split_batch(message)] == JOBS
    assert [seq_of(p) for p in split_batch(message)] == [j.seq for j in JOBS]


def test_single_job_batch() -> None:
    part = encode_job(job(seq=42))
    assert join_batch([part]) == part
    assert split_batch(part) == [part]


# -- events -----------------------------------------------------------------------------------


def test_took_and_gave_back() -> None:
    parts = [encode_job(job(seq=s)) for s in (3, 17, 2**40)]
    assert decode_event(line(took(parts))) == Event(kind="T", seqs=(3, 17, 2**40))
    assert decode_event(line(gave_back(parts))) == Event(kind="P", seqs=(3, 17, 2**40))
    assert decode_event(line(took(parts[:1]))).seqs == (3,)


@pytest.mark.parametrize("seq", [0, 1, 987654321, 2**62])
def test_starting_and_not_started(seq: int) -> None:
    started = decode_event(line(starting(seq)))
    assert (started.kind, started.seqs, started.seq) == ("S", (seq,), seq)
    refused = decode_event(line(not_started(seq)))
    assert (refused.kind, refused.seqs, refused.seq) == ("R", (seq,), seq)


def test_exiting() -> None:
    assert decode_event(line(EXITING)) == Event(kind="X")


@pytest.mark.parametrize(
    "started, finished", [(1_796_000_000.123456, 1_796_000_003.9876543), (0.0, 0.1 + 0.2), (1e-7, 4_102_444_800.5)]
)
def test_done_ok(started: float, finished: float) -> None:
    """A success carries its exact times. (Its `error` field is not part of the contract: the
    decoder fills in a placeholder that the pool drops for ok results.)"""
    event = decode_event(line(done(77, ok=True, started=started, finished=finished)))
    assert (event.kind, event.seqs, event.ok, event.started, event.finished) == ("D", (77,), True, started, finished)
    assert event.reason is None
    assert event.seq == 77


@pytest.mark.parametrize(
    "error, reason",
    [
        ("ValueError: boom", "error"),
        ("KeyError: \"quoted\" and 'single'", "error"),
        ('Traceback (most recent call last):\n  File "x.py", line 1\nRuntimeError: two\nlines\r\n', "error"),
        ("ошибка ☠ 失敗 \u2028 \x00 tab\there", "timeout"),
        ("back\\slash and [brackets], {braces} and 1 0 2.0 spaces", None),
        ("", "memory"),
        (None, None),
    ],
)
def test_done_not_ok(error: str | None, reason: str | None) -> None:
    """A failure's error text (quotes, newlines, unicode, separators) comes back unchanged: the
    event stays one line and decodes to the same values."""
    event_text = done(9, ok=False, started=10.5, finished=12.25, error=error, reason=reason)
    event = decode_event(line(event_text))
    assert event == Event(kind="D", seqs=(9,), ok=False, started=10.5, finished=12.25, error=error, reason=reason)


GARBAGE = [
    b"",
    b"Z 1",
    b"hello world",
    b"T abc",
    b"P 1 x",
    b"S x",
    b"R 1.5",
    b"D",
    b"D x 1 1.0 2.0",
    b"D 1 1 one 2.0",
    b"D 1 0 1.0 2.0 notjson",
    b"D 1 0 1.0 2.0 [1]",
    b"\xff\xfe",
    b"t 1",
    b" T 1",
]


@pytest.mark.parametrize("raw", GARBAGE)
def test_decode_event_refuses_garbage(raw: bytes) -> None:
    with pytest.raises(ValueError):
        decode_event(raw)


@pytest.mark.parametrize("raw", [b"D 1", b"D 1 1", b"D 1 1 2.0", b"D 1 0 1.0 2.0 5", b"D 1 0 1.0 2.0 null"])
def test_decode_event_refuses_malformed_done_with_value_error(raw: bytes) -> None:
    """The docstring promises ValueError for any line that is not an event."""
    with pytest.raises(ValueError):
        decode_event(raw)
