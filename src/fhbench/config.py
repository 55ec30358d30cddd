"""Loading and validating the experiment config against the JSON schema in ``config/schemas``.

Snakemake validates the same schema through ``snakemake.utils.validate``; this module gives
the package and tests the same check, with the offending key spelled as a dotted path.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from fhbench.config_values import check_values  # noqa: F401 - checked with the schema, kept importable here
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
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ValueError(f"config key {where}: {error.message}")
    from fhbench.grid import check_references
    from fhbench.tuning import check_config as check_tuning

    check_references(config)
    check_tuning(config)
    return config


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error (PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice (lines {seen[key] + 1} and {key_node.start_mark.line + 1})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def load_yaml(path: str | Path):
    """A YAML file (config or resolved run config), refusing duplicated keys and naming the file and line."""
    from fhbench.errors import InputError

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "is a directory, not a YAML file" if path.is_dir() else "does not exist", "give the YAML config file")
    try:
        return yaml.load(path.read_text(), Loader=_UniqueKeyLoader)
    except yaml.constructor.ConstructorError as exc:
        raise InputError(f"{path}:{exc.problem_mark.line + 1}", exc.problem, "keep one of them") from None
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
