"""Small helpers for writing outputs atomically, so a crash never leaves a half-written file."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def path_kind(path: str | os.PathLike) -> str | None:
    """What is at ``path`` (links followed): "file", "directory", a special kind, or None for nothing."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None  # nothing there, or a dangling link (replacing the link loses nothing)
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    return next((name for test, name in SPECIAL_KINDS if test(mode)), "special file")


SPECIAL_KINDS = (
    (stat.S_ISFIFO, "named pipe"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
)


def check_replaceable(target: str | os.PathLike, option: str | None = None, folder: bool | None = None) -> Path:
    """``target`` may be written by an output: nothing is there, or what is there is replaceable.

    Never replaced: a named pipe, device or socket (a JSON file would stand where ``/dev/full``
    was), a path under a file, an existing file by a folder, an existing folder by a file
    (``folder`` says which the output is; None: not known yet). Raises InputError naming it.
    """
    from fhbench.errors import InputError

    target = Path(target)
    where = f"{option} {target}" if option else target
    for parent in target.parents:
        kind = path_kind(parent)
        if kind == "directory":
            break
        if kind is not None:
            raise InputError(where, f"{parent} is a {kind}, not a directory", "give a path inside a directory")
    kind = path_kind(target)
    if kind not in (None, "file", "directory"):
        raise InputError(where, f"is a {kind}, not a file or folder this command may replace", "give the path of a regular file or folder")
    if kind == "directory" and folder is False and not target.is_symlink():
        raise InputError(where, "is an existing directory; it would be replaced by a file", "give a file path")
    if kind == "file" and folder is True:
        raise InputError(where, "is an existing file; it would be replaced by a folder", "remove it or choose another output path")
    return target


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling path; move it onto ``target`` only if the block succeeds.

    Works for files and directories: whatever the block creates at the yielded path replaces
    ``target`` in one rename. Only what an output may replace is replaced
    (:func:`check_replaceable`): a file by a file, and a directory only by a directory holding
    every name it holds (an earlier version of the same output), so that nothing this call did
    not write is ever deleted; otherwise :class:`fhbench.errors.InputError`, target untouched.
    An error raised in the block names ``target``, never the temporary path, which is gone.
    """
    from fhbench.errors import InputError

    target = check_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    work = tmp / target.name
    try:
        try:
            yield work
        except BaseException as exc:
            _name_target(exc, {str(work): str(target), str(tmp): str(target.parent)})
            raise
        check_replaceable(target, folder=work.is_dir())
        if target.is_dir() and not target.is_symlink():
            # Snakemake marks the directory outputs it made with this file: it is not the user's.
            foreign = sorted({p.name for p in target.iterdir()} - {p.name for p in work.iterdir()} - {".snakemake_timestamp"})
            if foreign:
                raise InputError(
                    target,
                    f"exists and holds {', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}, which this output does not",
                    "remove the folder or choose another output path",
                )
            shutil.rmtree(target)
        os.replace(work, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _name_target(exc: BaseException, renames: dict[str, str]) -> None:
    """Rewrite, in place, the temporary paths an exception (and its causes) mention as the output's own."""

    def renamed(value):
        if isinstance(value, str):
            for old, new in renames.items():  # the longer (work) path first
                value = value.replace(old, new)
        return value

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc.args = tuple(renamed(a) for a in exc.args)
        for attribute in ("where", "what", "todo", "filename", "filename2"):
            if isinstance(getattr(exc, attribute, None), str):
                try:
                    setattr(exc, attribute, renamed(getattr(exc, attribute)))
                except AttributeError:
                    pass
        exc = exc.__cause__ or exc.__context__


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1) + "\n")


def read_json(path: str | os.PathLike):
    return json.loads(Path(path).read_text())


def write_texts(outputs: dict) -> None:
    """Write several text files, each atomically: ``{path: text}``."""
    for path, text in outputs.items():
        with atomic_path(path) as tmp:
            tmp.write_text(text)
