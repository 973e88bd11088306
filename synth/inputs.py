"""Files users hand to synth: YAML settings validated into pydantic models, and JSONL files,
read with errors that name the file, the line and the field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from synth.errors import SynthError

Model = TypeVar("Model", bound=BaseModel)


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SynthError(str(path), f"cannot read the config: {exc}") from None
    except yaml.YAMLError as exc:
        raise SynthError(str(path), f"not valid YAML: {exc}") from None


def validated(model: type[Model], data: Any, where: str, shape: str) -> Model:
    """`data` as a `model`; `shape` says what the mapping holds when it is not one."""
    if not isinstance(data, dict):
        raise SynthError(where, f"a {shape}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise SynthError(f"{where}: {field}", first["msg"].removeprefix("Value error, ")) from None


def read_jsonl(path: Path, what: str) -> Iterator[tuple[str, Any]]:
    """(where, parsed line) for each non-blank line; `what` names the file in errors."""
    try:
        lines = path.read_text(encoding="utf-8").split("\n")  # not splitlines: U+2028 is text
    except FileNotFoundError:
        raise SynthError(str(path), f"{what} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SynthError(str(path), f"cannot read the {what}: {exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            yield where, json.loads(line)
        except json.JSONDecodeError as exc:
            raise SynthError(where, f"not valid JSON: {exc.msg}") from None
