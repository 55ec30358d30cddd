"""Config checks the JSON schema cannot express about values (finite numbers, variants'
overrides, credentials), and the merge that lays a variant over the base config.

Below both :mod:`fhbench.config` and :mod:`fhbench.grid`, which call it: imports run one way.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from fhbench.errors import ConfigError
from fhbench.schema import SCHEMA


def deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else copy.deepcopy(value)
    return out


def check_values(config: dict) -> None:
    """What the schema lets through but no run can use; raises ``ConfigError`` naming the key.

    - a number that is NaN or infinite (YAML's ``.nan``, ``.inf`` pass ``minimum`` checks);
    - a variant's overrides, checked as the base config's sections they override (a misspelt
      ``training: {roundz: 2}`` or a wrong type would otherwise be ignored or fail mid-run);
    - credentials in a ``base_url`` (they would end up in logs and Snakemake's metadata).
    """
    import jsonschema

    from fhbench.errors import InputError

    try:
        from fhbench.validate import check_finite

        check_finite(config, "")
    except InputError as error:
        raise ConfigError(str(error)) from None
    for name, ds in config.get("datasets", {}).items():
        url = ds.get("base_url") or ""
        if "@" in url.split("://", 1)[-1].split("/", 1)[0]:
            from fhbench.errors import redact

            raise ConfigError(
                f"datasets.{name}.base_url: {redact(url)} holds credentials, which would be written to logs and "
                "Snakemake's metadata; remove them and put them in ~/.netrc or FHBENCH_DOWNLOAD_AUTH (docs/bad-input.md)"
            )
    from fhbench.algorithm_schema import algorithm_schemas as schemas_of
    from fhbench.algorithm_schema import check_plugin_algorithms

    check_plugin_algorithms(config)  # plugin algorithms: keys, types and defaults from their dataclass fields
    schema = yaml.safe_load(Path(SCHEMA).read_text())
    defs = schema["$defs"]
    algorithm_schemas = schemas_of(config.get("algorithms") or {})

    def check(where: str, value: dict, sub: dict) -> None:
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator({"$defs": defs, **sub}).iter_errors(value))
        if error is not None:
            path = ".".join(str(p) for p in error.absolute_path)
            if error.validator == "additionalProperties":  # name the misspelt key itself
                extra = sorted(set(value if not path else {}) - set(sub.get("properties", {})))
                path = path or (extra[0] if extra else "")
            raise ConfigError(f"{where}{'.' + path if path else ''}: {error.message}")

    used_with = {}  # variant -> algorithms it is crossed with
    for exp in config.get("experiments", {}).values():
        for variant in exp.get("variants", ["default"]):
            used_with.setdefault(variant, set()).update(exp.get("algorithms", []))
    for name, variant in config.get("variants", {}).items():
        if "training" in variant:
            check(f"variants.{name}.training", deep_merge(config.get("training", {}), variant["training"]), defs["training"])
        if "lora" in variant:
            for bb in config.get("backbones", {}).values():
                check(f"variants.{name}.lora", deep_merge(bb.get("lora", {}), variant["lora"]), defs["lora"])
        if "algorithm" in variant:
            for algorithm in sorted(used_with.get(name, ())):
                if algorithm in algorithm_schemas and algorithm in config.get("algorithms", {}):
                    merged = deep_merge(config["algorithms"][algorithm], variant["algorithm"])
                    sub = {**algorithm_schemas[algorithm], "additionalProperties": True}  # names are checked per experiment
                    check(f"variants.{name}.algorithm", merged, sub)
