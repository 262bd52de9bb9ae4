"""The one socket every worker of a pool reads its jobs from.

A unix SOCK_SEQPACKET pair: the kernel hands each message to exactly one worker blocked in recv,
so an idle worker takes the next job while a busy one is never handed work it cannot start. The
dispatcher's end never blocks: a message the socket has no room for waits in an outbox until the
selector says it can be sent.
"""

from __future__ import annotations

import selectors
import socket

from queuectl.runtime import protocol


class JobSocket:
    def __init__(self, selector: selectors.BaseSelector) -> None:
        self.selector = selector
        self.out, self.inbound = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        for sock in (self.out, self.inbound):
            sock.set_inheritable(False)
        try:  # room for a burst of small messages without blocking the dispatcher
            self.out.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        except OSError:
            pass
        self.out.setblocking(False)
        self.outbox: list[bytes] = []  # messages the socket had no room for yet

    @property
    def worker_fd(self) -> int:
        """The end the workers inherit and read."""
        return self.inbound.fileno()

    def send(self, message: bytes) -> None:
        """Send now, or as soon as there is room (`flush`, when the selector reports this)."""
        if not self.outbox:
            try:
                self.out.send(message)
                return
            except BlockingIOError:
                self.selector.register(self.out, selectors.EVENT_WRITE, self)
        self.outbox.append(message)

    def flush(self) -> None:
        while self.outbox:
            try:
                self.out.send(self.outbox[0])
            except BlockingIOError:
                return
            self.outbox.pop(0)
        self.selector.unregister(self.out)

    def take_back(self) -> list[int]:
        """Empty the outbox and the socket; the numbers of the jobs no worker picked up."""
        messages = list(self.outbox)
        if self.outbox:
            self.outbox.clear()
            self.selector.unregister(self.out)
        while True:
            try:
                messages.append(self.inbound.recv(65536, socket.MSG_DONTWAIT))
            except BlockingIOError:
                break
        return [protocol.seq_of(part) for message in messages for part in protocol.split_batch(message)]

    def close(self) -> None:
        self.out.close()
        self.inbound.close()
