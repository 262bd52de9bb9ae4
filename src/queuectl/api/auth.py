"""Who may do what over HTTP: changes always need the bearer token; reads need it too unless the
server listens on a loopback address only (then only local processes can reach it anyway).

The token is compared in constant time and never logged, echoed or put in an error message.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from queuectl.domain.errors import InvalidInput

#: The environment variable that holds the token (`serve --token-file` takes precedence).
TOKEN_ENV = "QUEUECTL_API_TOKEN"

HOW_TO_SET = f"set {TOKEN_ENV} or start `queuectl serve --token-file PATH`"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`; anything else (0.0.0.0, a name) is not."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(token_file: Path | None, environ_value: str | None) -> str | None:
    """The token in force: the file's content (stripped) if a file is given, else the
    environment's; None when neither gives one."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read the token file {token_file}: {exc.__class__.__name__}") from None
        if not token:
            raise InvalidInput(f"the token file {token_file} is empty")
        return token
    token = (environ_value or "").strip()
    return token or None


def check_token_name(name: str) -> str:
    """The token's name as the audit trail shows it: 1 to 64 printable characters."""
    text = name.strip()
    if not 1 <= len(text) <= 64 or not text.isprintable():
        raise InvalidInput(f"invalid --token-name {name!r}: give 1 to 64 printable characters")
    return text


@dataclass(frozen=True)
class Access:
    """The rules in force for one server."""

    token: str | None = field(repr=False)
    open_reads: bool  # loopback host: reads need no token
    token_name: str = "api"  # who the audit trail says made a change with the token

    def _denied(self, what: str) -> HTTPException:
        if self.token is None:
            return HTTPException(403, f"{what} need an API token and none is configured: {HOW_TO_SET}")
        return HTTPException(
            401,
            f"{what} need the API token: send the header 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )

    def _has_token(self, conn: HTTPConnection) -> bool:
        if self.token is None:
            return False
        scheme, _, given = conn.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode(), self.token.encode())

    def require_change(self, conn: HTTPConnection) -> None:
        """A POST or PUT: the token, always."""
        if not self._has_token(conn):
            raise self._denied("changes")

    def require_read(self, conn: HTTPConnection) -> None:
        """A GET of data: open on a loopback host, the token otherwise."""
        if not self.open_reads and not self._has_token(conn):
            raise self._denied("reads on a non-loopback address")
