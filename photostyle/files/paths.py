"""Where photostyle reads and writes: one check for every command, before any work.

Every command that writes files (``transfer``, ``evaluate``, ``masks``, ``segment``,
``ablate``) first calls :func:`check_writes` with every path it will write, every folder it
will write into, and every file it reads. Nothing is written, and no folder is created,
unless all of these hold:

* no written path is a file that is read (compared resolved, symbolic links followed, and by
  device and inode for existing files, so hard links count too);
* no two written paths are the same file (two outputs sharing one report, two masks with one
  name);
* no file that is read lies inside a folder that is written into with names of the same
  form (a snapshot folder, an ablation folder, a folder of frames);
* a folder that must be new (a folder of frames) does not exist yet or is empty;
* every written path has a name the file system takes (length) and names a regular file or
  nothing (not a folder, a FIFO, a device);
* every written path's folder exists and is a folder, or can be created under an existing
  folder, and a file can actually be created there (a probe file is made and removed: this
  catches read-only mounts and ``/proc``, where permission bits say nothing).

Files that are read go through :func:`check_input_file`: a FIFO or a device given as an
image, mask or weights file would block forever on ``open``, so anything but a regular
file is refused.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from photostyle.errors import InputError, OutputError

PathLike = str | os.PathLike

#: Longest file name written, when the file system does not say (ext4, XFS, APFS, NTFS).
DEFAULT_NAME_MAX = 255
#: Longest path, when the file system does not say (Linux's PATH_MAX).
DEFAULT_PATH_MAX = 4096


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_input_file(path: PathLike, what: str, error: type[Exception] = InputError) -> Path:
    """Check that ``path`` is an existing, readable regular file (links followed).

    Args:
        path: the file.
        what: what the file is for, used in messages ("content image", "mask", ...).
        error: the exception type to raise (an :class:`InputError` by default).

    Raises:
        ``error``: missing, a folder, a FIFO, a device or socket, or not readable.
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise error(f"{what} {p}: file not found") from None
    except OSError as exc:
        raise error(f"{what} {p}: cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{what} {p}: is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{what} {p}: is {_kind(st.st_mode)}, not a regular file; refused")
    if not os.access(p, os.R_OK):
        raise error(f"{what} {p}: permission denied")
    return p


@dataclass(frozen=True)
class Folder:
    """A folder that a command writes files into, with the form of the names it writes.

    Attributes:
        what: what the folder is for ("snapshot folder", "ablation folder").
        path: the folder.
        pattern: ``fnmatch`` pattern of the files written there, relative to the folder
            (``"*"`` for any); a file that is read and matches it is refused. ``None`` when
            every file written there is passed to :func:`check_writes` by name.
        fresh: the folder must not exist yet or be empty (a folder of frames: its files
            would be mixed with others, and photostyle never deletes a folder it did not
            make).
    """

    what: str
    path: PathLike
    pattern: str | None = "*"
    fresh: bool = False


def file_identity(p: Path) -> tuple[object, ...]:
    """A key equal for two paths that name the same file (existing or not)."""
    try:
        st = p.stat()
    except OSError:
        return ("path", str(p.resolve()))
    return ("inode", st.st_dev, st.st_ino)


def _existing_ancestor(p: Path) -> Path:
    """The nearest ancestor of ``p`` (itself included) that exists (links followed)."""
    current = p
    # os.path.exists, unlike Path.exists, answers False instead of raising for a name
    # too long for the file system
    while not os.path.exists(current):
        if current.parent == current:
            break
        current = current.parent
    return current


def _limits(folder: Path) -> tuple[int, int]:
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        name_max = DEFAULT_NAME_MAX
    try:
        path_max = os.pathconf(folder, "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):
        path_max = DEFAULT_PATH_MAX
    return name_max or DEFAULT_NAME_MAX, path_max or DEFAULT_PATH_MAX


def _check_location(what: str, p: Path, folder: Path, probed: dict[Path, str | None]) -> None:
    """The folder ``folder`` of ``p`` exists or can be created, and takes a new file."""
    absolute = Path(os.path.abspath(folder))
    ancestor = _existing_ancestor(absolute)
    if not os.path.isdir(ancestor):
        raise OutputError(f"{what} {p}: {ancestor} is a file, not a folder")
    name_max, path_max = _limits(ancestor)
    if len(os.fsencode(os.path.abspath(p))) >= path_max:
        raise OutputError(f"{what} {p}: path is too long for the file system "
                          f"(at most {path_max - 1} bytes)")
    missing = absolute.relative_to(ancestor).parts if absolute != ancestor else ()
    for part in (*missing, p.name):
        if len(os.fsencode(part)) > name_max:
            raise OutputError(f"{what} {p}: the name {part[:40]!r}... is too long for the file "
                              f"system (at most {name_max} bytes)")
    if ancestor not in probed:
        probed[ancestor] = _probe(ancestor, create_folder=bool(missing))
    problem = probed[ancestor]
    if problem is not None:
        where = folder if not missing else ancestor
        raise OutputError(f"{what} {p}: cannot write in {where} ({problem})")


def _probe(folder: Path, *, create_folder: bool) -> str | None:
    """Create and remove a file (or a folder) in ``folder``; the error text, or None."""
    try:
        if create_folder:
            made = tempfile.mkdtemp(prefix=".photostyle-probe-", dir=folder)
            os.rmdir(made)
        else:
            fd, name = tempfile.mkstemp(prefix=".photostyle-probe-", dir=folder)
            os.close(fd)
            os.unlink(name)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            return "permission denied"
        if exc.errno == errno.EROFS:
            return "read-only file system"
        return exc.strerror or str(exc)
    return None


def check_writes(
    writes: Sequence[tuple[str, PathLike]],
    reads: Iterable[tuple[str, PathLike | None]],
    folders: Sequence[Folder] = (),
) -> list[Path]:
    """Check every path a command will write against every file it reads; before any work.

    Args:
        writes: ``(what, path)`` of every file the command writes ("output", "report", ...).
        reads: ``(what, path)`` of every file it reads; ``None`` paths are ignored.
        folders: folders the command writes files into whose names are not all known
            before the work (see :class:`Folder`).

    Returns:
        The written paths, as :class:`~pathlib.Path`, in the order given.

    Raises:
        OutputError: naming the path and the problem (see the module's docstring).
    """
    inputs = [(what, Path(p)) for what, p in reads if p is not None]
    input_ids = {file_identity(p): (what, p) for what, p in inputs}
    seen: dict[tuple[object, ...], tuple[str, Path]] = {}
    probed: dict[Path, str | None] = {}
    out = []
    for what, raw in writes:
        p = Path(raw)
        if not p.name or p.name in (".", ".."):
            raise OutputError(f"{what} {raw!s}: not a file name")
        key = file_identity(p)
        if key in input_ids:
            in_what, in_path = input_ids[key]
            same = "" if str(in_path) == str(p) else f" {in_path}"
            raise OutputError(f"{what} {p}: is an input file (the {in_what}{same}); choose "
                              "another path (inputs are never overwritten)")
        if key in seen:
            other_what, other = seen[key]
            raise OutputError(f"{what} {p} and {other_what} {other} are the same file; "
                              "give them different names")
        seen[key] = (what, p)
        with contextlib.suppress(OSError):
            mode = p.stat().st_mode
            if not stat.S_ISREG(mode):
                raise OutputError(f"{what} {p}: is {_kind(mode)}; give a file name")
        _check_location(what, p, p.parent, probed)
        out.append(p)
    for folder in folders:
        f = Path(folder.path)
        occupied = False
        with contextlib.suppress(OSError):
            mode = f.stat().st_mode
            if not stat.S_ISDIR(mode):
                raise OutputError(f"{folder.what} {f}: is a file, not a folder")
            occupied = folder.fresh and any(True for _ in os.scandir(f))
        _check_location(folder.what, f / "x", f, probed)
        if folder.pattern is not None:
            _check_inside(folder, f, inputs)
        if occupied:
            raise OutputError(f"{folder.what} {f}: exists and is not empty; name a new folder "
                              "(photostyle never deletes a folder, nor mixes its files into "
                              "one)")
    return out


def _check_inside(folder: Folder, f: Path, inputs: Sequence[tuple[str, Path]]) -> None:
    """Refuse a file that is read and lies in ``folder`` under a name it writes."""
    root = f.resolve()
    for what, p in inputs:
        try:
            inside = p.resolve().relative_to(root)
        except ValueError:
            continue
        if fnmatch.fnmatch(inside.as_posix(), folder.pattern or ""):
            raise OutputError(f"{what} {p}: lies in the {folder.what} {f}, where it could "
                              "be overwritten; move it or choose another folder")
