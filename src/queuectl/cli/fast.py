"""The lean front: the read-only commands without typer, click, rich or redis-py.

Importing those four costs about 200 ms, most of the run time of `queuectl status --json`, and a
read command needs none of them (a table needs rich, which the command body imports itself).
`run` recognises the plain shapes of `helpers list`, `status [--check]`, `queue show` and
`history` (their documented options, `--json` included, and the global options before the
command), opens the App on the standard-library Redis client (queuectl.resp) and runs the very
command body the Typer command runs (cli/reads.py), so output and exit codes are the same.
Anything it does not fully recognise returns None and the Typer application runs instead: help,
unknown or doubtful options, TLS or Sentinel URLs, an embedded server that is not running yet
(Typer starts it and says so), any unexpected error. QUEUECTL_FAST_PATH=0 turns this front off.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from ..app import App

Command = Callable[[Callable[[], "App"]], int]

# option string -> (key, takes a value); the root's are those of commands.root that reads use
_ROOT = {"--redis-url": ("redis_url", True), "--helpers-dir": ("helpers_dir", True),
         "--insecure-tls": ("insecure_tls", False), "--debug": ("debug", False),
         "--verbose": ("verbose", False), "-v": ("verbose", False)}
_JSON = {"--json": ("as_json", False)}
_STATUS = {**_JSON, "--check": ("check", False)}
_LIMIT = {"--limit": ("limit", True), "-n": ("limit", True)}
_QUEUE_SHOW = {**_JSON, **_LIMIT, "--helper": ("helper", True)}
_HISTORY = {**_QUEUE_SHOW, "--status": ("status", True), "--since": ("since", True)}
MAX_LIMIT = 100000  # the Typer options' max


class Decline(Exception):
    """This command line is for the Typer application."""


def run(argv: list[str]) -> int | None:
    """The exit code of the command, or None when the Typer application must run it."""
    if os.environ.get("QUEUECTL_FAST_PATH", "1") == "0" or "_QUEUECTL_COMPLETE" in os.environ:
        return None  # turned off, or click's shell completion (its words come through the env)
    try:
        flags, command = parse(argv)
    except Decline:
        return None
    from ..errors import QueuectlError
    from .render import report_error

    try:
        return command(lambda: _open(flags))
    except Decline:
        return None
    except (QueuectlError, KeyboardInterrupt) as exc:
        return report_error(exc)
    except Exception:  # noqa: BLE001 - not ours to judge: Typer's path runs it and reports
        return None


def parse(argv: list[str]) -> tuple[dict[str, Any], Command]:
    """(settings flags as the Typer root gives them, the command to run), or Decline."""
    root, rest = _scan(argv, _ROOT, stop_at_word=True)
    flags = {k: root[k] for k in ("redis_url", "helpers_dir") if k in root}
    if root.get("insecure_tls"):
        flags["insecure_tls"] = True
    from . import reads

    if rest[:2] == ["helpers", "list"]:
        opts, _ = _scan(rest[2:], _JSON)
        as_json = bool(opts.get("as_json"))
        return flags, lambda open_app: reads.helpers_list(open_app, as_json=as_json)
    if rest[:1] == ["status"]:
        opts, _ = _scan(rest[1:], _STATUS)
        as_json, check = bool(opts.get("as_json")), bool(opts.get("check"))
        return flags, lambda open_app: reads.status(open_app, as_json=as_json, check=check)
    if rest[:2] == ["queue", "show"]:
        opts, _ = _scan(rest[2:], _QUEUE_SHOW)
        limit = _limit(opts.get("limit"), 20)
        return flags, lambda open_app: reads.queue_show(open_app, limit=limit, helper=opts.get("helper"),
                                                        as_json=bool(opts.get("as_json")))
    if rest[:1] == ["history"]:
        opts, _ = _scan(rest[1:], _HISTORY)
        limit = _limit(opts.get("limit"), 50)
        return flags, lambda open_app: reads.history(open_app, helper=opts.get("helper"), status=opts.get("status"),
                                                     since=opts.get("since"), limit=limit,
                                                     as_json=bool(opts.get("as_json")))
    raise Decline


def _scan(tokens: list[str], table: dict[str, tuple[str, bool]], *,
          stop_at_word: bool = False) -> tuple[dict[str, Any], list[str]]:
    """Options as click reads them (the last value wins; `--opt=v`, `-nV` and `-vv` forms), and
    the tokens after the first word when `stop_at_word`. Anything else declines."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if not token.startswith("-") or token == "-":
            if stop_at_word:
                return out, tokens[i - 1:]
            raise Decline
        value: str | None = None
        if token in table:
            key, takes_value = table[token]
            if takes_value:
                if i >= len(tokens):
                    raise Decline
                value, i = tokens[i], i + 1
        elif token.startswith("--"):
            name, _, value = token.partition("=")
            if name not in table or not table[name][1] or "=" not in token:
                raise Decline
            key = table[name][0]
        elif token[:2] in table and table[token[:2]][1]:
            key, value = table[token[:2]][0], token[2:]  # -n5
        elif token[:2] in table and token[1:] == token[1] * (len(token) - 1):
            key = table[token[:2]][0]  # -vv
        else:
            raise Decline
        if value is None:
            out[key] = out.get(key, 0) + 1
        elif not value or value.startswith("-"):
            raise Decline  # click would take it, but it is more likely a mistake: let click decide
        else:
            out[key] = value
    if stop_at_word:
        raise Decline  # no command: Typer shows the help
    return out, []


def _limit(text: str | None, default: int) -> int:
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise Decline  # click reports bad numbers with its own usage message
    return int(text)


def _open(flags: dict[str, Any]) -> "App":
    """The App on the lean client, with settings resolved exactly as the Typer front does."""
    from ..app import open_lean_app
    from ..config import resolve

    app_ = open_lean_app(resolve(flags))
    if app_ is None:
        raise Decline
    return app_
