"""Print the uv options that make `uv pip install` read packages from where pip is configured to.

`make env` installs with uv (tens of seconds instead of minutes), but uv does not read pip's
configuration files or PIP_* variables. On machines whose pip is pointed at local wheel folders
or mirrors (find-links, index-url, extra-index-url, a constraints file), uv must be told the same
places, or it would resolve other files (a CUDA torch from PyPI instead of the CPU wheel on disk).
This reads `pip config list` (pip's files and PIP_* variables alike) and prints one option per
line, ready for `xargs` or `$(...)`. Usage: python tools/uv_index_args.py [PIP_PYTHON]
"""

from __future__ import annotations

import ast
import subprocess
import sys

#: pip option -> uv option; pip's other settings (cert, timeout, ...) need no uv counterpart here.
OPTIONS = {
    "find-links": "--find-links",
    "index-url": "--index-url",
    "extra-index-url": "--extra-index-url",
    "constraint": "--constraint",
    "no-index": "--no-index",
}
#: pip's configuration sections that apply to `pip install` (":env:" holds the PIP_* variables).
SECTIONS = {"global", "install", ":env:"}


def pip_settings(listing: str) -> dict[str, list[str]]:
    """`pip config list` output (`section.key='value'` lines) to {key: [values]}, in order, repeated values once."""
    settings: dict[str, list[str]] = {}
    for line in listing.splitlines():
        name, sep, raw = line.partition("=")
        section, dot, key = name.rpartition(".")
        if not sep or not dot or section not in SECTIONS or key not in OPTIONS:
            continue
        value = ast.literal_eval(raw) if raw[:1] in "'\"" else raw
        for item in str(value).split():  # pip separates several URLs or paths by whitespace
            if item not in settings.setdefault(key, []):
                settings[key].append(item)
    return settings


def uv_args(settings: dict[str, list[str]]) -> list[str]:
    args: list[str] = []
    for key, values in settings.items():
        if key == "no-index":
            if values and values[-1].lower() in {"1", "true", "yes", "on"}:
                args.append(OPTIONS[key])
            continue
        for value in values:
            args += [OPTIONS[key], value]
    return args


def main(argv: list[str]) -> int:
    python = argv[1] if len(argv) > 1 else sys.executable
    listing = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True).stdout
    print("\n".join(uv_args(pip_settings(listing))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
