"""Registries whose entries are imported on first use.

Listing or checking names (config validation, ``snakemake -n``) must not pay for importing
torch, transformers and every dataset reader; only the entry actually used is imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any


def import_attribute(spec: str) -> Any:
    """``"package.module:attribute"`` to the attribute, importing the module."""
    module, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module), attribute)


class LazyRegistry(Mapping):
    """A read-only mapping of name → ``"module:attribute"``, resolved (and cached) on access.

    With ``instantiate=True`` the attribute is a class and the registry holds one instance of it.
    """

    def __init__(self, entries: dict[str, str], instantiate: bool = False):
        self._entries = dict(entries)
        self._instantiate = instantiate
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            value = import_attribute(self._entries[name])
            self._loaded[name] = value() if self._instantiate else value
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
