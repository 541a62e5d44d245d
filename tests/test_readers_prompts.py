"""Prompts CSV, metadata JSONL and their join; every bad input is built here."""

from __future__ import annotations

import io
import json
import pathlib

import pytest

from sparkle_data.errors import CorruptRecordError, JoinError, LayoutError
from sparkle_data.policy import SkipReport
from sparkle_data.readers.prompts import (
    JoinReport,
    MetadataRecord,
    PromptRow,
    iter_prompts_csv,
    join_prompts,
    load_metadata_jsonl,
    load_prompts_csv,
)

HEADER = "prompt,src_video,tgt_video,task"


def sid(i: int, et: str = "location") -> str:
    return f"Sparkle_{et}_{i:06d}"


def row(i: int, prompt: str = "Replace the background.", et: str = "location") -> str:
    s = sid(i, et)
    return f"{prompt},{et}/source_video/{s}.mp4,{et}/edited_video/{s}.mp4,{s}"


def csv_bytes(*rows: str, header: str = HEADER, eol: str = "\n") -> bytes:
    return (eol.join([header, *rows]) + eol).encode()


def read(data: bytes, **kw: object) -> list[PromptRow]:
    return load_prompts_csv(io.BytesIO(data), name="location_train.csv", **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- CSV: valid


def test_bom_crlf_quotes_commas_newlines() -> None:
    tricky = '"Put, ""her"" on a\r\nroof\nat dusk"'
    data = b"\xef\xbb\xbf" + csv_bytes(row(0, tricky), row(1), eol="\r\n")
    rows = read(data)
    assert [r.sample_id for r in rows] == [sid(0), sid(1)]
    assert rows[0].prompt == 'Put, "her" on a\r\nroof\nat dusk'
    assert rows[0].src_video == "location/source_video/Sparkle_location_000000.mp4"
    assert rows[0].tgt_video == "location/edited_video/Sparkle_location_000000.mp4"
    assert rows[0].edit_type == "location"


def test_sources_and_blank_lines(tmp_path: pathlib.Path) -> None:
    p = tmp_path / "location_train.csv"
    p.write_bytes(csv_bytes(row(0), "", row(1)))
    assert load_prompts_csv(p) == load_prompts_csv(str(p)) == read(p.read_bytes())
    with p.open("rb") as f:
        assert [r.sample_id for r in iter_prompts_csv(f, edit_type="location")] == [sid(0), sid(1)]


def test_prompt_row_validates_paths_before_anything_is_opened() -> None:
    s = sid(3)
    ok = PromptRow(s, "p", f"location/source_video/{s}.mp4", f"location/edited_video/{s}.mp4")
    assert ok.edit_type == "location"
    with pytest.raises(LayoutError, match="src_video"):
        PromptRow(s, "p", "../../etc/passwd", f"location/edited_video/{s}.mp4")
    with pytest.raises(LayoutError, match="sample_id"):
        PromptRow("Sparkle_x_1", "p", "a", "b")
    with pytest.raises(CorruptRecordError, match="prompt"):
        PromptRow(s, " ", f"location/source_video/{s}.mp4", f"location/edited_video/{s}.mp4")


# --------------------------------------------------------------------------- CSV: header


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("prompt,src_video,task", "missing tgt_video"),
        ("prompt,src_video,tgt_video,task,extra", "unexpected 'extra'"),
        ("prompt,tgt_video,src_video,task", "columns out of order"),
        ("prompt, src_video,tgt_video,task", "missing src_video; unexpected ' src_video'"),
        ("Prompt,src_video,tgt_video,task", "missing prompt; unexpected 'Prompt'"),
    ],
)
def test_wrong_header_is_fatal_and_says_what_is_wrong(header: str, problem: str) -> None:
    data = csv_bytes(row(0), header=header)
    with pytest.raises(CorruptRecordError, match="CSV header") as e:
        read(data, on_error="skip")
    assert problem in str(e.value)
    assert e.value.path == "location_train.csv"
    assert e.value.line == 1


def test_empty_file_and_bom_only_file() -> None:
    for data in (b"", b"\xef\xbb\xbf", b"\n\n"):
        with pytest.raises(CorruptRecordError, match="no header"):
            read(data)


# --------------------------------------------------------------------------- CSV: bad rows


def test_error_names_file_row_line_sample_and_field() -> None:
    s = sid(2)
    multi = f'"two\nlines",location/source_video/{sid(1)}.mp4,location/edited_video/{sid(1)}.mp4'
    bad = f"p,../../etc/passwd,location/edited_video/{s}.mp4,{s}"
    data = csv_bytes(row(0), f"{multi},{sid(1)}", bad)
    with pytest.raises(LayoutError) as e:
        read(data)
    err = e.value
    # header is line 1; row 1 is line 2; row 2 spans lines 3-4; row 3 starts on line 5.
    assert (err.path, err.line, err.sample_id) == ("location_train.csv", 5, s)
    msg = str(err)
    assert "src_video (CSV row 3) '../../etc/passwd'" in msg
    assert f"location/source_video/{s}.mp4" in msg


@pytest.mark.parametrize(
    ("src", "tgt", "hint"),
    [
        ("../../etc/passwd", None, "never opened"),
        ("/etc/passwd", None, "never opened"),
        ("season/source_video/Sparkle_location_000000.mp4", None, "never opened"),
        ("location/source_video/Sparkle_location_000001.mp4", None, "never opened"),
        (
            "location/edited_video/Sparkle_location_000000.mp4",
            "location/source_video/Sparkle_location_000000.mp4",
            "swapped",
        ),
        (None, "intermediate_data/location/edited_video/Sparkle_location_000000.mp4", "never"),
    ],
)
def test_paths_must_match_the_layout(src: str | None, tgt: str | None, hint: str) -> None:
    s = sid(0)
    src = src or f"location/source_video/{s}.mp4"
    tgt = tgt or f"location/edited_video/{s}.mp4"
    data = csv_bytes(f"p,{src},{tgt},{s}")
    with pytest.raises(LayoutError, match=hint) as e:
        read(data)
    assert e.value.line == 2
    report = SkipReport("skip")
    assert read(data, on_error="skip", report=report) == []
    assert dict(report.counts) == {"path_mismatch": 1}


def test_bad_utf8_wrong_columns_empty_prompt_bad_id_wrong_edit_type() -> None:
    good = [row(i) for i in range(3)]
    s5, s6 = sid(5), sid(6, "season")
    rows_ = [
        good[0],
        row(4, "caf\udcff"),  # bad UTF-8 (surrogate escaped below)
        "only,three,fields",
        f",location/source_video/{s5}.mp4,location/edited_video/{s5}.mp4,{s5}",
        good[1],
        "p,a,b,Sparkle_location_12",
        row(6, et="season"),
        '"unterminated,x,y,z',
    ]
    data = ("\n".join([HEADER, *rows_[:-1]]) + "\n").encode("utf-8", "surrogateescape")
    data += good[2].encode() + b"\n" + rows_[-1].encode()
    with pytest.raises(CorruptRecordError, match="UTF-8") as e:
        read(data, edit_type="location")
    assert (e.value.line, "CSV row 2" in str(e.value)) == (3, True)
    report = SkipReport("skip")
    got = read(data, edit_type="location", on_error="skip", report=report)
    assert [r.sample_id for r in got] == [sid(0), sid(1), sid(2)]
    assert dict(report.counts) == {
        "bad_utf8": 1,
        "column_count": 1,
        "invalid_field": 1,
        "invalid_id": 1,
        "edit_type_mismatch": 1,
        "csv_syntax": 1,
    }
    assert [x.line for x in report.examples] == [3, 4, 5, 7, 8, 10]
    assert report.examples[4].sample_id == s6


def test_bad_quoting_mid_file() -> None:
    data = csv_bytes(row(0), '"p"x,a,b,c', row(1))
    with pytest.raises(CorruptRecordError, match=r"CSV record \(CSV row 2\)") as e:
        read(data)
    assert e.value.line == 3
    got = read(data, on_error="skip")
    assert [r.sample_id for r in got] == [sid(0), sid(1)]


def test_duplicate_ids_raise_join_error_even_when_lenient() -> None:
    data = csv_bytes(row(0), row(1), row(0, "another prompt"))
    with pytest.raises(JoinError, match="first seen on line 2") as e:
        read(data, on_error="skip")
    assert (e.value.line, e.value.sample_id) == (4, sid(0))


def test_wrong_edit_type_argument() -> None:
    with pytest.raises(LayoutError, match="edit type"):
        read(csv_bytes(row(0)), edit_type="autumn")


# --------------------------------------------------------------------------- metadata JSONL


def meta(i: int, et: str = "location", **over: object) -> dict[str, object]:
    md: dict[str, object] = {
        "edit_type": "openve3m_background_change" if et == "openve3m" else et,
        "original_scene": "A street.",
    }
    if et != "openve3m":
        md["chosen_keyword"] = "urban: rooftop overlooking skyline"
    md.update({k: v for k, v in over.items() if k != "prompt"})
    return {
        "id": sid(i, et),
        "prompt": over.get("prompt", "Replace the background."),
        "metadata": md,
    }


def jsonl(*objs: object) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objs)


def read_meta(data: bytes, **kw: object) -> list[MetadataRecord]:
    return load_metadata_jsonl(io.BytesIO(data), name="m.jsonl", **kw)  # type: ignore[arg-type]


def test_metadata_valid_records() -> None:
    recs = read_meta(
        jsonl(
            meta(0),
            meta(1, "openve3m"),
            meta(2, "openve3m", chosen_keyword=""),
            meta(3, "openve3m", chosen_keyword=None),
            meta(4, "openve3m", edit_type="openve3m", chosen_keyword="retro: neon alley"),
        )
    )
    loc, ove, ove_empty, ove_null, ove_kw = recs
    assert (loc.edit_type, loc.raw_edit_type) == ("location", "location")
    assert (loc.subtheme, loc.scene) == ("urban", "rooftop overlooking skyline")
    assert (ove.edit_type, ove.raw_edit_type) == ("openve3m", "openve3m_background_change")
    assert ove.chosen_keyword is ove.subtheme is ove.scene is None
    assert ove_empty.chosen_keyword is None
    assert ove_null.chosen_keyword is None
    assert (ove_kw.subtheme, ove_kw.scene) == ("retro", "neon alley")


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        ({"chosen_keyword": None}, "metadata.chosen_keyword", "invalid_field"),
        ({"chosen_keyword": ""}, "metadata.chosen_keyword", "invalid_field"),
        ({"chosen_keyword": "no separator"}, "metadata.chosen_keyword", "invalid_field"),
        ({"edit_type": "season"}, "metadata.edit_type", "edit_type_mismatch"),
        ({"edit_type": "autumn"}, "metadata.edit_type", "invalid_field"),
        ({"original_scene": 3}, "metadata.original_scene", "invalid_field"),
        ({"prompt": ""}, "prompt", "invalid_field"),
    ],
)
def test_metadata_bad_fields(record: dict[str, object], field: str, reason: str) -> None:
    data = jsonl(meta(0), meta(1, **record))
    with pytest.raises((LayoutError, CorruptRecordError)) as e:
        read_meta(data)
    assert str(e.value).startswith(f"Invalid {field} ")
    assert (e.value.path, e.value.line, e.value.sample_id) == ("m.jsonl", 2, sid(1))
    report = SkipReport("skip")
    assert [r.sample_id for r in read_meta(data, on_error="skip", report=report)] == [sid(0)]
    assert dict(report.counts) == {reason: 1}


def test_metadata_structure_errors() -> None:
    no_md = {"id": sid(1), "prompt": "p"}
    bad_id = {**meta(2), "id": "Sparkle_location_2"}
    data = jsonl(meta(0), no_md, bad_id, meta(3, "season")) + b'{"id": "Spark'
    report = SkipReport("skip")
    got = read_meta(data, edit_type="location", on_error="skip", report=report)
    assert [r.sample_id for r in got] == [sid(0)]
    assert dict(report.counts) == {
        "invalid_field": 1,
        "invalid_id": 1,
        "edit_type_mismatch": 1,
        "truncated_line": 1,
    }


def test_metadata_record_direct() -> None:
    with pytest.raises(LayoutError, match="required for edit type 'style'"):
        MetadataRecord(sid(0, "style"), "p", "style", None, "scene")


# --------------------------------------------------------------------------- join


def rows_for(*ids: int) -> list[PromptRow]:
    return read(csv_bytes(*(row(i) for i in ids)))


def metas_for(*ids: int, prompt: str = "Replace the background.") -> list[MetadataRecord]:
    return read_meta(jsonl(*(meta(i, prompt=prompt) for i in ids)))


def test_join_ok() -> None:
    joined = join_prompts(rows_for(0, 1, 2), metas_for(2, 1, 0))
    assert joined.report == JoinReport(3, (), (), ())
    assert joined.report.ok
    assert [s.sample_id for s in joined.samples] == [sid(0), sid(1), sid(2)]
    assert joined.samples[0].metadata.subtheme == "urban"


def test_join_strict_mismatch_raises_with_counts() -> None:
    metas = [*metas_for(1, 2, 3), *metas_for(0, prompt="Something else.")]
    with pytest.raises(JoinError) as e:
        join_prompts(rows_for(0, 1, 2, 4), metas)
    msg = str(e.value)
    assert "joined: 2, csv_only: 1, metadata_only: 1, prompt_mismatch: 1" in msg
    assert sid(4) in msg
    assert sid(3) in msg


def test_join_lenient_reports_counts() -> None:
    metas = [*metas_for(1, 2, 3), *metas_for(0, prompt="Something else.")]
    report = SkipReport("skip")
    joined = join_prompts(rows_for(0, 1, 2, 4), metas, on_error="skip", report=report)
    assert [s.sample_id for s in joined.samples] == [sid(1), sid(2)]
    assert joined.report == JoinReport(2, (sid(4),), (sid(3),), (sid(0),))
    assert joined.report.counts() == {
        "joined": 2,
        "csv_only": 1,
        "metadata_only": 1,
        "prompt_mismatch": 1,
    }
    assert dict(report.counts) == {"csv_only": 1, "metadata_only": 1, "prompt_mismatch": 1}


def test_join_duplicates_always_raise() -> None:
    with pytest.raises(JoinError, match="appears twice"):
        join_prompts(rows_for(0), [*metas_for(0), *metas_for(0)], on_error="skip")
