"""Safe, atomic and remote I/O: the layer between naming rules and artifact readers.

* :mod:`~sparkle_data.io.atomic`: atomic writes;
* :mod:`~sparkle_data.io.fs`: dataset roots (local, ``http(s)://``, ``hf://``) via fsspec;
* :mod:`~sparkle_data.io.remote`: retried, verified byte-range reads and :class:`RangeFile`;
* :mod:`~sparkle_data.io.safetar`: safe tar member streaming;
* :mod:`~sparkle_data.io.index`: tar member indexes (build, verify, read, cache, files).

Names other than the atomic writers are imported on first use, so that importing this package
(or :mod:`sparkle_data.io.atomic`) does not import fsspec, numpy and the HTTP stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sparkle_data._lazy import lazy_exports
from sparkle_data.io.atomic import atomic_write, atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:
    from sparkle_data.io.fs import FileInfo, resolve
    from sparkle_data.io.index import (
        IndexEntry,
        ShardIndex,
        build_index,
        build_indexes,
        load_or_build_index,
        open_member,
        read_index,
        read_indexes,
        read_member,
        verify_shard,
        write_index,
        write_indexes,
    )
    from sparkle_data.io.remote import RangeFile, RetryPolicy, read_range
    from sparkle_data.io.safetar import TarMember, iter_tar_files, iter_tar_members

_LAZY = {
    "FileInfo": "fs",
    "resolve": "fs",
    "RangeFile": "remote",
    "RetryPolicy": "remote",
    "read_range": "remote",
    "TarMember": "safetar",
    "iter_tar_files": "safetar",
    "iter_tar_members": "safetar",
    "IndexEntry": "index",
    "ShardIndex": "index",
    "build_index": "index",
    "build_indexes": "index",
    "load_or_build_index": "index",
    "open_member": "index",
    "read_index": "index",
    "read_indexes": "index",
    "read_member": "index",
    "verify_shard": "index",
    "write_index": "index",
    "write_indexes": "index",
}

__all__ = [
    "FileInfo",
    "IndexEntry",
    "RangeFile",
    "RetryPolicy",
    "ShardIndex",
    "TarMember",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "build_index",
    "build_indexes",
    "iter_tar_files",
    "iter_tar_members",
    "load_or_build_index",
    "open_member",
    "read_index",
    "read_indexes",
    "read_member",
    "read_range",
    "resolve",
    "verify_shard",
    "write_index",
    "write_indexes",
]

lazy_exports(__name__, _LAZY)
