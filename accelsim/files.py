"""Writing outputs safely: never a half-written file, and a clear error where it cannot be written; reading an
input file of bounded size (:func:`read_regular_file`).

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

from accelsim.errors import AccelsimError, shown_path


def _fail(path: Path, why: str) -> AccelsimError:
    return AccelsimError(f"{shown_path(path)}: cannot write: {why}")


def _existing(path: Path) -> tuple[Path, os.stat_result | None]:
    """The file to replace (``path``, or what the symlink ``path`` points to) and its status, if it exists."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return path, None
    except NotADirectoryError:
        raise _fail(path, f"{shown_path(path.parent)} is not a folder") from None
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
        raise _fail(path, f"symbolic link to {shown_path(target)}: {exc.strerror or exc}") from None


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
            raise _fail(path, f"{shown_path(folder)} is not a folder")
        if not parents:
            raise _fail(path, f"folder {shown_path(folder)} does not exist")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _fail(path, f"cannot create folder {shown_path(folder)}: {exc.strerror or exc}") from None
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


def read_regular_file(path: str | Path, limit: int, what: str) -> bytes:
    """The content of the regular file ``path`` (a ``what``, for the message), or an AccelsimError naming it.

    Checked before anything is read: a device (``/dev/zero`` never ends), a FIFO or socket (opened without
    waiting for a writer) or a folder is refused, and so is a file of more than ``limit`` bytes.
    """
    def fail(why: str) -> AccelsimError:
        return AccelsimError(f"{shown_path(path)}: cannot read the {what}: {why}")

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise fail("no such file") from None
    except OSError as exc:
        raise fail(exc.strerror or str(exc)) from None
    except ValueError:
        raise fail("the file name contains a NUL character") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise fail("is a directory, expected a file")
        if not stat.S_ISREG(info.st_mode):
            raise fail("not a regular file (a device, FIFO or socket)")
        if info.st_size > limit:
            raise fail(f"{info.st_size:,} bytes, more than the {limit:,} a {what} may have")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise fail(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew while being read
        raise fail(f"more than the {limit:,} bytes a {what} may have")
    return data


# ---------------------------------------------------------------- the example inputs shipped with accelsim

#: Folders of example inputs, found by name (``rapid_7nm``) as well as by path. In a source checkout they are the
#: repository's own top-level folders; an installed wheel holds them under ``accelsim/shipped/`` (pyproject.toml maps
#: each folder there when the wheel is built: one source of truth, no copy in the repository). ``reference`` is the
#: package's own ``accelsim/reference/`` (the published targets).
SHIPPED_FOLDERS = ("workloads", "hwconfigs", "reports", "reference")

_PACKAGE = Path(__file__).resolve().parent


def shipped_folder(folder: str) -> Path:
    """Where the shipped ``folder`` (one of SHIPPED_FOLDERS) is, installed or in the source checkout."""
    if folder == "reference":
        return _PACKAGE / "reference"
    installed = _PACKAGE / "shipped" / folder
    return installed if installed.is_dir() else _PACKAGE.parent / folder


def is_shipped(path: str | Path) -> bool:
    """True when ``path`` lies inside the installed package (never a place to write outputs)."""
    try:
        return Path(path).resolve().is_relative_to(_PACKAGE)
    except (OSError, ValueError):
        return False


def shipped_names(folder: str) -> list[str]:
    """The names of the shipped inputs of ``folder`` (``rapid_7nm``, ...)."""
    return sorted(p.stem for p in shipped_folder(folder).glob("*.yaml"))


def find_input(path: str | Path, folder: str) -> Path:
    """``path`` when it exists; else the shipped input it names: a bare name (``rapid_7nm``) in ``folder``, or a path
    relative to the repository (``hwconfigs/rapid_7nm.yaml``, ``accelsim/reference/paper_targets.yaml``) used
    outside it. Anything else is returned unchanged, for the reader to report as missing."""
    given = Path(path)
    try:
        if given.exists() or given.is_absolute():
            return given
    except (OSError, ValueError):  # a NUL or an over-long name: the reader says what is wrong
        return given
    parts = given.parts
    if len(parts) == 1 and not given.suffix:
        candidate = shipped_folder(folder) / f"{given.name}.yaml"
    elif len(parts) > 1 and parts[0] in SHIPPED_FOLDERS:
        candidate = shipped_folder(parts[0]).joinpath(*parts[1:])
    elif len(parts) > 2 and parts[:2] == ("accelsim", "reference"):
        candidate = shipped_folder("reference").joinpath(*parts[2:])
    else:
        return given
    return candidate if candidate.is_file() else given
