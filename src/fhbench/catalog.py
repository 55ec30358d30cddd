"""``fhbench list``: every algorithm, dataset and backbone, where it comes from, and each
algorithm's hyperparameters with their defaults.

Built-in entries and those of installed plugins (:mod:`fhbench.plugins`) alike. Only names,
metadata and sources are read: nothing is imported, so the listing is quick and shows a plugin
even when its module would fail to import.
"""

from __future__ import annotations

from fhbench.registry import LazyRegistry

REQUIRED = "(required)"


def catalog() -> dict[str, list[dict]]:
    """Per registry (``algorithms``, ``datasets``, ``backbones``): one row per entry, built-ins first."""
    from fhbench.algorithm_schema import algorithm_schemas
    from fhbench.algorithms import ALGORITHMS
    from fhbench.data import DATASETS
    from fhbench.models import BACKBONES
    from fhbench.plugins import PluginError

    listing = {
        "algorithms": _rows(ALGORITHMS),
        "datasets": _rows(DATASETS),
        "backbones": _rows(BACKBONES),
    }
    for row in listing["algorithms"]:
        try:
            properties = algorithm_schemas([row["name"]])[row["name"]].get("properties", {})
        except PluginError as error:  # listed all the same: the listing is where one looks for what is installed
            row["hyperparameters"], row["error"] = {}, error.what
            continue
        row["hyperparameters"] = {key: spec.get("default", REQUIRED) for key, spec in properties.items()}
    return listing


def _rows(registry: LazyRegistry) -> list[dict]:
    return [{"name": name, "from": registry.origin(name), "entry": registry.spec(name)} for name in registry]


def render(listing: dict[str, list[dict]]) -> str:
    """The listing as aligned text, one block per registry."""
    blocks = []
    for kind, rows in listing.items():
        plugins = sum(row["from"] != "built-in" for row in rows)
        header = f"{kind}: {len(rows)} ({len(rows) - plugins} built-in, {plugins} from installed plugins)"
        if kind == "algorithms":
            table = [("name", "from", "hyperparameters (default)")]
            table += [(r["name"], r["from"], _hyperparameters(r)) for r in rows]
        else:
            table = [("name", "from", "entry")] + [(r["name"], r["from"], r["entry"]) for r in rows]
        widths = [max(len(line[i]) for line in table) for i in range(2)]
        lines = [f"  {a:<{widths[0]}}  {b:<{widths[1]}}  {c}".rstrip() for a, b, c in table]
        blocks.append("\n".join([header, *lines]))
    return "\n\n".join(blocks)


def _hyperparameters(row: dict) -> str:
    if "error" in row:
        return f"(unusable: {row['error']})"
    return "  ".join(f"{key}={_show(value)}" for key, value in row["hyperparameters"].items()) or "-"


def _show(value: object) -> str:
    """A default as the config's YAML writes it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
