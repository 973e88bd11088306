"""`synth` flags made from settings fields, so a knob's default, bounds and help are
declared once (in synth/pipelines/settings.py or synth/engines/registry.py) and the
command line only names it:

    RUN = RunSettings()  # the defaults
    samples: Annotated[int, flag(RunSettings, "samples")] = RUN.samples

`settings_from_flags` builds the model from the values given, and a value the model
refuses is a SynthError naming the flag.
"""

from __future__ import annotations

from typing import Any, TypeVar

import typer
from annotated_types import Ge, Gt, Le
from pydantic import BaseModel, ValidationError

from synth.errors import SynthError

Model = TypeVar("Model", bound=BaseModel)


def option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def flag(model: type[BaseModel], name: str, *decls: str, **extra: Any) -> Any:
    """A typer option for `model`'s field `name`: its help and inclusive bounds from the
    field (exclusive bounds are the model's to check)."""
    field = model.model_fields[name]
    bounds: dict[str, Any] = {}
    for rule in field.metadata:
        if isinstance(rule, Ge):
            bounds["min"] = rule.ge
        elif isinstance(rule, Le):
            bounds["max"] = rule.le
        elif isinstance(rule, Gt) and isinstance(rule.gt, int):
            bounds["min"] = rule.gt + 1
    return typer.Option(*decls, help=field.description, **bounds, **extra)


def settings_from_flags(
    model: type[Model], values: dict[str, Any], flags: dict[str, str] | None = None
) -> Model:
    """`model` from flag values (by field name); a refused value names its flag (`flags`:
    the flag of a field whose flag is not named after it)."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        where = (flags or {}).get(field) or (option_name(field) if field else "options")
        raise SynthError(where, first["msg"].removeprefix("Value error, ")) from None
