"""Config checks the JSON schema cannot express about values (finite numbers, variants'
overrides, credentials), and the merge that lays a variant over the base config.

Below both :mod:`fhbench.config` and :mod:`fhbench.grid`, which call it: imports run one way.
"""

from __future__ import annotations

import copy
import functools
import math
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
    - credentials in a ``base_url`` (they would end up in logs and Snakemake's metadata);
    - tiny model sizes that cannot make a model (:func:`check_tiny`).
    """
    import jsonschema

    from fhbench.errors import InputError

    try:
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
    for name, bb in config.get("backbones", {}).items():
        if bb.get("tiny"):
            check_tiny(bb.get("architecture"), bb["tiny"], f"backbones.{name}.tiny")
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


# Hugging Face's (and MOMENT-small's) values of the sizes check_tiny relates, for keys a tiny config leaves out.
TINY_DEFAULTS = {
    "vit": {"hidden_size": 768, "num_attention_heads": 12, "image_size": 224, "patch_size": 16},
    "wav2vec2": {
        "hidden_size": 768,
        "num_attention_heads": 12,
        "num_conv_pos_embedding_groups": 16,
        "conv_dim": [512] * 7,
        "conv_stride": [5, 2, 2, 2, 2, 2, 2],
        "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    },
    "roberta": {"hidden_size": 768, "num_attention_heads": 12},
    "moment": {"seq_len": 512, "patch_len": 8},
}


def check_tiny(architecture: str, tiny: dict, where: str) -> None:
    """Sizes of a tiny model config that each pass the schema but cannot make a model together.

    Raises ``ConfigError`` naming the key: hidden_size not divisible by the attention heads (or
    wav2vec2's positional convolution groups), a ViT patch larger than the image, wav2vec2
    convolution lists of different lengths, a MOMENT patch that does not tile its input.
    """
    t = {**TINY_DEFAULTS.get(architecture, {}), **tiny}

    def fail(key: str, what: str) -> None:
        raise ConfigError(f"{where}.{key}: {what}")

    if "hidden_size" in t and "num_attention_heads" in t and t["hidden_size"] % t["num_attention_heads"]:
        fail("hidden_size", f"{t['hidden_size']} is not divisible by num_attention_heads ({t['num_attention_heads']}); make it a multiple")
    if architecture == "vit" and t["patch_size"] > t["image_size"]:
        fail("patch_size", f"{t['patch_size']} is larger than image_size ({t['image_size']}); use a smaller patch")
    if architecture == "wav2vec2":
        lengths = {k: len(t[k]) for k in ("conv_dim", "conv_stride", "conv_kernel")}
        if len(set(lengths.values())) > 1:
            fail("conv_dim", f"conv_dim, conv_stride and conv_kernel have {list(lengths.values())} entries; give one per layer in each")
        if t["hidden_size"] % t["num_conv_pos_embedding_groups"]:
            fail(
                "num_conv_pos_embedding_groups",
                f"{t['num_conv_pos_embedding_groups']} does not divide hidden_size ({t['hidden_size']}); use a divisor",
            )
    if architecture == "moment":
        if t.get("patch_stride_len", t["patch_len"]) != t["patch_len"]:
            fail("patch_stride_len", f"{t['patch_stride_len']} differs from patch_len ({t['patch_len']}); patches do not overlap")
        if t["seq_len"] % t["patch_len"]:
            fail("patch_len", f"{t['patch_len']} does not divide seq_len ({t['seq_len']}); use a divisor")


def check_options(where: str, value: object, definition: str) -> None:
    """``value`` against the config schema's ``$defs/<definition>``; ``ConfigError`` naming ``where`` and the key."""
    import jsonschema

    validator = jsonschema.Draft202012Validator({"$defs": _schema()["$defs"], "$ref": f"#/$defs/{definition}"})
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is not None:
        text = schema_error_text(error)
        raise ConfigError(f"{where}{'' if text.startswith('(top level)') else '.'}{text.removeprefix('(top level)')}")


def schema_error_text(error) -> str:
    """``<dotted key>: <what>`` for a jsonschema error; a key that is not allowed is named itself, with the keys that are."""
    path = [str(p) for p in error.absolute_path]
    instance = error.instance
    if error.validator in ("additionalProperties", "maxProperties") and isinstance(instance, dict):
        allowed = sorted(error.schema.get("properties", {})) if error.validator == "additionalProperties" else []
        extra = sorted(set(instance) - set(allowed))
        if extra:
            return f"{'.'.join([*path, str(extra[0])])}: not a key here; it accepts {allowed or 'none'}"
    return f"{'.'.join(path) or '(top level)'}: {error.message}"


def dataset_options_definition(dataset: str, kind: str) -> str | None:
    """The ``$defs`` entry of a registered dataset's ``demo`` or ``prepare`` options (None: not in the schema)."""
    datasets = _schema()["properties"]["datasets"].get("properties", {})
    ref = datasets.get(dataset, {}).get("properties", {}).get(kind, {}).get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None


def check_tiny_options(architecture: str, tiny: dict, where: str) -> None:
    """A tiny model config as the schema and :func:`check_tiny` take it (``fhbench fetch-model --tiny``)."""
    if f"tiny_{architecture}" in _schema()["$defs"]:  # a plugin architecture has no entry
        check_options(where, tiny, f"tiny_{architecture}")
    check_tiny(architecture, tiny, where)


@functools.lru_cache(maxsize=1)
def _schema() -> dict:
    return yaml.safe_load(Path(SCHEMA).read_text())


def check_finite(value, where: str) -> None:
    """Every number under ``value`` (nested dicts and lists) is finite; errors name the dotted key."""
    if isinstance(value, dict):
        for key, sub in value.items():
            check_finite(sub, f"{where}.{key}" if where else str(key))
    elif isinstance(value, (list, tuple)):
        for i, sub in enumerate(value):
            check_finite(sub, f"{where}[{i}]")
    elif isinstance(value, float) and not math.isfinite(value):
        from fhbench.errors import InputError

        raise InputError(where, f"{value} is not a finite number", "write a number")
