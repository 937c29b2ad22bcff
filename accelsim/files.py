"""Writing outputs safely: never a half-written file, and a clear error where it cannot be written.

- Atomic: the data goes to a temporary file in the target's folder, which is then renamed into place.
- Permissions as with any other tool: a new file gets ``0666 & ~umask``; a file that is replaced keeps
  its mode.
- Only regular files are replaced. A directory, device, FIFO or socket at the target is an error (renaming
  over ``/dev/full`` as root would replace the device node itself).
- A symbolic link is written through: the file it points to is replaced (or created, if the link dangles)
  and the link itself stays.
- Folders are created only when the caller asks (``parents=True``: a tool writing inside its own output
  folder). Otherwise a missing folder is an error: a mistyped ``--trace out/x.json`` must not leave a new
  folder behind.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from accelsim.errors import AccelsimError


def _shown(path: Path | str) -> str:
    text = str(path)
    return text if text.isprintable() else text.encode("unicode_escape", "backslashreplace").decode("ascii")


def _fail(path: Path, why: str) -> AccelsimError:
    return AccelsimError(f"{_shown(path)}: cannot write: {why}")


def _existing(path: Path) -> tuple[Path, os.stat_result | None]:
    """The file to replace (``path``, or what the symlink ``path`` points to) and its status, if it exists."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return path, None
    except NotADirectoryError:
        raise _fail(path, f"{_shown(path.parent)} is not a folder") from None
    except OSError as exc:
        raise _fail(path, exc.strerror or str(exc)) from None
    except ValueError:
        raise _fail(path, "the file name contains a NUL character") from None
    if not stat.S_ISLNK(info.st_mode):
        return path, info
    target = Path(os.path.realpath(path))
    try:
        return target, os.stat(target)
    except FileNotFoundError:
        return target, None  # a dangling link: create the file it names
    except OSError as exc:
        raise _fail(path, f"symbolic link to {_shown(target)}: {exc.strerror or exc}") from None


def atomic_write_bytes(path: str | Path, data: bytes, *, parents: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (see the module docstring for what is refused).

    ``parents``: create missing folders on the way to ``path``; when False, a missing folder is an
    AccelsimError ("folder X does not exist").
    """
    path = Path(path)
    target, info = _existing(path)
    mode = None
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise _fail(path, "is a directory, expected a file name")
        if not stat.S_ISREG(info.st_mode):
            raise _fail(path, "is not a regular file (a device, FIFO or socket); refusing to replace it")
        mode = stat.S_IMODE(info.st_mode)
    folder = target.parent
    if not folder.is_dir():
        if folder.exists():
            raise _fail(path, f"{_shown(folder)} is not a folder")
        if not parents:
            raise _fail(path, f"folder {_shown(folder)} does not exist")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _fail(path, f"cannot create folder {_shown(folder)}: {exc.strerror or exc}") from None
    tmp, fd = _temporary(path, target, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _fail(path, exc.strerror or str(exc)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _temporary(path: Path, target: Path, mode: int | None) -> tuple[Path, int]:
    """A new file beside ``target``: with the mode of the file it replaces, else 0666 minus the umask."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, flags, 0o600 if mode is not None else 0o666)  # the kernel applies the umask
        except FileExistsError:
            continue
        except OSError as exc:
            raise _fail(path, exc.strerror or str(exc)) from None
        if mode is not None:
            os.fchmod(fd, mode)  # our own new file: the owner may always change its mode
        return tmp, fd
    raise _fail(path, "cannot create a temporary file beside it")


def atomic_write_text(path: str | Path, text: str, *, parents: bool = False) -> None:
    """:func:`atomic_write_bytes` of ``text`` in UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"), parents=parents)
