"""Loading and validating the experiment config against the JSON schema in ``config/schemas``.

Snakemake validates the same schema through ``snakemake.utils.validate``; this module gives
the package and tests the same check, with the offending key spelled as a dotted path.
"""

from __future__ import annotations

from pathlib import Path

import yaml

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

    check_references(config)
    return config


def load_config(path: str | Path) -> dict:
    return validate_config(yaml.safe_load(Path(path).read_text()))
