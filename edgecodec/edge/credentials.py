"""``${NAME}`` in a source, so that a camera's password need not sit in device.toml: the systemd
credential NAME (``$CREDENTIALS_DIRECTORY/NAME``, from the unit's ``LoadCredential=NAME:FILE``),
else the environment variable NAME. Substituted only when the source is opened: configuration
files, logs and messages keep the ``${NAME}`` form, and an unset NAME is named, never a value."""
from __future__ import annotations

import os
import re
from pathlib import Path

REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.-]*)\}")


def expand(text: str) -> str:
    """``text`` with each ``${NAME}`` replaced by its value; ValueError naming the first NAME that is unset."""
    return REFERENCE.sub(lambda m: secret(m.group(1)), text)


def secret(name: str) -> str:
    """The credential ``name`` (its file without the line end), else the environment variable ``name``."""
    folder = os.environ.get("CREDENTIALS_DIRECTORY")
    if folder and Path(folder, name).is_file():
        return Path(folder, name).read_text().rstrip("\r\n")
    if name in os.environ:
        return os.environ[name]
    raise ValueError(f"${{{name}}} is not set: no systemd credential {name} ($CREDENTIALS_DIRECTORY) and no "
                     f"environment variable {name}")
