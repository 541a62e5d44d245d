"""Record files a regen run writes: one JSON line per sample, merged into the card's JSONL.

A *record stage* (Qwen3-VL grounding, EditScore) makes one line of a record file
(``intermediate_data/{edit_type}/{record}.jsonl``) per sample. Workers never append to that
file: each line is written atomically as its own *part*,
``OUT/.regen/records/{record}/{sample_id}.json``, which is also the sample's done-marker (as
a loose artifact file is). :func:`merge_records` then folds the parts into
``OUT/intermediate_data/{edit_type}/{record}.jsonl``: the lines already there are kept byte
for byte, one line per id (a part replaces a line of the same id), sorted by id, written
atomically; the merged parts are removed afterwards. A kill at any point leaves every line
either in the file or in a part and never two lines for one id: the next run (or
``merge_records``) merges again. Merges hold an ``fcntl`` lock, so ranks of a multi-process
run may each merge when they finish.

:func:`validate_record_line` reads a line back with the project's own record readers
(:mod:`sparkle_data.readers`), so a written line is one the catalog and readers accept.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from sparkle_data.errors import CorruptRecordError
from sparkle_data.io.atomic import atomic_write_bytes
from sparkle_data.layout import RECORD_FILES, edit_type_of, record_path
from sparkle_data.readers.grounding import load_grounding_r1, load_grounding_r2
from sparkle_data.readers.scores import iter_image_scores, iter_video_scores
from sparkle_data.regen.paths import REGEN_DIR, regen_lock

__all__ = [
    "OutRecords",
    "encode_record",
    "merge_records",
    "pending_records",
    "record_part_path",
    "validate_record_line",
]

_PARTS: Final = "records"
_ID_HEAD: Final = b'{"id": "'
_Check = Callable[[io.BytesIO, str], object]
_READERS: Final[dict[str, _Check]] = {
    "foreground_grounding_r1": lambda f, et: load_grounding_r1(f, edit_type=et),
    "foreground_grounding_r2": lambda f, et: load_grounding_r2(f, edit_type=et),
    "edited_frame0_score": lambda f, et: list(iter_image_scores(f, edit_type=et)),
    "edited_frame0_foreground_removed_score": lambda f, et: list(
        iter_image_scores(f, edit_type=et)
    ),
    "edited_video_score": lambda f, et: list(iter_video_scores(f, edit_type=et, num_frames=None)),
}


def record_part_path(out: str | Path, sample_id: str, record: str) -> Path:
    """Where a worker writes ``sample_id``'s line of ``record`` before the merge."""
    return Path(out) / REGEN_DIR / _PARTS / record / f"{sample_id}.json"


def encode_record(obj: Mapping[str, Any]) -> bytes:
    """One JSONL line (UTF-8, newline-terminated) as the released files write them."""
    return (json.dumps(dict(obj), ensure_ascii=False) + "\n").encode("utf-8")


def validate_record_line(record: str, line: bytes, *, sample_id: str) -> None:
    """Read ``line`` back with the record's reader; its ``id`` must be ``sample_id``."""
    check = _READERS.get(record)
    if check is None:
        raise ValueError(f"Invalid record {record!r}: not one of {RECORD_FILES}.")
    if not line.endswith(b"\n") or line.count(b"\n") != 1:
        raise CorruptRecordError.invalid(
            "record line", line[:80], rule="must be exactly one newline-terminated line",
            path=f"<{record}>", sample_id=sample_id,
        )
    got = json.loads(line).get("id")
    if got != sample_id:
        raise CorruptRecordError.invalid(
            "record id", got, rule=f"a stage wrote a line for another sample ({sample_id})",
            path=f"<{record}>", sample_id=sample_id,
        )
    check(io.BytesIO(line), edit_type_of(sample_id))


def _line_id(line: bytes) -> str:
    if line.startswith(_ID_HEAD):  # the released files' and our layout: no full parse
        end = line.find(b'"', len(_ID_HEAD))
        if end > 0:
            return line[len(_ID_HEAD) : end].decode("utf-8")
    sid = json.loads(line).get("id")
    if not isinstance(sid, str):
        raise ValueError(f"Invalid record line without an id: {line[:80]!r}.")
    return sid


def _read_lines(path: Path) -> dict[str, bytes]:
    lines: dict[str, bytes] = {}
    if path.is_file():
        with path.open("rb") as f:
            for raw in f:
                if raw.strip():
                    lines[_line_id(raw)] = raw if raw.endswith(b"\n") else raw + b"\n"
    return lines


class OutRecords:
    """The record lines already regenerated into an output folder (merged file + parts),
    read once per ``(record, edit_type)``."""

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self._cache: dict[tuple[str, str], dict[str, bytes]] = {}

    def lines(self, record: str, edit_type: str) -> dict[str, bytes]:
        key = (record, edit_type)
        if key not in self._cache:
            found = _read_lines(self.out / record_path(edit_type, record))
            parts = self.out / REGEN_DIR / _PARTS / record
            if parts.is_dir():
                for p in parts.glob(f"Sparkle_{edit_type}_*.json"):
                    found[p.stem] = p.read_bytes()
            self._cache[key] = found
        return self._cache[key]

    def get(self, sample_id: str, record: str) -> bytes | None:
        return self.lines(record, edit_type_of(sample_id)).get(sample_id)


def pending_records(out: str | Path) -> int:
    """How many record lines wait under ``out`` to be merged (parts of an unfinished run)."""
    root = Path(out) / REGEN_DIR / _PARTS
    return sum(1 for _ in root.glob("*/Sparkle_*.json")) if root.is_dir() else 0


def merge_records(out: str | Path) -> dict[str, int]:
    """Fold every part under ``out`` into its record file (see the module docstring);
    returns ``{record file relative path: lines merged}``."""
    base = Path(out)
    root = base / REGEN_DIR / _PARTS
    merged: dict[str, int] = {}
    if not root.is_dir():
        return merged
    with regen_lock(base, "records.lock"):
        for record in sorted(p.name for p in root.iterdir() if p.is_dir()):
            groups: dict[str, list[Path]] = {}
            for part in sorted((root / record).glob("Sparkle_*.json")):
                groups.setdefault(edit_type_of(part.stem), []).append(part)
            for edit_type, parts in sorted(groups.items()):
                rel = record_path(edit_type, record)
                lines = _read_lines(base / rel)
                for part in parts:
                    lines[part.stem] = part.read_bytes()
                atomic_write_bytes(base / rel, b"".join(lines[k] for k in sorted(lines)))
                for part in parts:
                    part.unlink(missing_ok=True)
                merged[rel] = len(parts)
    return merged
