"""accelsim.files: atomic writes that respect the umask, replace only regular files, write through
symlinks and create folders only when the caller asks."""

from __future__ import annotations

import os
import socket
import stat

import pytest

from accelsim.errors import AccelsimError
from accelsim.files import atomic_write_bytes, atomic_write_text


@pytest.fixture
def umask():
    def set_umask(mask: int) -> None:
        os.umask(mask)

    old = os.umask(0o022)
    os.umask(old)
    yield set_umask
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002, 0o077])
def test_new_file_respects_the_umask(tmp_path, umask, mask):
    umask(mask)
    target = tmp_path / "out.txt"
    atomic_write_text(target, "hello")
    assert target.read_text() == "hello"
    assert mode(target) == 0o666 & ~mask


def test_replaced_file_keeps_its_mode(tmp_path, umask):
    umask(0o022)
    target = tmp_path / "out.txt"
    target.write_text("old")
    os.chmod(target, 0o640)
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert mode(target) == 0o640


def test_no_temporary_files_left_behind(tmp_path):
    atomic_write_bytes(tmp_path / "a.bin", b"x" * 1000)
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_fifo_is_not_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(AccelsimError, match="is not a regular file"):
        atomic_write_text(fifo, "x")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]


def test_socket_is_not_replaced(tmp_path):
    path = tmp_path / "s.sock"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        with pytest.raises(AccelsimError, match="is not a regular file"):
            atomic_write_text(path, "x")
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
    finally:
        server.close()


def test_device_is_not_replaced():
    """/dev/null is a character device: refused before anything is written beside it."""
    before = os.lstat("/dev/null")
    with pytest.raises(AccelsimError, match=r"^/dev/null: cannot write: is not a regular file"):
        atomic_write_text("/dev/null", "x")
    after = os.lstat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino


def test_directory_is_not_replaced(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    with pytest.raises(AccelsimError, match="cannot write: is a directory"):
        atomic_write_text(folder, "x")
    assert folder.is_dir()


def test_symlink_is_written_through(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old")
    os.chmod(real, 0o600)
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    atomic_write_text(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new"
    assert mode(real) == 0o600


def test_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.txt"
    link.symlink_to(tmp_path / "made.txt")
    atomic_write_text(link, "x")
    assert link.is_symlink() and (tmp_path / "made.txt").read_text() == "x"


def test_symlink_to_a_device_is_not_followed_into_replacing_it(tmp_path):
    link = tmp_path / "null"
    link.symlink_to("/dev/null")
    with pytest.raises(AccelsimError, match="is not a regular file"):
        atomic_write_text(link, "x")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_missing_folder_is_an_error_by_default(tmp_path):
    target = tmp_path / "no" / "such" / "out.txt"
    with pytest.raises(AccelsimError, match=r"cannot write: folder .*no/such does not exist"):
        atomic_write_text(target, "x")
    assert not (tmp_path / "no").exists()


def test_parents_true_creates_the_folder(tmp_path):
    target = tmp_path / "new" / "dir" / "out.txt"
    atomic_write_text(target, "x", parents=True)
    assert target.read_text() == "x"


def test_parent_that_is_a_file(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(AccelsimError, match="is not a folder"):
        atomic_write_text(tmp_path / "f" / "out.txt", "x", parents=True)


def test_nul_in_the_name(tmp_path):
    with pytest.raises(AccelsimError, match="NUL"):
        atomic_write_text(tmp_path / "a\0b", "x")


def test_cli_trace_into_a_missing_folder_is_one_line(run_cli, tmp_path):
    target = tmp_path / "missing" / "trace.json"
    proc = run_cli("run", "--set", "workload.utterance.frames=12", "--beam", "2", "--trace", target)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "does not exist" in proc.stderr
    assert not target.parent.exists()


def test_cli_trace_onto_a_fifo_is_one_line(run_cli, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    proc = run_cli("run", "--set", "workload.utterance.frames=12", "--beam", "2", "--trace", fifo)
    assert proc.returncode == 2, proc.stderr
    assert "is not a regular file" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
