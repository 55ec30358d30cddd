"""The one error users see for bad input, in the one format the CLI and the workflow print.

``fhbench: error: <file or key>: <what is wrong>; <what to do>`` — raised at the boundary
where input enters (:mod:`fhbench.validate`, config checks, downloads) and printed without a
traceback by :func:`fhbench.cli.main` and by workflow scripts (:func:`fhbench.logs.to_log_file`).
"""

from __future__ import annotations

import re

# Exit status of a command or workflow script stopped by bad input (argparse uses 2 as well).
BAD_INPUT_EXIT = 2
PREFIX = "fhbench: error: "


class InputError(ValueError):
    """Bad input, caught before any work: ``where`` names the file or key, ``what`` the fault, ``todo`` the fix."""

    def __init__(self, where: object, what: str, todo: str = ""):
        self.where, self.what, self.todo = str(where), what, todo
        super().__init__(f"{self.where}: {what}" + (f"; {todo}" if todo else ""))


_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@\s:]*)(?::[^/@\s]*)?@")


def redact(text: object) -> str:
    """``text`` with the password of every URL in it replaced by ``***`` (user names are kept)."""
    return _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@" if m["user"] else f"{m['scheme']}***@", str(text))


def error_line(exc: BaseException) -> str:
    """The single line printed for an expected error: the prefix, then the message, credentials redacted."""
    message = " ".join(str(exc).split()) if not isinstance(exc, KeyError) else str(exc.args[0] if exc.args else exc)
    return PREFIX + redact(message)


class ConfigError(ValueError):
    """A config value that passed the schema but contradicts another part of the config."""


class DownloadError(RuntimeError):
    """A source file could not be fetched or failed its checksum."""


class ReportedError(Exception):
    """An expected error raised in another process (the warm worker): its line and exit status travel as they are."""

    def __init__(self, line: str, code: int, message: str | None = None):
        self.line, self.code = line, code
        super().__init__(message or (line[len(PREFIX) :] if line.startswith(PREFIX) else line))


def expected_error(exc: BaseException) -> int | None:
    """The exit status for an error a user can fix (2: bad input, 1: download, disk), None for a bug."""
    if isinstance(exc, ReportedError):
        return exc.code

    if isinstance(exc, DownloadError) or (isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError)):
        return 1
    if isinstance(exc, (ValueError, KeyError, FileNotFoundError, TypeError)):
        return BAD_INPUT_EXIT
    return None
