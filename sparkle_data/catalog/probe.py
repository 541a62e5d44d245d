"""Optional catalog columns from video headers: frame counts and sizes (no frame decoded).

One header read per video (a ranged read for a shard member). ``num_frames`` is the source
video's frame count, the column the ``frames`` filter uses. A :class:`Catalog` is frozen:
probing returns a new catalog whose table has the columns (the one given is not changed);
:func:`probe_video_columns` returns the columns alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from sparkle_data.errors import SparkleError
from sparkle_data.policy import SkipReport
from sparkle_data.readers.video import probe_video

if TYPE_CHECKING:
    import pandas as pd

    from sparkle_data.catalog.model import Catalog

__all__ = ["PROBED_VIDEOS", "probe_catalog_videos", "probe_video_columns"]

PROBED_VIDEOS: tuple[str, ...] = ("source_video", "edited_video")
_PREFIX = {"source_video": "source", "edited_video": "edited"}


def probe_catalog_videos(
    catalog: Catalog,
    *,
    artifacts: Sequence[str] = PROBED_VIDEOS,
    max_workers: int = 4,
    progress: bool = False,
    report: SkipReport | None = None,
) -> Catalog:
    """A copy of ``catalog`` whose table has the probed columns (see the module doc)."""
    from dataclasses import replace

    columns = probe_video_columns(
        catalog, artifacts=artifacts, max_workers=max_workers, progress=progress, report=report
    )
    table = catalog.table.assign(**{str(k): v for k, v in columns.items()})
    return replace(catalog, table=table)


def probe_video_columns(
    catalog: Catalog,
    *,
    artifacts: Sequence[str] = PROBED_VIDEOS,
    max_workers: int = 4,
    progress: bool = False,
    report: SkipReport | None = None,
) -> pd.DataFrame:
    """``{source,edited}_{num_frames,width,height}`` and ``num_frames`` for corpus samples
    whose video is present (NaN elsewhere), as a frame indexed like the catalog's table."""
    import numpy as np
    import pandas as pd
    from tqdm.auto import tqdm

    report = report if report is not None else catalog.report
    t = catalog.table
    jobs: list[tuple[str, str]] = []
    for artifact in artifacts:
        present = t["in_corpus"] & (t[f"{artifact}_file"].notna() | t[f"{artifact}_shard"].notna())
        jobs.extend((str(sid), artifact) for sid in t.index[present])

    def one(job: tuple[str, str]) -> tuple[int, int, int] | None:
        sid, artifact = job
        try:
            with catalog.open(sid, artifact) as f:
                info = probe_video(f, name=catalog.name_of(sid, artifact), sample_id=sid)
        except SparkleError as e:
            report.handle(e)
            return None
        return info.num_frames, info.width, info.height

    workers = 1 if max_workers <= 1 else max_workers
    with (
        ThreadPoolExecutor(max_workers=workers) as pool,
        tqdm(total=len(jobs), disable=not progress, unit="video", desc="probe") as bar,
    ):
        results = []
        for r in pool.map(one, jobs):
            results.append(r)
            bar.update(1)
    cols = pd.DataFrame(index=t.index)
    for artifact in artifacts:
        prefix = _PREFIX.get(artifact, artifact)
        for col in ("num_frames", "width", "height"):
            cols[f"{prefix}_{col}"] = np.nan
    for (sid, artifact), r in zip(jobs, results, strict=True):
        if r is not None:
            prefix = _PREFIX.get(artifact, artifact)
            cols.loc[sid, [f"{prefix}_num_frames", f"{prefix}_width", f"{prefix}_height"]] = r
    if "source_video" in artifacts:
        cols["num_frames"] = cols["source_num_frames"]
    out: pd.DataFrame = cols
    return out
