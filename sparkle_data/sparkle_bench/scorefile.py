"""Score files: ``{theme}_{rater}_sparkle_score.jsonl``, one JSON object per line.

Each line is upstream's record, ``{"id", "prompt", "edit_type", "subtheme", "scene",
"scores": [6 ints], "result"}`` (other keys are kept out of the way and ignored), so files
written by upstream's script and by :class:`ScoreWriter` read the same.

:class:`ScoreWriter` appends each record as one ``os.write`` of the whole line on an
``O_APPEND`` descriptor, then ``fsync``: a crash leaves every earlier line intact and at most
a torn last line without its ``\\n``, which the next writer (or :func:`read_score_file` with
``repair=True``) detects and drops before appending.
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparkle_data.errors import JoinError, SparkleError
from sparkle_data.io.atomic import fsync_dir
from sparkle_data.layout import BENCH_EDIT_TYPES, parse_sample_id
from sparkle_data.sparkle_bench.errors import ScoreFileError
from sparkle_data.sparkle_bench.rubric import N_DIMENSIONS, apply_cap

__all__ = ["ScoreFile", "ScoreRecord", "ScoreWriter", "read_score_file", "repair_torn_tail"]


@dataclass(frozen=True, slots=True)
class ScoreRecord:
    """One rated item, as upstream writes it (``scores`` already capped)."""

    id: str
    prompt: str
    edit_type: str
    subtheme: str
    scene: str
    scores: tuple[int, ...]
    result: str

    def __post_init__(self) -> None:
        sid = parse_sample_id(self.id)
        if self.edit_type not in BENCH_EDIT_TYPES or sid.edit_type != self.edit_type:
            raise ScoreFileError.invalid(
                "edit_type", self.edit_type,
                rule=f"must be a bench theme matching the id's ({sid.edit_type!r})",
                sample_id=self.id,
            )
        for name in ("prompt", "subtheme", "scene", "result"):
            if type(getattr(self, name)) is not str:
                raise ScoreFileError.invalid(
                    name, getattr(self, name), rule="must be a string", sample_id=self.id
                )
        s = self.scores
        if (
            type(s) is not tuple
            or len(s) != N_DIMENSIONS
            or any(type(v) is not int or not 1 <= v <= 5 for v in s)
        ):
            raise ScoreFileError.invalid(
                "scores", s, rule=f"must be {N_DIMENSIONS} integers in 1..5", sample_id=self.id
            )
        if apply_cap(s) != s:
            raise ScoreFileError.invalid(
                "scores", list(s),
                rule="break the cap rule (dimensions 2-6 above Instruction Compliance)",
                sample_id=self.id,
                hint="The protocol clips them when parsing the answer; this file was not "
                "written by it.",
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "prompt": self.prompt, "edit_type": self.edit_type,
            "subtheme": self.subtheme, "scene": self.scene, "scores": list(self.scores),
            "result": self.result,
        }

    @classmethod
    def from_json(cls, obj: object) -> ScoreRecord:
        if not isinstance(obj, dict):
            raise ScoreFileError.invalid("record", obj, rule="must be a JSON object")
        missing = [
            k for k in ("id", "prompt", "edit_type", "subtheme", "scene", "scores", "result")
            if k not in obj
        ]
        if missing:
            raise ScoreFileError.invalid(
                "record", sorted(obj), rule=f"lacks {', '.join(missing)}",
                sample_id=obj.get("id") if isinstance(obj.get("id"), str) else None,
            )
        scores = obj["scores"]
        if isinstance(scores, list):
            # upstream writes ints; accept integral floats (5.0) the way json round-trips them
            scores = tuple(
                int(v) if type(v) is float and math.isfinite(v) and v.is_integer() else v
                for v in scores
            )
        return cls(
            obj["id"], obj["prompt"], obj["edit_type"], obj["subtheme"], obj["scene"],
            scores, obj["result"],
        )


@dataclass(frozen=True, slots=True)
class ScoreFile:
    path: str
    records: tuple[ScoreRecord, ...]
    torn_tail: bool = False
    """The file ended in a torn (unterminated, unparsable) line, which was dropped."""

    def ids(self) -> set[str]:
        return {r.id for r in self.records}


def repair_torn_tail(path: str | os.PathLike[str]) -> int:
    """Drop an unterminated last line that is not a complete JSON object; returns the bytes
    dropped. A complete last line lacking only its ``\\n`` gets one."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDWR)
    except FileNotFoundError:
        return 0
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return 0
        os.lseek(fd, max(0, size - 1), os.SEEK_SET)
        if os.read(fd, 1) == b"\n":
            return 0
        # find the start of the last line
        chunk = 1 << 16
        pos = size
        start = 0
        while pos > 0:
            lo = max(0, pos - chunk)
            os.lseek(fd, lo, os.SEEK_SET)
            data = os.read(fd, pos - lo)
            k = data.rfind(b"\n")
            if k >= 0:
                start = lo + k + 1
                break
            pos = lo
        os.lseek(fd, start, os.SEEK_SET)
        tail = os.read(fd, size - start)
        try:
            ScoreRecord.from_json(json.loads(tail))
        except (ValueError, ScoreFileError):
            os.ftruncate(fd, start)
            os.fsync(fd)
            return size - start
        os.lseek(fd, size, os.SEEK_SET)
        os.write(fd, b"\n")
        os.fsync(fd)
        return 0
    finally:
        os.close(fd)


def read_score_file(path: str | os.PathLike[str], *, repair: bool = False) -> ScoreFile:
    """Read every record of a score file (ours or upstream's).

    Blank lines are skipped. A bad line raises :class:`ScoreFileError` with its line number,
    except an unterminated unparsable last line (a torn append), which is dropped and flagged
    in :attr:`ScoreFile.torn_tail` (and cut from the file when ``repair=True``). A repeated id
    raises :class:`~sparkle_data.errors.JoinError`.
    """
    p = Path(path)
    torn = False
    if repair:
        torn = repair_torn_tail(p) > 0
    data = p.read_bytes()
    lines = data.split(b"\n")
    records: list[ScoreRecord] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        last_unterminated = number == len(lines)
        try:
            obj = json.loads(raw)
            rec = ScoreRecord.from_json(obj)
        except ValueError as e:
            if last_unterminated:
                torn = True
                break
            if isinstance(e, SparkleError):
                raise ScoreFileError(
                    f"{e} (in {p}, line {number})", path=str(p), sample_id=e.sample_id,
                    line=number,
                ) from None
            raise ScoreFileError.invalid(
                "JSON line", raw[:80].decode("utf-8", "replace"), rule=str(e), path=str(p),
                line=number,
            ) from None
        if rec.id in seen:
            raise JoinError.invalid(
                "id", rec.id, rule=f"is rated twice (lines {seen[rec.id]} and {number})",
                path=str(p), line=number, sample_id=rec.id,
            )
        seen[rec.id] = number
        records.append(rec)
    return ScoreFile(str(p), tuple(records), torn)


class ScoreWriter:
    """Append-only, crash-safe writer of one score file; thread-safe.

    Opening repairs a torn tail (see :func:`repair_torn_tail`); :meth:`append` writes one
    whole line and fsyncs before returning.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.dropped_bytes = repair_torn_tail(self.path)
        created = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if created:
            fsync_dir(self.path.parent)
        self._lock = threading.Lock()

    def append(self, record: ScoreRecord) -> None:
        line = (json.dumps(record.to_json(), ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            if self._fd is None:
                raise ValueError(f"ScoreWriter for {self.path} is closed")
            view = memoryview(line)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            os.fsync(self._fd)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> ScoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
