"""Algorithms, datasets and backbones that other installed distributions register.

A distribution adds entries to fhbench's registries through entry points (docs/extending.md)::

    [project.entry-points."fhbench.algorithms"]
    fedrep = "fhbench_fedrep.fedrep:FedRep"

The value has the form of the built-in registries' entries (``module:attribute``). Entries are
found with :mod:`importlib.metadata`, which reads the distributions' metadata and imports
nothing; an entry's module is imported the first time the entry is used (the registries in
:mod:`fhbench.registry` call :func:`load`), so listing names and dry runs stay cheap.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from fhbench.errors import InputError

# The registries' entry-point groups, by registry (the names `fhbench list` prints).
GROUPS = {"algorithms": "fhbench.algorithms", "datasets": "fhbench.datasets", "backbones": "fhbench.backbones"}
# What the config accepts as a dataset, backbone or algorithm key (config.schema.yaml's propertyNames).
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
VALUE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class PluginError(InputError):
    """An installed plugin that cannot be used; ``where`` names the distribution and the entry."""


@dataclass(frozen=True)
class Plugin:
    """One entry point: ``name = value`` in ``group``, declared by ``distribution``."""

    group: str
    name: str
    value: str
    distribution: str  # "name version", as `fhbench list` shows where the entry comes from

    @property
    def where(self) -> str:
        return f"{self.distribution}: entry point {self.name} = {self.value} ({self.group})"

    def error(self, what: str, todo: str = "") -> PluginError:
        return PluginError(self.where, what, todo or f"fix or reinstall {self.distribution.split()[0]}, or uninstall it")


def discover(group: str, builtin: Collection[str]) -> dict[str, Plugin]:
    """The entries installed distributions declare under ``group``, by name.

    A name that is not a valid config key, a value not of the form ``module:attribute``, a
    name of a built-in entry or a name two distributions declare raises :class:`PluginError`:
    which of two entries a config means must never depend on the order of installation.
    """
    from importlib.metadata import entry_points

    found: dict[str, Plugin] = {}
    for entry in entry_points(group=group):
        dist = entry.dist
        plugin = Plugin(group, entry.name, entry.value, f"{dist.name} {dist.version}" if dist else "an unnamed distribution")
        if not NAME.match(entry.name):
            raise plugin.error(f"{entry.name!r} is not a valid name", "use lower-case letters, digits and _, starting with a letter")
        if not VALUE.match(entry.value):
            raise plugin.error(f"{entry.value!r} is not of the form module:attribute")
        if entry.name in builtin:
            raise plugin.error(
                f"{entry.name!r} is the name of a built-in entry", f"rename the entry point, or uninstall {plugin.distribution.split()[0]}"
            )
        other = found.get(entry.name)
        if other is not None and other.distribution != plugin.distribution:
            raise plugin.error(f"{other.distribution} declares {entry.name!r} too", "uninstall one of the two distributions")
        found[entry.name] = plugin
    return found


def load(plugin: Plugin, base: type | None = None, name_attribute: str | None = None) -> Any:
    """Import a plugin's attribute and check it is what its registry holds.

    ``base``: the attribute must be a subclass or an instance of it (an Algorithm class, a
    Dataset instance, a Backbone class); ``name_attribute``: the attribute (``name``, ``key``,
    ``architecture``) that must equal the entry's name, as it does for every built-in entry.
    Any failure is a one-line :class:`PluginError` naming the distribution and the entry.
    """
    import importlib

    module, _, attribute = plugin.value.partition(":")
    try:
        value = getattr(importlib.import_module(module), attribute)
    except Exception as exc:  # noqa: BLE001 - whatever the plugin's own imports raise, it is the plugin's fault
        raise plugin.error(f"cannot be imported ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from exc
    if base is not None:
        is_kind = isinstance(value, base) or (isinstance(value, type) and issubclass(value, base))
        if not is_kind:
            raise plugin.error(f"is {type(value).__name__} {value!r:.60}, not a {base.__module__}.{base.__qualname__}")
    if name_attribute is not None:
        declared = getattr(value, name_attribute, None)
        if declared != plugin.name:
            raise plugin.error(f"its {name_attribute} is {declared!r}, not the entry's name {plugin.name!r}", "make the two agree")
    return value
