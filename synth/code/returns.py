"""Return annotations as type specs the harness checks results against (harness.py).

Parsed here, on the host, from the solution's syntax tree: the harness never evaluates an
annotation (which would run model code, or see a rebound `int`). Only annotations that name
plain built-in types make a spec: `int`, `list[int]`, `Optional[str]`, `dict[str, list[int]]`,
`tuple[int, ...]`, `int | None`; a bare container (`list`) means plain values all the way
down. Anything else (a class of the solution's, `Any`, an iterator) is not checked.
A spec is a list: [kind, *argument specs], and the top level ends with the annotation's text.
"""

from __future__ import annotations

import ast

from synth.python_ast import parse_python

_SCALARS = {"int", "float", "bool", "str", "bytes", "complex"}
_CONTAINERS = {"list": "list", "List": "list", "set": "set", "Set": "set", "frozenset": "frozenset",
               "FrozenSet": "frozenset", "dict": "dict", "Dict": "dict", "tuple": "tuple",
               "Tuple": "tuple"}  # fmt: skip


def return_types(code: str) -> dict[str, list]:
    """{function name: spec} for the top-level functions whose return annotation is plain."""
    try:
        tree = parse_python(code)
    except (SyntaxError, ValueError):
        return {}
    specs = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        spec = _spec(node.returns) if node.returns is not None else None
        shown = ast.unparse(node.returns) if node.returns is not None else ""
        if spec is None or spec == ["any"]:
            spec = ["honest"]  # no plain type to hold it to: its values must compare honestly
        specs[node.name] = [*spec, shown]
    return specs


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.attr if node.value.id in ("typing", "builtins") else None
    return None


def _spec(node: ast.expr) -> list | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            return _spec(parse_python(node.value, mode="eval").body)
        except SyntaxError:
            return None
    if isinstance(node, ast.Constant) and node.value is None:
        return ["none"]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = _spec(node.left), _spec(node.right)
        return ["union", left, right] if left and right else None
    name = _name(node)
    if name is not None:
        if name in _SCALARS:
            return [name]
        if name == "None":
            return ["none"]
        if name in _CONTAINERS:
            return ["plain"]  # a bare container: plain values inside
        if name == "Any":
            return ["any"]
        return None
    if isinstance(node, ast.Subscript):
        outer = _name(node.value)
        inner = node.slice
        args = list(inner.elts) if isinstance(inner, ast.Tuple) else [inner]
        if outer in ("Optional",) and len(args) == 1:
            spec = _spec(args[0])
            return ["union", spec, ["none"]] if spec else None
        if outer == "Union":
            specs = [_spec(a) for a in args]
            return ["union", *specs] if all(specs) else None
        kind = _CONTAINERS.get(outer or "")
        if kind is None:
            return None
        if kind == "tuple":
            if len(args) == 2 and isinstance(args[1], ast.Constant) and args[1].value is ...:
                item = _spec(args[0]) or ["any"]
                return ["tuple_of", item]
            items = [_spec(a) or ["any"] for a in args]
            return ["tuple", *items]
        if kind == "dict":
            if len(args) != 2:
                return None
            return ["dict", _spec(args[0]) or ["any"], _spec(args[1]) or ["any"]]
        if len(args) != 1:
            return None
        return [kind, _spec(args[0]) or ["any"]]
    return None
