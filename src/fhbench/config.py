"""Loading and validating the experiment config against the JSON schema in ``config/schemas``.

Snakemake validates the same schema through ``snakemake.utils.validate``; this module gives
the package and tests the same check, with the offending key spelled as a dotted path.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from fhbench.config_values import (
    check_values,  # noqa: F401 - checked with the schema, kept importable here
    schema_error_text,
)
from fhbench.schema import SCHEMA


def validate_config(config: dict, schema_path: str | Path = SCHEMA) -> dict:
    """Fill defaults and validate; raise ``ValueError`` naming the first bad key."""
    import jsonschema

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator_cls = jsonschema.validators.validator_for(schema)

    def set_defaults(validator, properties, instance, schema):
        for name, sub in properties.items():
            if isinstance(instance, dict) and "default" in sub:
                instance.setdefault(name, sub["default"])
        yield from validator_cls.VALIDATORS["properties"](validator, properties, instance, schema)

    filling = jsonschema.validators.extend(validator_cls, {"properties": set_defaults})
    error = jsonschema.exceptions.best_match(filling(schema).iter_errors(config))
    if error is not None:
        raise ValueError(f"config key {schema_error_text(error)}")
    from fhbench.grid import check_references
    from fhbench.tuning import check_config as check_tuning

    check_references(config)
    check_tuning(config)
    return config


# The most values a config file may hold once its aliases are expanded: the paper config holds
# 771 and the demo config 916 (yaml.compose node counts), so 100x leaves room and stops an
# alias bomb (nested aliases multiplying a few lines into billions of values) at once.
MAX_YAML_VALUES = 100_000
MERGE_TAG = "tag:yaml.org,2002:merge"


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error (PyYAML keeps the last).

    Merge keys (``<<: *defaults``) work as in YAML: the keys written beside them override the
    merged ones; only keys written twice are refused.
    """

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice (lines {seen[key] + 1} and {key_node.start_mark.line + 1})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def check_expansion(root: yaml.Node, where: Path, limit: int = MAX_YAML_VALUES) -> None:
    """Refuse a document whose aliases expand it beyond ``limit`` values, or make it contain itself.

    Counted on the composed node graph, each node once (memoised), so the check costs the
    file's size, not its expansion.
    """
    from fhbench.errors import InputError

    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if id(node) in size:
            continue
        children = _children(node)
        if not expanded:
            if id(node) in on_path:
                raise InputError(
                    f"{where}:{node.start_mark.line + 1}", "holds a value that contains itself through an alias", "remove the alias"
                )
            on_path.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in size)
            continue
        on_path.discard(id(node))
        size[id(node)] = 1 + sum(size[id(child)] for child in children)
        if size[id(node)] > limit:
            raise InputError(
                f"{where}:{node.start_mark.line + 1}",
                f"expands through its aliases to more than {limit:,} values (an alias bomb?)",
                "write the values out, or nest fewer aliases",
            )


def load_yaml(path: str | Path):
    """A YAML file (config or resolved run config), refusing duplicated keys and alias bombs, naming the file and line."""
    from fhbench.errors import InputError

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "is a directory, not a YAML file" if path.is_dir() else "does not exist", "give the YAML config file")
    try:
        loader = _UniqueKeyLoader(path.read_text())
        try:
            root = loader.get_single_node()
            if root is None:
                return None
            check_expansion(root, path)
            return loader.construct_document(root)
        finally:
            loader.dispose()
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise InputError(
            f"{path}:{mark.line + 1}", exc.problem, "keep one of them" if "given twice" in str(exc.problem) else "fix the value"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        context = f" {exc.context}" if exc.context else ""
        if exc.context_mark is not None and exc.problem_mark is not None and exc.context_mark.line != exc.problem_mark.line:
            context += f" at line {exc.context_mark.line + 1}"
        raise InputError(where, f"is not valid YAML: {exc.problem}{context}", "fix the syntax") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(path, f"is not valid YAML ({' '.join(str(exc).split())[:160]})", "fix the syntax") from None


def load_config(path: str | Path) -> dict:
    return validate_config(load_yaml(path))


def retype_overrides(config: dict, overrides: Mapping) -> None:
    """Give ``--config KEY=VALUE`` values their YAML types in place.

    Snakemake parses a top-level value as int, float or bool, but reads anything structured
    (``seeds=[0]``, ``training={rounds: 5}``) with YAML's base loader, which leaves every scalar
    inside it a string; the schema would then reject ``seeds: ['0']``. Each scalar string of an
    override that YAML reads as a number, bool or null gets that value in ``config``.
    """

    def typed(value: object) -> object:
        if isinstance(value, str):
            try:
                parsed = yaml.safe_load(value)
            except yaml.YAMLError:
                return value
            return parsed if parsed is None or isinstance(parsed, (bool, int, float)) else value
        if isinstance(value, list):
            return [typed(v) for v in value]
        if isinstance(value, Mapping):
            return {k: typed(v) for k, v in value.items()}
        return value

    def walk(target: dict, values: Mapping, top: bool) -> None:
        for key, value in values.items():
            if isinstance(value, Mapping) and isinstance(target.get(key), dict):
                walk(target[key], value, top=False)
            elif not top or isinstance(value, (list, Mapping)):  # Snakemake types top-level scalars itself
                target[key] = typed(value)

    walk(config, overrides, top=True)
