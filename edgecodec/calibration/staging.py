"""All outputs appear together, or none do.

Everything is written into a hidden staging folder inside the output folder; only after the
last step succeeds are its entries moved into place (each a rename, replacing an earlier
calibration's file of the same name); the ``owned`` names an earlier run wrote and this one did
not (an adapted encoder that is no longer shipped) are removed. On failure the staging folder is removed, and so is the
output folder if this run created it.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType


class Staging:
    """``with Staging(out) as stage: write into stage...`` -> moved into ``out`` on success."""

    def __init__(self, out: Path, owned: tuple[str, ...] = ()):
        self.out = out
        self.owned = owned
        self.created = False
        self.path = out

    def __enter__(self) -> Path:
        if self.out.exists() and not self.out.is_dir():
            raise NotADirectoryError(f"output {self.out} exists and is not a folder")
        self.created = not self.out.exists()
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            self.path = Path(tempfile.mkdtemp(dir=self.out, prefix=".calibrate-"))
        except OSError as e:
            self._remove_output()
            raise PermissionError(f"cannot write into output folder {self.out} ({e.strerror})") from None
        return self.path

    def __exit__(self, kind: type | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self._publish()
        shutil.rmtree(self.path, ignore_errors=True)
        if kind is not None:
            self._remove_output()

    def _publish(self) -> None:
        staged = sorted(self.path.iterdir())
        for name in {e.name for e in staged} | set(self.owned):
            target = self.out / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
        for entry in staged:
            entry.replace(self.out / entry.name)

    def _remove_output(self) -> None:
        if self.created:
            shutil.rmtree(self.out, ignore_errors=True)
