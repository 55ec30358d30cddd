"""Registries whose entries are imported on first use.

Listing or checking names (config validation, ``snakemake -n``) must not pay for importing
torch, transformers and every dataset reader; only the entry actually used is imported.
A registry with an entry-point ``group`` also holds the entries installed distributions
declare there (:mod:`fhbench.plugins`), found on first access to its names.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

BUILTIN = "built-in"


def import_attribute(spec: str) -> Any:
    """``"package.module:attribute"`` to the attribute, importing the module."""
    module, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module), attribute)


class LazyRegistry(Mapping):
    """A read-only mapping of name → ``"module:attribute"``, resolved (and cached) on access.

    With ``instantiate=True`` the attribute is a class and the registry holds one instance of it.
    ``group`` names the entry-point group whose plugins join the built-in ``entries``; a plugin's
    attribute must be (an instance or subclass of) ``base`` (a ``module:attribute`` spec) whose
    ``name_attribute`` equals the entry's name.
    """

    def __init__(
        self,
        entries: dict[str, str],
        instantiate: bool = False,
        group: str | None = None,
        base: str | None = None,
        name_attribute: str | None = None,
    ):
        self._entries = dict(entries)
        self._instantiate = instantiate
        self._group, self._base, self._name_attribute = group, base, name_attribute
        self._plugins: dict | None = None
        self._loaded: dict[str, Any] = {}

    @property
    def builtin(self) -> tuple[str, ...]:
        """The names of fhbench's own entries, in registry order (without any plugin's)."""
        return tuple(self._entries)

    @property
    def plugins(self) -> dict:
        """name → :class:`fhbench.plugins.Plugin` of the installed entries of this registry's group."""
        if self._plugins is None:
            from fhbench.plugins import discover

            self._plugins = discover(self._group, self._entries) if self._group else {}
        return self._plugins

    def origin(self, name: str) -> str:
        """Where an entry comes from: ``built-in`` or the distribution that declares it."""
        return BUILTIN if name in self._entries else self.plugins[name].distribution

    def spec(self, name: str) -> str:
        """The entry's ``module:attribute``."""
        return self._entries[name] if name in self._entries else self.plugins[name].value

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            if name in self._entries:
                value = import_attribute(self._entries[name])
            else:
                from fhbench.plugins import load

                base = import_attribute(self._base) if self._base else None
                value = load(self.plugins[name], base, self._name_attribute)
            self._loaded[name] = value() if self._instantiate else value
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._entries
        yield from (name for name in self.plugins if name not in self._entries)

    def __len__(self) -> int:
        return len(self._entries) + len(self.plugins)

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self.plugins
