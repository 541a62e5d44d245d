"""Deterministic tar shards, written atomically and cut by size.

Members are regular files named ``{edit_type}/{artifact}/{id}.{ext}`` in the order they are
added (ascending ids), USTAR headers with mtime :data:`TAR_MTIME`, mode ``0o644``, uid/gid 0
and empty user/group names, so equal content gives equal bytes. A shard is closed before a
member would push it past ``shard_size`` bytes (a member bigger than that gets a shard of its
own); ``first_shard_size`` lets a family start with a smaller shard so that its boundaries
fall elsewhere than another family's.
"""

from __future__ import annotations

import contextlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Final

from sparkle_data.io.atomic import atomic_write
from sparkle_data.io.safetar import tar_file_size, tar_member_size
from sparkle_data.layout import ArtifactName, EditType, member_name, shard_path

__all__ = ["TAR_MTIME", "ShardInfo", "ShardWriter"]

TAR_MTIME: Final = 1_735_689_600
"""2025-01-01T00:00:00Z: a fixed, plausible member mtime."""


@dataclass(frozen=True, slots=True)
class ShardInfo:
    """One written shard."""

    path: str
    """Relative to the dataset root (``intermediate_data/...`` for intermediates)."""
    edit_type: EditType
    artifact: ArtifactName
    part: int
    sample_ids: tuple[str, ...]
    size: int
    """File size in bytes."""

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


class ShardWriter:
    """Writes one family ``{edit_type}_{artifact}_partXX.tar`` under ``root``.

    Use as a context manager: on an exception the open shard's temp file is removed and no
    file appears under its final name.
    """

    def __init__(
        self,
        root: Path,
        edit_type: EditType,
        artifact: ArtifactName,
        *,
        shard_size: int,
        first_shard_size: int | None = None,
    ) -> None:
        if shard_size <= 0:
            raise ValueError(f"Invalid shard_size {shard_size!r}: must be > 0 bytes.")
        self._root = root
        self._edit_type: EditType = edit_type
        self._artifact: ArtifactName = artifact
        self._shard_size = shard_size
        self._limit = first_shard_size or shard_size
        self._part = 0
        self._stack: contextlib.ExitStack | None = None
        self._file: IO[bytes] | None = None
        self._tar: tarfile.TarFile | None = None
        self._ids: list[str] = []
        self._used = 0
        self.shards: list[ShardInfo] = []

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self._finish_shard()
        elif self._stack is not None:
            stack, self._stack = self._stack, None
            self._tar = None
            stack.__exit__(exc_type, exc, tb)

    def add(self, sample_id: str, data: bytes) -> None:
        """Append one member for ``sample_id``."""
        need = tar_member_size(len(data))
        if self._tar is not None and tar_file_size(self._used + need) > self._limit:
            self._finish_shard()
            self._limit = self._shard_size
        tar = self._tar if self._tar is not None else self._open_shard()
        info = tarfile.TarInfo(member_name(sample_id, self._artifact))
        info.size = len(data)
        info.mtime = TAR_MTIME
        info.mode = 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.type = tarfile.REGTYPE
        tar.addfile(info, io.BytesIO(data))
        self._ids.append(sample_id)
        self._used += need

    def _open_shard(self) -> tarfile.TarFile:
        path = self._root / shard_path(self._edit_type, self._artifact, self._part)
        stack = contextlib.ExitStack()
        self._file = stack.enter_context(atomic_write(path, "wb"))
        # Closed by _finish_shard; on an error the temp file under it is removed instead.
        self._tar = tarfile.open(  # noqa: SIM115
            fileobj=self._file, mode="w", format=tarfile.USTAR_FORMAT
        )
        self._stack = stack
        return self._tar

    def _finish_shard(self) -> None:
        if self._tar is None or self._stack is None or self._file is None:
            return
        self._tar.close()
        size = self._file.tell()
        self._stack.close()
        rel = shard_path(self._edit_type, self._artifact, self._part)
        self.shards.append(
            ShardInfo(rel, self._edit_type, self._artifact, self._part, tuple(self._ids), size)
        )
        self._tar = self._file = self._stack = None
        self._ids = []
        self._used = 0
        self._part += 1
