"""Member indexes of tar shards: build once by header hops, then read any member in one range.

A :class:`ShardIndex` lists, for one shard, every member's name, data offset and size, with
the shard's total size (and etag/sha256 when known). It is built by :func:`build_index`,
which reads only 512-byte headers and seeks over member data (about 1 MB of reads for a 5 GB
shard; remotely, one ranged request per member: prefer a published index), and stored in a
compact versioned binary format (``docs/io.md`` is normative; about 4 bytes per member).

Reading: :func:`read_member` is one ranged read whose length is checked;
:func:`open_member` hands a reader a bounded seekable file over the member. A tar cut at a
member boundary reads back with no error in ``tarfile``; :func:`verify_shard` catches it by
comparing the shard with its index.

Caching: :func:`load_or_build_index` keeps indexes under the user cache dir
(:mod:`sparkle_data.io.cache`), keyed by the shard's location, name and size; a stale or
corrupt cache file is rebuilt. :func:`build_indexes` indexes many shards in parallel.

This module is the documented import path; the code lives in package-private modules, one
job each:

* ``_index_model``: the records (:class:`IndexEntry`, :class:`ShardIndex`) and lookups;
* ``_index_scan``: building from a scan of the tar headers, and :func:`verify_shard`;
* ``_index_members``: reading members through an index, and their CRC-32 checksums;
* ``_index_format``: the binary container (:func:`encode_indexes`, :func:`decode_indexes`);
* ``_index_files``: reading and writing index files;
* ``_index_cache``: the user cache and parallel building.
"""

from __future__ import annotations

from sparkle_data.io._index_cache import (
    build_indexes,
    index_cache_path,
    index_matches,
    load_or_build_index,
)
from sparkle_data.io._index_files import (
    INDEX_SUFFIX,
    read_index,
    read_indexes,
    write_index,
    write_indexes,
)
from sparkle_data.io._index_format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    READ_VERSIONS,
    decode_indexes,
    encode_indexes,
)
from sparkle_data.io._index_format import (
    MAGIC as MAGIC,  # importable from here, not in the curated __all__
)
from sparkle_data.io._index_members import (
    CHECKSUM_RETRIES,
    add_checksums,
    open_member,
    read_member,
    verify_member,
)
from sparkle_data.io._index_model import IndexEntry, ShardIndex
from sparkle_data.io._index_model import ShardInput as ShardInput  # not in __all__
from sparkle_data.io._index_scan import INDEX_READ_AHEAD as INDEX_READ_AHEAD  # not in __all__
from sparkle_data.io._index_scan import build_index, verify_shard

__all__ = [
    "CHECKSUM_RETRIES",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "INDEX_SUFFIX",
    "READ_VERSIONS",
    "IndexEntry",
    "ShardIndex",
    "add_checksums",
    "build_index",
    "build_indexes",
    "decode_indexes",
    "encode_indexes",
    "index_cache_path",
    "index_matches",
    "load_or_build_index",
    "open_member",
    "read_index",
    "read_indexes",
    "read_member",
    "verify_member",
    "verify_shard",
    "write_index",
    "write_indexes",
]
