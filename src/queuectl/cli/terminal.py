"""Single keys from the terminal for `queuectl top`, without waiting for Enter.

`KeyReader` puts the terminal in cbreak mode (keys arrive one by one, not echoed; Ctrl-C still
raises KeyboardInterrupt) and puts back the settings it found when it is closed, whatever ends
the program. When stdin is not a terminal it reads nothing and just waits.
"""

from __future__ import annotations

import os
import select
import sys
import time
from types import TracebackType
from typing import Any


class KeyReader:
    def __init__(self) -> None:
        self.fd: int | None = None
        self.saved: list[Any] | None = None
        self.ended = False  # the terminal is gone (end of input)

    def __enter__(self) -> KeyReader:
        if sys.stdin.isatty():
            import termios
            import tty

            self.fd = sys.stdin.fileno()
            self.saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd, termios.TCSANOW)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.restore()

    def restore(self) -> None:
        if self.fd is not None and self.saved is not None:
            import termios

            try:
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
            except (termios.error, OSError):
                pass  # the terminal is gone (hung up): nothing left to restore
            self.saved = None

    def read(self, timeout: float) -> str | None:
        """The next key typed within `timeout` seconds, or None."""
        if self.fd is None or self.ended:
            time.sleep(max(0.0, timeout))
            return None
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return None
        data = os.read(self.fd, 32)
        if not data:  # the terminal is gone: nothing more will come
            self.ended = True
            return None
        return data.decode(errors="replace")[:1]
