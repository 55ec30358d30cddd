"""The config schema of each algorithm's hyperparameters, built-in or plugin.

A built-in algorithm's entry is in config.schema.yaml (with bounds and descriptions; a test
checks it against the class's dataclass fields). A plugin algorithm (:mod:`fhbench.plugins`)
has no entry there: its schema is derived from its dataclass fields, so that its keys and types
are checked like the built-ins' and a misspelt key fails naming it.

The fields are read from the module's source, without importing it, so that validating a
config (every ``snakemake -n``) does not import torch for a plugin. Fields declared plainly are
read there: in the class body of a ``@dataclass`` (or of a base class it names by import or in
the same module), annotated ``float``, ``int``, ``bool``, ``str``, ``Literal[...]`` or ``X | None``,
with literal defaults. Anything else (a computed default, an annotation of another type) is read
from the imported class instead; the result is the same, only slower.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import sys
import types
import typing
from collections.abc import Iterable
from pathlib import Path

from fhbench.errors import ConfigError

NO_DEFAULT = object()  # a field without a default, or one set by default_factory
# The names a plainly declared annotation may use; anything else is read from the imported class.
ANNOTATION_NAMES = {
    "float": float,
    "int": int,
    "bool": bool,
    "str": str,
    "None": None,
    "Literal": typing.Literal,
    "Optional": typing.Optional,
    "Union": typing.Union,
    "typing": typing,
}


class NotPlain(Exception):
    """The source does not declare the fields plainly enough to read them without importing."""


@functools.cache
def builtin_schemas() -> dict[str, dict]:
    """config.schema.yaml's ``algorithms`` entries: one per built-in algorithm."""
    import yaml

    from fhbench.schema import SCHEMA

    return yaml.safe_load(SCHEMA.read_text())["properties"]["algorithms"]["properties"]


def algorithm_schemas(names: Iterable[str] | None = None) -> dict[str, dict]:
    """The schema of each algorithm in ``names`` (default: the built-ins) that is registered."""
    from fhbench.algorithms import ALGORITHMS

    builtin = builtin_schemas()
    found = {}
    for name in builtin if names is None else names:
        if name in builtin:
            found[name] = builtin[name]
        elif name in ALGORITHMS:
            found[name] = plugin_schema(name)
    return found


def plugin_schema(name: str) -> dict:
    """The schema of a plugin algorithm's config entry, from its dataclass fields."""
    from fhbench.algorithms import ALGORITHMS

    plugin = ALGORITHMS.plugins[name]
    try:
        fields = source_fields(plugin.value)
    except NotPlain:
        fields = imported_fields(ALGORITHMS[name])
    except (ImportError, OSError, SyntaxError, ValueError) as exc:  # the module is missing or unreadable
        raise plugin.error(f"its source cannot be read ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})") from exc
    properties = {}
    for field, (annotation, default) in fields.items():
        properties[field] = type_schema(annotation) | ({} if default is NO_DEFAULT else {"default": default})
    return {"type": "object", "additionalProperties": False, "properties": properties}


def check_plugin_algorithms(config: dict) -> None:
    """Validate each plugin algorithm's ``algorithms.<name>`` entry and fill its defaults.

    Built-in entries are checked by the config schema itself, unknown names by
    :func:`fhbench.grid.check_references`.
    """
    import jsonschema

    from fhbench.algorithms import ALGORITHMS

    builtin = builtin_schemas()
    for name, params in (config.get("algorithms") or {}).items():
        if name in builtin or name not in ALGORITHMS or not isinstance(params, dict):
            continue
        schema = plugin_schema(name)
        known = schema["properties"]
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ConfigError(
                f"algorithms.{name}.{unknown[0]}: not a hyperparameter of {name} ({ALGORITHMS.origin(name)}); "
                f"its hyperparameters: {', '.join(known) or 'none'}"
            )
        for key, spec in known.items():
            if "default" in spec:
                params.setdefault(key, spec["default"])
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(params))
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path)
            raise ConfigError(f"algorithms.{name}{'.' + where if where else ''}: {error.message}")


def type_schema(annotation: object) -> dict:
    """The JSON schema of a field's type: booleans, integers, numbers, strings, literals, optional ones."""
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if annotation in simple:
        return {"type": simple[annotation]}
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        inner = type_schema(rest[0]) if len(rest) == 1 else {}
        if len(rest) < len(args) and "type" in inner:
            return {"type": [inner["type"], "null"]}
        if len(rest) < len(args) and "enum" in inner:
            return {"enum": [*inner["enum"], None]}
    return {}  # any value: the class itself checks it when it is built


def imported_fields(cls: type) -> dict[str, tuple[object, object]]:
    """name → (type, default) of an imported dataclass."""
    hints = typing.get_type_hints(cls)
    found = {}
    for field in dataclasses.fields(cls) if dataclasses.is_dataclass(cls) else ():
        found[field.name] = (hints.get(field.name), NO_DEFAULT if field.default is dataclasses.MISSING else field.default)
    return found


def source_fields(spec: str) -> dict[str, tuple[object, object]]:
    """name → (type, default) of the dataclass ``module:Class``, read from source; raises NotPlain."""
    module, _, name = spec.partition(":")
    return _class_fields(module, name, depth=0)


@functools.cache
def _parse(module: str) -> ast.Module | None:
    """The syntax tree of a module's source, found without executing it (None: stdlib or no source).

    Finding a submodule imports its parent packages (their ``__init__``), not the module itself.
    """
    import importlib.util

    if module.split(".")[0] in sys.stdlib_module_names:
        return None
    spec = importlib.util.find_spec(module)
    if spec is None:
        raise ImportError(f"no module named {module!r}")
    if not spec.origin or not spec.origin.endswith(".py"):
        return None
    return ast.parse(Path(spec.origin).read_text(encoding="utf-8"), spec.origin)


def _class_fields(module: str, name: str, depth: int) -> dict[str, tuple[object, object]]:
    tree = _parse(module)
    if tree is None:
        return {}  # a class of the standard library (ABC, Protocol, ...) adds no hyperparameter
    if depth > 20:
        raise NotPlain(f"{module}:{name}: base classes nested too deep")
    node = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name), None)
    if node is None:
        raise NotPlain(f"{module} defines no class {name} at top level")
    fields: dict[str, tuple[object, object]] = {}
    for base in reversed(node.bases):  # dataclasses collect fields along the reversed MRO
        fields.update(_class_fields(*_resolve(tree, module, base), depth + 1))
    if not any(_is_dataclass_decorator(d) for d in node.decorator_list):
        return fields
    for stmt in node.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and not _is_classvar(stmt.annotation):
            fields[stmt.target.id] = (_annotation(stmt.annotation), _default(stmt.value))
    return fields


def _resolve(tree: ast.Module, module: str, base: ast.expr) -> tuple[str, str]:
    """(module, class) of a base class named in ``module``: defined there or imported by name."""
    if not isinstance(base, ast.Name):
        raise NotPlain(f"{module}: base class {ast.unparse(base)} is not a plain name")
    if any(isinstance(n, ast.ClassDef) and n.name == base.id for n in tree.body):
        return module, base.id
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if (alias.asname or alias.name) == base.id:
                    return node.module, alias.name
    raise NotPlain(f"{module}: base class {base.id} is neither defined nor imported by name there")


def _is_dataclass_decorator(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    return (isinstance(target, ast.Name) and target.id == "dataclass") or (isinstance(target, ast.Attribute) and target.attr == "dataclass")


def _is_classvar(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.startswith(("ClassVar", "typing.ClassVar"))
    target = node.value if isinstance(node, ast.Subscript) else node
    return (isinstance(target, ast.Name) and target.id == "ClassVar") or (isinstance(target, ast.Attribute) and target.attr == "ClassVar")


def _annotation(node: ast.expr) -> object:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a quoted annotation
        node = ast.parse(node.value, mode="eval").body
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    if not names <= set(ANNOTATION_NAMES):
        raise NotPlain(f"annotation {ast.unparse(node)} uses {sorted(names - set(ANNOTATION_NAMES))}")
    try:
        return eval(compile(ast.Expression(node), "<annotation>", "eval"), {"__builtins__": {}}, dict(ANNOTATION_NAMES))  # noqa: S307 - names checked above
    except Exception as exc:  # noqa: BLE001 - e.g. int | "x": whatever it is, the imported class says it better
        raise NotPlain(f"annotation {ast.unparse(node)}: {exc}") from None


def _default(node: ast.expr | None) -> object:
    if node is None:
        return NO_DEFAULT
    if isinstance(node, ast.Call) and _call_name(node) == "field":
        keywords = {k.arg: k.value for k in node.keywords}
        if "default" in keywords:
            return _literal(keywords["default"])
        if "default_factory" in keywords:
            return NO_DEFAULT
        raise NotPlain(f"field(...) without a default: {ast.unparse(node)}")
    return _literal(node)


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _literal(node: ast.expr) -> object:
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise NotPlain(f"default {ast.unparse(node)} is not a literal") from None
