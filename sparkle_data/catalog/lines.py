"""One sample's line of a record JSONL file, read by id (what ``Catalog.read_record_line`` does).

A loader that needs one record per sample (``boxes`` in a training loop) should not hold a
whole ``foreground_grounding_r2.jsonl`` in every worker. :class:`RecordLines` keeps, per
record file, the line index of :func:`~sparkle_data.readers.lineindex.build_line_index` (built
on first use, or ahead of time with :meth:`RecordLines.prepare` before DataLoader workers
start, which then inherit it); :func:`read_record_line` fetches the line with **one exact
ranged read** (a buffered remote file would fetch a whole block). The line is parsed by the
artifact's own reader (``readers.grounding``), so its rules live in one place.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from sparkle_data.errors import MissingArtifactError
from sparkle_data.io import fs as sfs
from sparkle_data.io.remote import read_range
from sparkle_data.layout import parse_sample_id, record_path
from sparkle_data.readers.lineindex import LineEntry, build_line_index

if TYPE_CHECKING:
    from fsspec.spec import AbstractFileSystem

__all__ = ["RecordLine", "RecordLines", "read_record_line"]


class RecordLine(NamedTuple):
    """One record line: its bytes (no newline) and a display name for error messages."""

    data: bytes
    name: str
    """``{root}/intermediate_data/{edit_type}/{record}.jsonl (line N)``."""


class RecordLines:
    """Line indexes of one root's record files, by relative path; built once per file.

    A cache (not part of a catalog's identity): it travels with a catalog pickled into
    DataLoader workers, so what :meth:`prepare` built in the main process is not rebuilt.
    """

    def __init__(self) -> None:
        self._indexes: dict[str, dict[str, LineEntry]] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, dict[str, LineEntry]]:
        return dict(self._indexes)

    def __setstate__(self, state: dict[str, dict[str, LineEntry]]) -> None:
        self._indexes = dict(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RecordLines({len(self._indexes)} files indexed)"

    def __len__(self) -> int:
        return len(self._indexes)

    def index(
        self, rel: str, *, fs: AbstractFileSystem, base: str, root: str
    ) -> Mapping[str, LineEntry]:
        """The line index of record file ``rel`` (relative to the root): one scan, then kept."""
        found = self._indexes.get(rel)
        if found is not None:
            return found
        with self._lock:
            found = self._indexes.get(rel)
            if found is None:
                with sfs.open_binary(sfs.join(base, rel), fs=fs) as fh:
                    found = build_line_index(fh, name=f"{root}/{rel}")
                self._indexes[rel] = found
        return found

    def prepare(
        self, rels: Iterable[str], *, fs: AbstractFileSystem, base: str, root: str
    ) -> None:
        """Index every file of ``rels`` now (before DataLoader workers start)."""
        for rel in sorted(set(rels)):
            self.index(rel, fs=fs, base=base, root=root)


def read_record_line(
    lines: RecordLines,
    records: Mapping[Any, str],
    sample_id: str,
    record: str,
    *,
    fs: AbstractFileSystem,
    base: str,
    root: str,
) -> RecordLine:
    """The line of ``record`` (a record file name, e.g. ``"foreground_grounding_r2"``) that
    holds ``sample_id``, with one ranged read. ``records`` maps ``(edit_type, record)`` to the
    file's path relative to the root (the inventory's records).

    Raises :class:`~sparkle_data.errors.MissingArtifactError` when the root has no such file
    or the file has no line for the sample.
    """
    edit_type = parse_sample_id(sample_id).edit_type
    expected = record_path(edit_type, record)
    rel = records.get((edit_type, record))
    if rel is None:
        raise MissingArtifactError.invalid(
            "record",
            record,
            rule=f"no line for this sample in {expected} (the file is absent)",
            path=root,
            sample_id=sample_id,
            hint="Download the intermediate_data records of this edit type.",
        )
    entry = lines.index(rel, fs=fs, base=base, root=root).get(sample_id)
    if entry is None:
        raise MissingArtifactError.invalid(
            "record",
            record,
            rule=f"no line for this sample in {rel}",
            path=root,
            sample_id=sample_id,
        )
    data = read_range(sfs.join(base, rel), entry.offset, entry.length, fs=fs)
    return RecordLine(data, f"{root}/{rel} (line {entry.line})")
