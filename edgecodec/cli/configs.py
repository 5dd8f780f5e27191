"""Commands configured by a TOML file and flags (``daemon``, ``serve``): the configuration and --validate-config."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")


def configure(args: argparse.Namespace, model: type[M], fields: tuple[str, ...]) -> M:
    """The --config file's values with the named flags on top, validated as ``model``."""
    from ..common.config import build_config

    return build_config(model, args.config, {f: getattr(args, f) for f in fields})


def report_valid(args: argparse.Namespace, model: str | None) -> int:
    """--validate-config: load the model it names, if any (it must load), and say so."""
    where = args.config or "configuration"
    if model is not None:
        from ..checkpoint import ModelLoadError, load_model

        try:
            load_model(model)
        except ModelLoadError as e:
            raise ValueError(f"{where}: model: {e}") from None
    print(f"{where}: valid")
    return 0
