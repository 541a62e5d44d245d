"""Kiwi-Edit training trees: videos laid out by edit type and one ``metadata.csv``.

:func:`export_kiwi` writes::

    OUT/{edit_type}/source_video/{id}.mp4
    OUT/{edit_type}/edited_video/{id}.mp4
    OUT/{edit_type}/edited_frame0_foreground_removed/{id}.png     (stage3=True)
    OUT/metadata.csv        prompt,src_video,tgt_video[,ref_image]
    OUT/subset.yaml         the subset spec, when one is given
    OUT/export.json         the manifest, written last (see sparkle_data.export)

Paths in the CSV are relative to ``base_dir`` (default ``OUT``), which is what Kiwi-Edit's
``--dataset_base_path`` must name: its loader reads the CSV with pandas and opens
``base_path/src_video`` with imageio. The stage-3 CSV adds ``ref_image``, the Stage 3 clean
background (``edited_frame0_foreground_removed``), as Kiwi-Edit's reference-video stage reads.

Kiwi-Edit rejects a pair whose first frames differ in size or whose clips give different
frame counts (it keeps ``min(81, n)`` frames rounded down to ``4k + 1``). Every clip (and
reference image) first gets the member check every export runs (:mod:`._validate`: a clip
truncated after its header is never copied); that check's stream headers then judge every
pair before it is written (a finished export's repair reads them again); pairs whose
width/height or frame counts differ
are **dropped and counted** in the report (reason ``size_mismatch`` or
``frame_count_mismatch``), never written. With ``trim_4k1=True`` both clips of a pair whose
counts differ, or are not ``4k + 1``, are re-encoded (H.264, PyAV) to the largest ``4k + 1``
count that both reach; pairs of different sizes are still dropped. ``reencode=True``
re-encodes every clip (same rules). Unreadable clips raise
:class:`~sparkle_data.errors.CorruptVideoError` (``on_error="skip"``: dropped as
``corrupt_video``; an unreadable reference image as ``corrupt_image``).

Files are streamed out of the shards (never ``extractall``), or with ``link=True``
hard-linked (symlinked across filesystems) from a local extracted root where the catalog
finds loose files; linked files are verified by size on resume (they are not read).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sparkle_data.errors import CorruptVideoError
from sparkle_data.export._common import check_ids, export_summary, prompts_of
from sparkle_data.export._errors import ExportError
from sparkle_data.export._plan import (
    Checked,
    ExportKeywords,
    ExportOnError,
    ExportOptions,
    ExportPlan,
    Finalized,
    Shape,
    UnitResult,
)
from sparkle_data.export._resume import MANIFEST_NAME, ExportReport, run_export
from sparkle_data.export._source import ArtifactRef, artifact_refs, open_ref
from sparkle_data.export._validate import member_checks
from sparkle_data.export._writer import FileDigest, write_bytes, write_stream
from sparkle_data.io import fs as sfs
from sparkle_data.io.atomic import TEMP_MARK, fsync_dir
from sparkle_data.layout import member_name

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from sparkle_data.catalog import Catalog

__all__ = ["KIWI_COLUMNS", "KIWI_CSV", "export_kiwi"]

KIWI_CSV: Final = "metadata.csv"
KIWI_COLUMNS: Final[tuple[str, ...]] = ("prompt", "src_video", "tgt_video")
"""Columns of the stage-2 CSV; stage 3 adds ``ref_image``."""
REF_ARTIFACT: Final = "edited_frame0_foreground_removed"

KiwiOnError = ExportOnError
"""Kept for callers of the Kiwi export: the ``on_error`` of every export."""


def _place(ref: ArtifactRef, dst: Path, *, link: bool) -> FileDigest:
    """Write ``ref``'s bytes at ``dst`` atomically, or link a local loose file there."""
    if link and ref.member is None:
        fs, base = sfs.resolve_once(ref.root)
        if sfs.is_local(fs):
            src = Path(sfs.join(base, ref.path))
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(f".{dst.name}{TEMP_MARK}link")
            tmp.unlink(missing_ok=True)
            try:
                os.link(src, tmp)
            except OSError:
                os.symlink(src.resolve(), tmp)
            os.replace(tmp, dst)
            fsync_dir(dst.parent)
            return FileDigest(ref.size, None)
    with open_ref(ref) as f:
        return write_stream(dst, f, ref.size, where=ref.where)


def _probe(ref: ArtifactRef, sample_id: str) -> Shape:
    """The clip's ``(T, H, W)`` from its header, for a unit that did not get it from the
    member check (a finished export's repair)."""
    from sparkle_data.readers.video import probe_video

    with open_ref(ref) as f:
        return probe_video(f, name=ref.where, sample_id=sample_id).shape


@dataclass(frozen=True)
class _KiwiUnit:
    """One pair (and its reference image): probed, then copied, linked or re-encoded."""

    sample_id: str
    prompt: str
    src: ArtifactRef
    tgt: ArtifactRef
    ref: ArtifactRef | None
    trim_4k1: bool
    reencode: bool
    link: bool
    on_error: KiwiOnError
    shapes: tuple[Shape, Shape] | None = None
    """The clips' ``(T, H, W)`` as the member check found them (not part of the plan's
    fingerprint); ``None``: the unit reads the headers itself."""

    @property
    def key(self) -> str:
        return self.sample_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "src": self.src.to_dict(),
            "tgt": self.tgt.to_dict(),
            "ref": None if self.ref is None else self.ref.to_dict(),
            "trim_4k1": self.trim_4k1,
            "reencode": self.reencode,
            "link": self.link,
        }

    def _drop(self, reason: str, detail: str) -> UnitResult:
        return UnitResult(self.key, {}, {"dropped": reason, "detail": detail})

    def run(self, out: Path) -> UnitResult:
        from sparkle_data.export._transcode import reencode_h264
        from sparkle_data.sampling.frames import kiwi_num_frames

        sid = self.sample_id
        try:
            (src_t, src_h, src_w), (tgt_t, tgt_h, tgt_w) = self.shapes or (
                _probe(self.src, sid),
                _probe(self.tgt, sid),
            )
        except CorruptVideoError as e:
            if self.on_error == "error":
                raise
            return self._drop("corrupt_video", str(e))
        if (src_w, src_h) != (tgt_w, tgt_h):
            return self._drop("size_mismatch", f"source {src_w}x{src_h}, edited {tgt_w}x{tgt_h}")
        frames: int | None = None
        if src_t != tgt_t:
            if not self.trim_4k1:
                return self._drop(
                    "frame_count_mismatch",
                    f"source {src_t} frames, edited {tgt_t} frames",
                )
            shorter = min(src_t, tgt_t)
            frames = kiwi_num_frames(shorter, shorter)  # the largest 4k + 1 <= both
        elif self.trim_4k1 and kiwi_num_frames(src_t, src_t) != src_t:
            frames = kiwi_num_frames(src_t, src_t)
        if self.reencode and frames is None:
            frames = src_t
        files: dict[str, FileDigest] = {}
        for ref, artifact in ((self.src, "source_video"), (self.tgt, "edited_video")):
            rel = member_name(sid, artifact)
            if frames is None:
                files[rel] = _place(ref, out / rel, link=self.link)
                continue
            try:
                with open_ref(ref) as f:
                    data = reencode_h264(f, frames=frames, name=ref.where, sample_id=sid)
            except CorruptVideoError as e:
                if self.on_error == "error":
                    raise
                for done in files:
                    (out / done).unlink(missing_ok=True)
                return self._drop("corrupt_video", str(e))
            files[rel] = write_bytes(out / rel, data)
        if self.ref is not None:
            rel = member_name(sid, REF_ARTIFACT)
            files[rel] = _place(self.ref, out / rel, link=self.link)
        return UnitResult(
            self.key,
            files,
            {
                "frames": src_t if frames is None else frames,
                "width": src_w,
                "height": src_h,
                "source_frames": src_t,
                "edited_frames": tgt_t,
                "reencoded": frames is not None,
            },
        )


def _checked_pair(checked: Checked, sample_id: str) -> tuple[Shape, Shape] | None:
    src = checked.shape(sample_id, "source_video")
    tgt = checked.shape(sample_id, "edited_video")
    return None if src is None or tgt is None else (src, tgt)


def _relative_to_base(out: Path, base_dir: str | os.PathLike[str] | None) -> str:
    """The prefix of CSV paths: ``out`` relative to ``base_dir`` (``""`` when equal)."""
    if base_dir is None:
        return ""
    base = Path(base_dir).resolve()
    target = out.resolve()
    if target != base and base not in target.parents:
        raise ExportError.invalid(
            "base_dir",
            str(base_dir),
            rule=f"must be the output folder or one of its parents ({out})",
            hint="Kiwi-Edit opens base_path/src_video: the videos must be under it.",
        )
    rel = target.relative_to(base).as_posix()
    return "" if rel == "." else rel + "/"


def _csv_bytes(rows: Sequence[Sequence[str]], header: Sequence[str]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def export_kiwi(
    catalog: Catalog,
    ids: Sequence[str],
    out: str | os.PathLike[str],
    *,
    base_dir: str | os.PathLike[str] | None = None,
    stage3: bool = False,
    trim_4k1: bool = False,
    reencode: bool = False,
    link: bool = False,
    **common: Unpack[ExportKeywords],
) -> ExportReport:
    """Write a Kiwi-Edit training tree for ``ids`` under ``out`` (see the module doc).

    Args:
        catalog: the source (any root :func:`~sparkle_data.catalog.build_catalog` reads).
        ids: corpus sample ids (rows of the prompts CSVs); written in card order.
        out: output folder: new, empty, or an earlier export of the same plan (resumed).
        base_dir: folder the CSV's paths are relative to (``out`` or a parent of it);
            default ``out``.
        stage3: add the ``ref_image`` column and the Stage 3 clean background PNGs.
        trim_4k1: re-encode pairs to the largest common ``4k + 1`` frame count.
        reencode: re-encode every clip (H.264 ``yuv420p``), trimmed as above.
        link: hard-link (or symlink) loose source files instead of copying them.
        spec: the subset spec that selected ``ids``, saved as ``subset.yaml``.
        extra_files: more small files to write (relative path -> text or bytes).
        engine, workers: where units run (see :mod:`sparkle_data.export`); same bytes.
        verify: how finished files are checked on resume: ``"sha256"`` or ``"size"``.
        overwrite: replace another export (or write into a non-empty folder).
        progress: show a tqdm bar.
        on_error: ``"skip"`` drops (and counts) samples with a member that fails its check
            (an unreadable or truncated clip, a broken PNG) instead of raising; the same
            option for every export.
    """
    opts = ExportOptions.of("export_kiwi", common)
    root = Path(out)
    prefix = _relative_to_base(root, base_dir)
    ordered = check_ids(ids)
    prompts = prompts_of(catalog, ordered)
    srcs = artifact_refs(catalog, ordered, "source_video")
    tgts = artifact_refs(catalog, ordered, "edited_video")
    refs: list[ArtifactRef | None] = (
        list(artifact_refs(catalog, ordered, REF_ARTIFACT)) if stage3 else [None] * len(ordered)
    )
    all_units = [
        _KiwiUnit(sid, p, s, t, r, trim_4k1, reencode, link, opts.on_error)
        for sid, p, s, t, r in zip(ordered, prompts, srcs, tgts, refs, strict=True)
    ]
    checks = member_checks(
        ordered,
        {"source_video": srcs, "edited_video": tgts, REF_ARTIFACT: refs},
        on_error=opts.on_error,
        consistency=False,  # sizes and frame counts: the pair rules of this module
        record_shapes=True,  # ... judged from the check's headers (_KiwiUnit.shapes)
    )
    header = (*KIWI_COLUMNS, "ref_image") if stage3 else KIWI_COLUMNS
    options: dict[str, Any] = {
        "base_prefix": prefix,
        "stage3": stage3,
        "columns": list(header),
        **opts.fingerprint_options(reserved=(KIWI_CSV, MANIFEST_NAME), ids=ordered),
    }

    def plan(checked: Checked) -> ExportPlan:
        units = [
            replace(u, shapes=_checked_pair(checked, u.sample_id))
            for u in all_units
            if u.sample_id not in checked.dropped
        ]

        def finalize(results: list[UnitResult]) -> Finalized:
            rows: list[list[str]] = []
            kept: list[str] = []
            lost: list[dict[str, Any]] = []
            for unit, result in zip(units, results, strict=True):
                sid = unit.sample_id
                if "dropped" in result.data:
                    reason, detail = result.data["dropped"], result.data.get("detail")
                    lost.append({"id": sid, "reason": reason, "detail": detail})
                    continue
                row = [
                    unit.prompt,
                    prefix + member_name(sid, "source_video"),
                    prefix + member_name(sid, "edited_video"),
                ]
                if stage3:
                    row.append(prefix + member_name(sid, REF_ARTIFACT))
                rows.append(row)
                kept.append(sid)
            files = {KIWI_CSV: write_bytes(root / KIWI_CSV, _csv_bytes(rows, header))}
            files.update(opts.write_extras(root, kept))
            summary = export_summary(
                len(ordered),
                kept,
                lost,
                reencoded=sum(1 for r in results if r.data.get("reencoded")),
                csv=KIWI_CSV,
                base_prefix=prefix,
            )
            return Finalized(files, summary)

        return ExportPlan(units, finalize)

    return run_export(root, "kiwi", plan, options, opts, checks=checks, unit_name="pair")
