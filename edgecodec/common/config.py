"""Configuration files: the base of every configuration model, reading TOML into one (errors as one line),
checks shared by the models, and writing TOML values."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class ConfigModel(BaseModel):
    """A configuration table: unknown keys are errors, and a validated configuration never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


M = TypeVar("M", bound=ConfigModel)


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file; raises ValueError/OSError with the file name."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: not valid TOML ({e})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not valid TOML (not UTF-8 text)") from None
    except FileNotFoundError:
        raise OSError(f"config file {path} does not exist") from None


def build_config(model: type[M], path: str | Path | None, overrides: dict[str, Any]) -> M:
    """The file's values, then every override that is not None (command-line flags win)."""
    data = read_toml(path) if path else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ValueError(f"{path or 'configuration'}: {one_line(e)}") from None


def check_listen(value: str) -> str:
    """A ``HOST:PORT`` (pattern-checked) whose port is 0..65535; an empty HOST means every interface."""
    port = int(value.rpartition(":")[2])
    if port > 65535:
        raise ValueError(f"port {port} of {value!r} is out of range (0..65535)")
    return value


ListenAddress = Annotated[str, AfterValidator(check_listen)]  # a config field's type: HOST:PORT, port checked


def one_line(error: ValidationError) -> str:
    """All validation errors of a model in one line: 'field: message; field: message' (our checks' own words)."""
    parts = []
    for err in error.errors():
        where = ".".join(str(p) for p in err["loc"]) or "config"
        msg = str(err["ctx"]["error"]) if err["type"] == "value_error" else err["msg"]
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


def toml_value(value: Any) -> str:
    """One TOML value: booleans, numbers, strings (basic strings accept JSON's escapes), lists."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write a {type(value).__name__} to TOML")
