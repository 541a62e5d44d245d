"""Sparkle-Bench CSV and metadata readers."""

from __future__ import annotations

import io
import json

import pytest

from sparkle_data.errors import CorruptRecordError, JoinError, LayoutError
from sparkle_data.policy import SkipReport
from sparkle_data.readers.prompts import join_prompts
from sparkle_data.readers.sparkle_bench import (
    BenchRow,
    load_bench_csv,
    load_bench_metadata_jsonl,
)

HEADER = "edited_type,prompt,original_video"


def vid(i: int, et: str = "location") -> str:
    return f"source_videos/{et}/Sparkle_{et}_{i:06d}.mp4"


def bench_csv(*rows: str, header: str = HEADER) -> bytes:
    return ("\r\n".join([header, *rows]) + "\r\n").encode()


def read(data: bytes, **kw: object) -> list[BenchRow]:
    return load_bench_csv(io.BytesIO(data), name="location_bench.csv", **kw)  # type: ignore[arg-type]


def test_bench_csv_valid() -> None:
    rows = read(
        b"\xef\xbb\xbf"
        + bench_csv(
            f'location,"Put her, ""smiling"", on a\nroof",{vid(11)}', f"location,p,{vid(12)}"
        )
    )
    assert [(r.sample_id, r.edit_type) for r in rows] == [
        ("Sparkle_location_000011", "location"),
        ("Sparkle_location_000012", "location"),
    ]
    assert rows[0].prompt == 'Put her, "smiling", on a\nroof'
    assert rows[0].original_video == vid(11)


@pytest.mark.parametrize(
    ("line", "what", "reason"),
    [
        ("location,p,../../etc/passwd", "original_video", "path_mismatch"),
        (f"location,p,{vid(1, 'season').replace('/season/', '/location/')}", "original_video",
         "path_mismatch"),
        (f"openve3m,p,{vid(1, 'openve3m')}", "original_video", "path_mismatch"),
        (f"season,p,{vid(1)}", "edited_type", "edit_type_mismatch"),
        (f"location,,{vid(1)}", "prompt", "invalid_field"),
        (f"location,p,{vid(1)},extra", "CSV fields", "column_count"),
    ],
)  # fmt: skip
def test_bench_csv_bad_rows(line: str, what: str, reason: str) -> None:
    data = bench_csv(f"location,p,{vid(0)}", line)
    with pytest.raises((LayoutError, CorruptRecordError)) as e:
        read(data)
    assert str(e.value).startswith(f"Invalid {what} (CSV row 2)")
    assert (e.value.path, e.value.line) == ("location_bench.csv", 3)
    report = SkipReport("skip")
    assert len(read(data, on_error="skip", report=report)) == 1
    assert dict(report.counts) == {reason: 1}


def test_bench_csv_header_and_duplicates() -> None:
    with pytest.raises(CorruptRecordError, match="missing original_video"):
        read(bench_csv(header="edited_type,prompt,video"))
    with pytest.raises(JoinError, match="duplicate"):
        read(bench_csv(f"location,p,{vid(0)}", f"location,q,{vid(0)}"), on_error="skip")


def test_bench_row_direct() -> None:
    with pytest.raises(LayoutError, match="basename"):
        BenchRow("Sparkle_location_000001", "location", "p", vid(2))


def meta(i: int, et: str = "location") -> dict[str, object]:
    return {
        "id": f"Sparkle_{et}_{i:06d}",
        "prompt": "p",
        "metadata": {
            "edit_type": et,
            "chosen_keyword": "landmark: ancient stone ruins with wind-swept grass",
            "original_scene": "A bar.",
        },
    }


def test_bench_metadata_and_join() -> None:
    data = b"".join(json.dumps(m).encode() + b"\n" for m in (meta(0), meta(1), meta(2, "openve3m")))
    with pytest.raises(LayoutError, match="not allowed here") as e:
        load_bench_metadata_jsonl(io.BytesIO(data))
    assert e.value.line == 3
    report = SkipReport("skip")
    metas = load_bench_metadata_jsonl(io.BytesIO(data), on_error="skip", report=report)
    assert dict(report.counts) == {"edit_type_mismatch": 1}
    rows = read(bench_csv(f"location,p,{vid(0)}", f"location,p,{vid(1)}"))
    joined = join_prompts(rows, metas)
    assert joined.report.ok
    assert joined.samples[1].metadata.scene == "ancient stone ruins with wind-swept grass"
