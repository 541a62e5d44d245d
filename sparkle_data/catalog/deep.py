"""``verify --deep``: look inside every artifact of every sample, within bounds.

For each sample (corpus samples and any id with artifact files), in parallel threads:

1. every artifact present (loose file or shard member) gets the bounded check of
   :func:`~sparkle_data.readers.check.check_artifact` (MP4 container, stream, frame count
   against its packets, first frame; PNG header, CRCs, decode; NPZ strict parse, shape vs
   bits, no object arrays, inflated vs declared size);
2. a loose file that shadows a shard member must hold the member's very bytes;
3. the cross-artifact rules of :mod:`sparkle_data.readers.consistency`: mask ``shape`` and
   edited videos against the source video, grounding boxes inside the source frame.

Problems are kept per sample (:class:`DeepReport`). With ``state=`` (a JSONL journal: a
header line, then one line per checked sample) the run is resumable: samples already checked
are read back from it and skipped; each checked sample is appended, flushed every
:data:`CHECKPOINT_EVERY` samples.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any, Final

from sparkle_data.catalog.model import Catalog
from sparkle_data.errors import SparkleError
from sparkle_data.io import fs as sfs
from sparkle_data.io.index import open_member
from sparkle_data.io.regular import open_regular
from sparkle_data.layout import ARTIFACTS
from sparkle_data.readers.check import check_artifact
from sparkle_data.readers.consistency import check_boxes, sample_shape_problems
from sparkle_data.readers.grounding import boxes_array, iter_grounding_r2
from sparkle_data.readers.limits import DEFAULT_MAX_DECODED_BYTES

__all__ = [
    "CHECKPOINT_EVERY",
    "DeepProblem",
    "DeepReport",
    "check_sample",
    "deep_ids",
    "deep_verify",
]

CHECKPOINT_EVERY: Final = 64
_STATE_FORMAT: Final = "sparkle-data/verify-deep"
_STATE_VERSION: Final = 1
_CHUNK: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class DeepProblem:
    """One problem found in one sample."""

    sample_id: str
    code: str
    """``corrupt`` (an artifact's own check), ``copy-differs`` (loose file vs member),
    ``inconsistent`` (cross-artifact shapes) or ``bad-boxes``."""
    artifact: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "artifact": self.artifact, "message": self.message}

    @classmethod
    def from_dict(cls, sample_id: str, data: dict[str, Any]) -> DeepProblem:
        return cls(sample_id, str(data["code"]), data.get("artifact"), str(data["message"]))


@dataclass
class DeepReport:
    """What ``verify --deep`` found, per sample."""

    samples: int = 0
    """Samples checked (this run and, when resumed, earlier ones)."""
    resumed: int = 0
    """Of which read back from the state file."""
    artifacts: int = 0
    """Artifacts checked in this run."""
    problems: list[DeepProblem] = field(default_factory=list)

    def by_sample(self) -> dict[str, list[DeepProblem]]:
        out: dict[str, list[DeepProblem]] = {}
        for p in self.problems:
            out.setdefault(p.sample_id, []).append(p)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "resumed": self.resumed,
            "artifacts": self.artifacts,
            "problems": {
                sid: [p.to_dict() for p in ps] for sid, ps in sorted(self.by_sample().items())
            },
        }


def _present(catalog: Catalog, sample_id: str) -> list[str]:
    row = catalog.table.loc[sample_id]
    return [
        a
        for a in ARTIFACTS
        if isinstance(row.get(f"{a}_file"), str) or isinstance(row.get(f"{a}_shard"), str)
    ]


def _digest(f: Any) -> str:
    h = hashlib.sha256()
    while chunk := f.read(_CHUNK):
        h.update(chunk)
    return h.hexdigest()


def _copy_differs(catalog: Catalog, sample_id: str, artifact: str) -> DeepProblem | None:
    """A loose file shadowing a member must hold the member's bytes."""
    row = catalog.table.loc[sample_id]
    loose, shard = row.get(f"{artifact}_file"), row.get(f"{artifact}_shard")
    if not (isinstance(loose, str) and isinstance(shard, str)):
        return None
    entry = catalog.indexes[shard].get(sample_id)
    if entry is None:
        return None
    with sfs.open_binary(sfs.join(catalog.base, loose), fs=catalog.fs) as f:
        a = _digest(f)
    with open_member(sfs.join(catalog.base, shard), entry, fs=catalog.fs) as f:
        b = _digest(f)
    if a == b:
        return None
    return DeepProblem(
        sample_id,
        "copy-differs",
        artifact,
        f"{catalog.root}/{loose} and {catalog.root}/{shard}::{entry.name} hold different "
        "bytes for one artifact (the loose file is the one read)",
    )


def check_sample(
    catalog: Catalog, sample_id: str, *, max_decoded_bytes: int | None = DEFAULT_MAX_DECODED_BYTES
) -> tuple[list[DeepProblem], int]:
    """Problems of one sample and the number of artifacts checked (see the module doc)."""
    problems: list[DeepProblem] = []
    shapes: dict[str, tuple[int, int, int]] = {}
    present = _present(catalog, sample_id)
    for artifact in present:
        try:
            name = catalog.name_of(sample_id, artifact)
            with catalog.open(sample_id, artifact) as f:
                shapes[artifact] = check_artifact(
                    f,
                    artifact,
                    name=name,
                    sample_id=sample_id,
                    max_decoded_bytes=max_decoded_bytes,
                )
            differs = _copy_differs(catalog, sample_id, artifact)
        except (SparkleError, OSError) as e:
            problems.append(DeepProblem(sample_id, "corrupt", artifact, str(e)))
            continue
        if differs is not None:
            problems.append(differs)
    for p in sample_shape_problems({k: v for k, v in shapes.items() if k != "source_frame0"}):
        where = catalog.name_of(sample_id, p.field)
        problems.append(
            DeepProblem(
                sample_id,
                "inconsistent",
                p.field,
                f"Invalid {p.what} {p.value!r} in {where} (sample {sample_id}): {p.rule}.",
            )
        )
    source = shapes.get("source_video")
    row = catalog.table.loc[sample_id]
    if source is not None and bool(row.get("in_foreground_grounding_r2", False)):
        try:
            line = catalog.read_record_line(sample_id, "foreground_grounding_r2")
            (record,) = list(iter_grounding_r2(io.BytesIO(line.data + b"\n"), name=line.name))
            t, h, w = source
            arr = boxes_array(record, w, h, num_video_frames=t)
            check_boxes(arr, source, name=line.name, sample_id=sample_id)
        except (SparkleError, OSError) as e:
            problems.append(DeepProblem(sample_id, "bad-boxes", None, str(e)))
    return problems, len(present)


class _Journal:
    """The resume state of ``verify --deep``: a JSONL file, a header line then one line per
    checked sample (its problems), appended as samples finish and flushed (``fsync``) every
    :data:`CHECKPOINT_EVERY` samples. A run killed mid-line leaves a partial last line, which
    is ignored (that sample is checked again): appending is O(1) per sample, however large
    the dataset."""

    def __init__(self, path: str, root: str) -> None:
        self.path, self.root = path, root
        self.done: dict[str, list[DeepProblem]] = {}
        self._f: IO[str] | None = None
        self._pending = 0
        if os.path.exists(path):
            self._read()

    def _read(self) -> None:
        with open_regular(self.path, what="verify state file") as f:
            raw = f.read()
        lines = raw.split(b"\n")
        try:
            header = json.loads(lines[0])
        except ValueError:
            header = None
        if (
            not isinstance(header, dict)
            or header.get("format") != _STATE_FORMAT
            or header.get("version") != _STATE_VERSION
        ):
            raise ValueError(
                f"Invalid verify state {self.path!r}: not a {_STATE_FORMAT} "
                f"v{_STATE_VERSION} file. Use another --state file."
            )
        if header.get("root") != self.root:
            raise ValueError(
                f"Invalid verify state {self.path!r}: it is for {header.get('root')!r}, not "
                f"{self.root!r}. Use another state file, or delete it to start over."
            )
        for line in lines[1:]:
            try:
                entry = json.loads(line)
                sid = str(entry["id"])
                found = [DeepProblem.from_dict(sid, p) for p in entry["problems"]]
            except (ValueError, KeyError, TypeError):
                continue  # a partial last line (killed mid-write): checked again
            self.done[sid] = found
        # End a partial last line, so that the lines appended next start on a line of
        # their own (the partial one stays unreadable and is ignored).
        if raw and not raw.endswith(b"\n"):
            with open(self.path, "ab") as f:
                f.write(b"\n")

    def add(self, sample_id: str, found: list[DeepProblem]) -> None:
        self.done[sample_id] = found
        if self._f is None:
            fresh = not os.path.exists(self.path)
            self._f = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close)
            if fresh:
                header = {"format": _STATE_FORMAT, "version": _STATE_VERSION, "root": self.root}
                self._f.write(json.dumps(header) + "\n")
        entry = {"id": sample_id, "problems": [p.to_dict() for p in found]}
        self._f.write(json.dumps(entry, sort_keys=True) + "\n")
        self._pending += 1
        if self._pending >= CHECKPOINT_EVERY:
            self.flush()

    def flush(self) -> None:
        if self._f is not None:
            self._f.flush()
            os.fsync(self._f.fileno())
        self._pending = 0

    def close(self) -> None:
        self.flush()
        if self._f is not None:
            self._f.close()
            self._f = None


def deep_ids(catalog: Catalog) -> list[str]:
    """Corpus samples and any id with an artifact file, sorted."""
    t = catalog.table
    has = t["in_corpus"].copy()
    for a in ARTIFACTS:
        has |= t[f"{a}_file"].notna() | t[f"{a}_shard"].notna()
    return sorted(str(i) for i in t.index[has])


def deep_verify(
    catalog: Catalog,
    *,
    ids: Sequence[str] | None = None,
    workers: int = 1,
    progress: bool = False,
    state: str | os.PathLike[str] | None = None,
    max_decoded_bytes: int | None = DEFAULT_MAX_DECODED_BYTES,
) -> DeepReport:
    """Check every sample of ``catalog`` (or ``ids``) deeply; see the module docstring."""
    from tqdm.auto import tqdm

    if workers < 1:
        raise ValueError(f"Invalid workers {workers!r}: must be >= 1.")
    todo_all = list(ids) if ids is not None else deep_ids(catalog)
    journal = None if state is None else _Journal(os.fspath(state), catalog.root)
    wanted = set(todo_all)
    done = {} if journal is None else {s: p for s, p in journal.done.items() if s in wanted}
    report = DeepReport(resumed=len(done))
    todo = [sid for sid in todo_all if sid not in done]

    def one(sid: str) -> tuple[str, list[DeepProblem], int]:
        found, n = check_sample(catalog, sid, max_decoded_bytes=max_decoded_bytes)
        return sid, found, n

    def results() -> Iterator[tuple[str, list[DeepProblem], int]]:
        if workers == 1:
            yield from map(one, todo)
            return
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sparkle-verify") as pool:
            yield from pool.map(one, todo)

    try:
        with tqdm(
            total=len(todo_all),
            initial=len(done),
            disable=not progress,
            unit="sample",
            desc="verify",
        ) as bar:
            for sid, found, n in results():
                done[sid] = found
                if journal is not None:
                    journal.add(sid, found)
                report.artifacts += n
                bar.update(1)
    finally:
        if journal is not None:
            journal.close()
    report.samples = len(done)
    report.problems = [p for sid in sorted(done) for p in done[sid]]
    return report
