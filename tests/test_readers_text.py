"""Line iteration, JSONL parsing and source handling shared by the text readers."""

from __future__ import annotations

import io
import json
import pathlib
import warnings

import pytest

from sparkle_data.errors import CorruptRecordError, JoinError
from sparkle_data.policy import SkipReport, SparkleSkipWarning
from sparkle_data.readers import _lines
from sparkle_data.readers._fields import RecordWhere
from sparkle_data.readers._text import (
    iter_jsonl_objects,
    iter_lines,
    parse_json_line,
    resolve_report,
    source_name,
)
from sparkle_data.readers.prompts import iter_metadata_jsonl


class Trickle:
    """A file object that hands out at most ``step`` bytes per read (remote-like)."""

    def __init__(self, data: bytes, step: int = 3) -> None:
        self.data, self.step, self.pos = data, step, 0
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        n = self.step if size < 0 else min(size, self.step)
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        return out


def lines(data: bytes, **kw: object) -> list[tuple[int, bytes, bool]]:
    return list(iter_lines(io.BytesIO(data), name="f", **kw))  # type: ignore[arg-type]


def test_lines_lf_crlf_bom_and_missing_final_newline() -> None:
    data = b"\xef\xbb\xbfa\r\nb\n\nc"
    assert lines(data) == [(1, b"a", True), (2, b"b", True), (3, b"", True), (4, b"c", False)]
    assert lines(data, strip_cr=False)[0] == (1, b"a\r", True)


def test_lines_split_only_on_newline_bytes() -> None:
    # U+2028, U+0085 and a lone CR may sit inside a JSON string: still one line.
    text = '{"p": "a\u2028b\u0085c\rd"}\n'
    assert lines(text.encode()) == [(1, '{"p": "a\u2028b\u0085c\rd"}'.encode(), True)]


@pytest.mark.parametrize("step", [1, 2, 3, 7])
def test_lines_across_tiny_chunks(step: int) -> None:
    data = "\ufeffé1\r\nß22\n\n€333".encode()
    got = list(iter_lines(Trickle(data, step), name="f"))
    assert got == lines(data)
    assert [n for n, _, _ in got] == [1, 2, 3, 4]


def test_lines_reject_text_mode_files() -> None:
    with pytest.raises(TypeError, match="binary mode"):
        list(iter_lines(io.StringIO("a\n"), name="f"))  # type: ignore[arg-type]


def test_lines_too_long_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_lines, "MAX_LINE_BYTES", 10)
    monkeypatch.setattr(_lines, "CHUNK_SIZE", 4)
    with pytest.raises(CorruptRecordError, match="longer than 10 bytes") as e:
        list(iter_lines(io.BytesIO(b"ok\n" + b"x" * 40), name="f"))
    assert e.value.line == 2


def test_sources_path_pathlike_file(tmp_path: pathlib.Path) -> None:
    p = tmp_path / "x.jsonl"
    p.write_bytes(b'{"a": 1}\n')
    assert source_name(str(p)) == str(p)
    assert source_name(p) == str(p)
    assert source_name(p, "hf://x") == "hf://x"
    assert source_name(io.BytesIO()) == "<stream>"
    with p.open("rb") as f:
        assert source_name(f) == str(p)
        assert list(iter_lines(f, name="x")) == [(1, b'{"a": 1}', True)]
        assert not f.closed  # a caller's file is left open
    assert list(iter_lines(p, name="x")) == list(iter_lines(str(p), name="x"))
    with pytest.raises(TypeError, match="expected a path"):
        list(iter_lines(123, name="x"))  # type: ignore[arg-type]


def test_parse_json_line_nan_reaches_validation() -> None:
    # orjson refuses NaN/Infinity; the json fallback keeps them for validation to reject.
    where = RecordWhere("f", 3)
    obj = parse_json_line(b'{"a": NaN, "b": Infinity, "c": -Infinity}', where)
    assert isinstance(obj, dict)
    assert obj["a"] != obj["a"]
    assert obj["b"] == float("inf")
    assert obj["c"] == float("-inf")


def test_parse_json_line_errors() -> None:
    where = RecordWhere("f.jsonl", 7)
    with pytest.raises(CorruptRecordError, match=r"f\.jsonl \(line 7\).*undecodable byte"):
        parse_json_line(b'{"a": "\xff"}', where)
    with pytest.raises(CorruptRecordError, match=r"Invalid JSON.*line 7") as e:
        parse_json_line(b'{"a": 1,}', where)
    assert e.value.line == 7
    with pytest.raises(CorruptRecordError, match="truncated"):
        parse_json_line(b'{"a": 1', where, terminated=False)


def jsonl(*objs: object, tail: bytes = b"") -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objs) + tail


def test_jsonl_objects_skip_blank_lines_and_count_bad_ones() -> None:
    data = (
        b"\xef\xbb\xbf"
        + jsonl({"i": 1})
        + b"   \r\n"
        + b"[1, 2]\n"
        + b'{"i": "\xff"}\n'
        + b"{oops}\r\n"
        + jsonl({"i": 2})
        + b'{"i": 3'
    )
    report = SkipReport("skip")
    got = list(iter_jsonl_objects(io.BytesIO(data), name="f", report=report))
    assert [(w.line, o) for w, o in got] == [(1, {"i": 1}), (6, {"i": 2})]
    assert dict(report.counts) == {"bad_json": 2, "bad_utf8": 1, "truncated_line": 1}
    assert [e.line for e in report.examples] == [3, 4, 5, 7]


def test_jsonl_last_line_without_newline_is_fine_when_valid() -> None:
    got = list(iter_jsonl_objects(io.BytesIO(b'{"i": 1}\n{"i": 2}'), name="f", report=SkipReport()))
    assert [o for _, o in got] == [{"i": 1}, {"i": 2}]


def test_jsonl_truncated_last_line_strict_names_line() -> None:
    with pytest.raises(CorruptRecordError, match=r"last line.*f \(line 2\).*truncated") as e:
        list(
            iter_jsonl_objects(io.BytesIO(b'{"i": 1}\n{"i": 2, "p'), name="f", report=SkipReport())
        )
    assert e.value.line == 2


def test_resolve_report() -> None:
    assert resolve_report("skip", None).on_error == "skip"
    mine = SkipReport("warn")
    assert resolve_report("warn", mine) is mine
    assert resolve_report("error", mine) is mine  # the report states the policy
    with pytest.raises(ValueError, match="on_error='warn'"):
        resolve_report("skip", mine)
    with pytest.raises(ValueError, match="on_error"):
        resolve_report("ignore", None)  # type: ignore[arg-type]


def test_report_alone_sets_the_policy() -> None:
    report = SkipReport("skip")
    data = b'{"id": "Sparkle_time_000001"}\n'
    assert list(iter_metadata_jsonl(io.BytesIO(data), report=report)) == []
    assert dict(report.counts) == {"invalid_field": 1}


def test_warn_policy_warns_and_counts() -> None:
    report = SkipReport("warn")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = list(iter_jsonl_objects(io.BytesIO(b"{\n{}\n"), name="f", report=report))
    assert len(got) == 1
    assert report.total == 1
    assert [w.category for w in caught] == [SparkleSkipWarning]


def test_skip_budget_turns_decay_into_an_error() -> None:
    report = SkipReport("skip", max_skips=1)
    with pytest.raises(CorruptRecordError, match="skip budget exhausted"):
        list(iter_jsonl_objects(io.BytesIO(b"x\ny\n{}\n"), name="f", report=report))


def test_duplicate_ids_are_never_skipped() -> None:
    line = {"id": "Sparkle_time_000001", "prompt": "p", "metadata": {}}
    # The first copy is invalid (skipped); its id still counts for the duplicate check.
    data = jsonl(line, {"id": "Sparkle_time_000002"}, line)
    with pytest.raises(JoinError, match=r"duplicate: first seen on line 1") as e:
        list(iter_metadata_jsonl(io.BytesIO(data), name="m.jsonl", on_error="skip"))
    assert (e.value.path, e.value.line, e.value.sample_id) == ("m.jsonl", 3, "Sparkle_time_000001")
