"""Sparkle-layout export: the catalog and verify read it unchanged, bytes are the source's."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sparkle_data.catalog import Catalog, build_catalog
from sparkle_data.catalog.verify import verify_catalog
from sparkle_data.errors import MissingArtifactError
from sparkle_data.export import ExportReport, export_sparkle
from sparkle_data.export.sparkle import SPARKLE_INDEX
from sparkle_data.layout import (
    ARTIFACTS,
    RECORD_FILES,
    artifact_relpath,
    edit_type_of,
    prompts_csv_path,
    prompts_metadata_path,
    record_path,
)
from sparkle_data.readers.prompts import load_prompts_csv
from sparkle_data.testing import SampleTreeSummary


@pytest.fixture(scope="module")
def catalog(sample_tree: SampleTreeSummary) -> Catalog:
    return build_catalog(sample_tree.root, cache=False)


@pytest.fixture(scope="module")
def ids(catalog: Catalog) -> list[str]:
    return [str(i) for i in catalog.corpus().index[1::2]]  # every other corpus id


@pytest.fixture(scope="module")
def exported(
    catalog: Catalog, ids: list[str], tmp_path_factory: pytest.TempPathFactory
) -> ExportReport:
    out = tmp_path_factory.mktemp("sparkle") / "Sparkle"
    return export_sparkle(catalog, ids, out, shard_bytes=60_000, previews=1, progress=False)


def test_catalog_and_verify_read_the_subset(
    catalog: Catalog, ids: list[str], exported: ExportReport
) -> None:
    out = exported.out
    sub = build_catalog(out, cache=False)
    assert sorted(sub.table.index) == sorted(ids)
    assert (sub.table["status"] == "corpus").all()
    report = verify_catalog(sub, index_file=out / SPARKLE_INDEX, sha256=True)
    assert report.ok, str(report)
    assert not [n for n in report.notes if n.code != "missing-piece"]
    assert sub.missing() == []
    for sid in ids:
        for artifact in ARTIFACTS:
            assert sub.read_bytes(sid, artifact) == catalog.read_bytes(sid, artifact)
    columns = [
        c
        for c in catalog.table.columns
        if not c.startswith(tuple(ARTIFACTS)) or c.startswith("edited_video_score")
    ]
    pd.testing.assert_frame_equal(
        sub.table.loc[ids, columns], catalog.table.loc[ids, columns], check_dtype=False
    )


def test_shards_cut_by_size_with_previews(
    catalog: Catalog, ids: list[str], exported: ExportReport
) -> None:
    out = exported.out
    sub = build_catalog(out, cache=False)
    shards = {p.name: p.stat().st_size for p in out.rglob("*.tar")}
    assert len(shards) > 2 * 5 * 2  # corpus families are cut in more than one shard
    for name, size in shards.items():
        index = sub.indexes[f"intermediate_data/{name}" if name not in sub.indexes else name]
        assert size <= 60_000 or len(index) == 1
    first = {}
    for sid in ids:
        first.setdefault(edit_type_of(sid), sid)
    for sid in first.values():
        for artifact in ARTIFACTS:
            assert (out / artifact_relpath(sid, artifact)).read_bytes() == catalog.read_bytes(
                sid, artifact
            )


def test_text_files_keep_selected_ids_only(
    catalog: Catalog, ids: list[str], exported: ExportReport
) -> None:
    src, out = Path(catalog.root), exported.out
    chosen = set(ids)
    for et in ("location", "openve3m"):
        rows = load_prompts_csv(out / prompts_csv_path(et))
        source_rows = [
            r for r in load_prompts_csv(src / prompts_csv_path(et)) if r.sample_id in chosen
        ]
        assert rows == source_rows
        for rel in [prompts_metadata_path(et), *(record_path(et, r) for r in RECORD_FILES)]:
            kept = (out / rel).read_bytes().splitlines(keepends=True)
            source = [
                line
                for line in (src / rel).read_bytes().splitlines(keepends=True)
                if json.loads(line)["id"] in chosen
            ]
            assert kept == source  # byte-identical lines, rejected ids left out
            assert kept


def test_partial_artifacts_are_refused(catalog: Catalog, tmp_path: Path) -> None:
    rejected = [str(i) for i in catalog.rejected().index[:1]]
    with pytest.raises(MissingArtifactError, match="lack it"):
        export_sparkle(catalog, [*rejected, "Sparkle_time_000000"], tmp_path / "a", progress=False)
    report = export_sparkle(
        catalog,
        [*rejected, "Sparkle_time_000000"],
        tmp_path / "b",
        artifacts=[],
        progress=False,
    )
    sub = build_catalog(report.out, cache=False)
    assert set(sub.table["status"]) == {"corpus", "rejected"}
    assert verify_catalog(sub).ok
