"""What :func:`~sparkle_data.testing.make_sample_tree` built: ids per stage, shards, sizes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparkle_data.layout import (
    ARTIFACTS,
    CORPUS_ARTIFACTS,
    INTERMEDIATE_ARTIFACTS,
    EditType,
    RecordName,
)
from sparkle_data.testing.synth.funnel import RECORD_STAGE, STAGES, Stage
from sparkle_data.testing.synth.preset import Preset
from sparkle_data.testing.synth.shard import ShardInfo

__all__ = ["EditTypeSummary", "SampleTreeSummary", "format_size"]


def format_size(n: int) -> str:
    """``1536 -> '1.5 KiB'``."""
    if n < 1024:
        return f"{n} B"
    size = n / 1024
    for unit in ("KiB", "MiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


@dataclass(frozen=True, slots=True)
class EditTypeSummary:
    """The samples of one edit type and where they went."""

    edit_type: EditType
    corpus_ids: tuple[str, ...]
    """Samples in the CSV, the metadata JSONL, the shards and the intermediates."""
    preview_ids: tuple[str, ...]
    """The first corpus samples, also stored loose (preview folders)."""
    rejected_ids: Mapping[Stage, tuple[str, ...]]
    """Ids that failed each score stage; they appear only in the record files."""
    gap_ids: tuple[str, ...]
    """Candidate ids in no file at all (dropped before the first score)."""
    bench_ids: tuple[str, ...]
    """Sparkle-Bench samples (the ``edited_video_score`` rejects of bench edit types)."""
    frame_counts: Mapping[str, int]
    """Frame count of every scored id."""
    shards: tuple[ShardInfo, ...]

    def record_ids(self, record: RecordName) -> tuple[str, ...]:
        """Ids that have a line in ``record`` (sorted)."""
        ids = list(self.corpus_ids)
        for stage in STAGES[STAGES.index(RECORD_STAGE[record]) :]:
            ids += self.rejected_ids[stage]
        return tuple(sorted(ids))

    def to_dict(self) -> dict[str, Any]:
        return {
            "edit_type": self.edit_type,
            "corpus_ids": list(self.corpus_ids),
            "preview_ids": list(self.preview_ids),
            "rejected_ids": {s: list(self.rejected_ids[s]) for s in STAGES},
            "gap_ids": list(self.gap_ids),
            "bench_ids": list(self.bench_ids),
            "frame_counts": dict(self.frame_counts),
            "shards": [
                {"path": s.path, "sample_ids": list(s.sample_ids), "size": s.size}
                for s in self.shards
            ],
        }


@dataclass(frozen=True, slots=True)
class SampleTreeSummary:
    """Result of :func:`~sparkle_data.testing.make_sample_tree`; ``str()`` is a report."""

    root: Path
    """The Sparkle tree (``OUT/Sparkle``)."""
    bench_root: Path | None
    """The Sparkle-Bench tree (``OUT/Sparkle-Bench``), ``None`` when not built."""
    preset: Preset
    seed: int
    edit_types: tuple[EditTypeSummary, ...]
    files: int
    """Files under :attr:`root`."""
    size: int
    """Bytes under :attr:`root`."""
    bench_files: int
    bench_size: int

    def __getitem__(self, edit_type: str) -> EditTypeSummary:
        for e in self.edit_types:
            if e.edit_type == edit_type:
                return e
        raise KeyError(edit_type)

    @property
    def corpus_ids(self) -> dict[EditType, tuple[str, ...]]:
        return {e.edit_type: e.corpus_ids for e in self.edit_types}

    @property
    def shards(self) -> tuple[ShardInfo, ...]:
        return tuple(s for e in self.edit_types for s in e.shards)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with no absolute paths (the marker file stores it)."""
        return {
            "preset": self.preset.name,
            "width": self.preset.width,
            "height": self.preset.height,
            "fps": self.preset.fps,
            "seed": self.seed,
            "bench": self.bench_root is not None,
            "files": self.files,
            "size": self.size,
            "bench_files": self.bench_files,
            "bench_size": self.bench_size,
            "edit_types": [e.to_dict() for e in self.edit_types],
        }

    def __str__(self) -> str:
        p = self.preset
        out = [
            f"Synthetic Sparkle tree: preset {p.name} ({p.width}x{p.height}, {p.fps} fps), "
            f"seed {self.seed}",
            f"  dataset    {self.root}  ({self.files} files, {format_size(self.size)})",
        ]
        if self.bench_root is not None:
            out.append(
                f"  benchmark  {self.bench_root}  ({self.bench_files} files, "
                f"{format_size(self.bench_size)})"
            )
        else:
            out.append("  benchmark  not built")
        out += ["", _theme_table(self.edit_types), "", _artifact_table(self.edit_types)]
        shards = self.shards
        out += ["", f"Shards ({len(shards)}, {format_size(sum(s.size for s in shards))}):"]
        width = max((len(s.path) for s in shards), default=0)
        for s in shards:
            n = len(s.sample_ids)
            out.append(
                f"  {s.path:<{width}}  {n:>3} member{'s' if n != 1 else ' '}  "
                f"{format_size(s.size):>10}"
            )
        return "\n".join(out)


def _theme_table(edit_types: tuple[EditTypeSummary, ...]) -> str:
    head = ("edit_type", "corpus", "preview", "frames", "rejected f0/fg/video", "gaps", "bench")
    rows = [head]
    for e in edit_types:
        counts = [e.frame_counts[i] for i in e.corpus_ids]
        rows.append(
            (
                e.edit_type,
                str(len(e.corpus_ids)),
                str(len(e.preview_ids)),
                f"{min(counts)}-{max(counts)}",
                "/".join(str(len(e.rejected_ids[s])) for s in STAGES),
                str(len(e.gap_ids)),
                str(len(e.bench_ids)),
            )
        )
    return _table(rows)


def _artifact_table(edit_types: tuple[EditTypeSummary, ...]) -> str:
    """Per artifact and edit type: ``members/shards (+loose previews)``."""
    rows: list[tuple[str, ...]] = [
        ("artifact (members/shards +preview)", *(e.edit_type for e in edit_types))
    ]
    for artifact in (*CORPUS_ARTIFACTS, *INTERMEDIATE_ARTIFACTS):
        cells = []
        for e in edit_types:
            shards = [s for s in e.shards if s.artifact == artifact]
            members = sum(len(s.sample_ids) for s in shards)
            cells.append(f"{members}/{len(shards)} +{len(e.preview_ids)}")
        rows.append((f"{artifact}.{ARTIFACTS[artifact].extension}", *cells))
    return _table(rows)


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [r[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
        lines.append("  " + "  ".join(cells).rstrip())
    return "\n".join(lines)
