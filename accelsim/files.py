"""Writing outputs safely: never a half-written file, and a clear error where it cannot be written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: str | Path, data: bytes, parents: bool = True) -> None:
    """Write to a temporary file in the same folder, then rename it into place."""
    from accelsim.errors import AccelsimError

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise AccelsimError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except IsADirectoryError:
        Path(tmp).unlink(missing_ok=True)
        raise AccelsimError(f"{path}: is a directory, expected a file name") from None
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise AccelsimError(f"{path}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str, parents: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), parents)
