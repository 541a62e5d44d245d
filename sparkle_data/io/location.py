"""Location strings and the fsspec filesystems that read them (HTTP(S) aside).

A *location* names one file or folder: a local path (``/data/Sparkle``,
``file:///data/Sparkle``), ``hf://datasets/{repo_id}@{revision}/{path}`` (read by
``huggingface_hub.HfFileSystem``), any other fsspec URL (``memory://``, ``s3://``, ...), or an
``http(s)://`` URL. This module maps all but the last to ``(filesystem, path)`` and back;
:func:`sparkle_data.io.fs.resolve` adds HTTP(S) (its filesystem is built on the byte sources,
which use this module, so it cannot live here).
"""

from __future__ import annotations

import os

import fsspec
from fsspec.implementations.local import LocalFileSystem
from fsspec.spec import AbstractFileSystem

__all__ = ["hf_filesystem", "is_hf", "is_http", "location_of", "resolve_fsspec"]


def is_http(location: str) -> bool:
    """Whether ``location`` is an ``http://`` or ``https://`` URL."""
    return location.startswith(("http://", "https://"))


def hf_filesystem() -> AbstractFileSystem:
    """A ``huggingface_hub.HfFileSystem`` (imported on first use)."""
    from huggingface_hub import HfFileSystem

    return HfFileSystem()


def is_hf(fs: AbstractFileSystem) -> bool:
    """``huggingface_hub.HfFileSystem`` (or a subclass), without importing it."""
    return any(c.__name__ == "HfFileSystem" for c in type(fs).__mro__)


def resolve_fsspec(location: str | os.PathLike[str]) -> tuple[AbstractFileSystem, str]:
    """``(filesystem, path)`` of a location that is not ``http(s)://``; no trailing slash."""
    text = os.fspath(location)
    if text.startswith("hf://"):
        return hf_filesystem(), text[len("hf://") :].rstrip("/")
    if text.startswith("file://"):
        text = text[len("file://") :]
    elif "://" in text:
        fs, path = fsspec.core.url_to_fs(text)
        return fs, str(path).rstrip("/")
    return LocalFileSystem(), os.path.abspath(text).replace(os.sep, "/")


def location_of(fs: AbstractFileSystem, path: str) -> str:
    """The location string of ``path`` in ``fs`` (inverse of the resolvers)."""
    if isinstance(fs, LocalFileSystem):
        return path
    if is_hf(fs):
        return "hf://" + path
    return str(fs.unstrip_protocol(path))
