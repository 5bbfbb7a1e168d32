"""Atomic writes: readers (and a rerun after a kill) never see a half-written file or directory.

Every artifact infoplane writes goes through these helpers: the content is written beside the
target under a temporary name, then moved over it with :func:`os.replace` (atomic on POSIX within
one filesystem). A directory moved across filesystems is copied beside the target first.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _tmp_name(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    The caller writes a file (or a directory) at the yielded path. On an exception the temporary
    path is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(target)
    _remove(tmp)
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    replace(tmp, target)


def write_atomic(path: str | os.PathLike[str], write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` and move ``tmp`` over ``path``; returns ``path`` as a :class:`Path`."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Move ``src`` (file or directory) over ``dst``, replacing whatever is there.

    Within one filesystem this is :func:`os.replace`; across filesystems a directory is copied
    beside ``dst`` first, so ``dst`` still changes in one step.
    """
    src, dst = Path(src), Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_dir() and src.is_dir():
        _remove(dst)
    try:
        os.replace(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        tmp = _tmp_name(dst)
        _remove(tmp)
        if src.is_dir():
            shutil.copytree(src, tmp)
        else:
            shutil.copy2(src, tmp)
        _remove(dst) if dst.is_dir() else None
        os.replace(tmp, dst)
        _remove(src)
