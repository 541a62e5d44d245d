"""Score files, answer parsing and aggregation against hand-computed values."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from sparkle_data.cli import main
from sparkle_data.errors import JoinError
from sparkle_data.sparkle_bench.aggregate import load_run, macro_row, theme_scores
from sparkle_data.sparkle_bench.errors import IncompleteScoresError, ScoreFileError
from sparkle_data.sparkle_bench.outputs import score_file_name, status_file_name
from sparkle_data.sparkle_bench.rubric import parse_answer
from sparkle_data.sparkle_bench.scorefile import (
    ScoreRecord,
    ScoreWriter,
    read_score_file,
    repair_torn_tail,
)
from sparkle_data.sparkle_bench.table import format_table, table_csv

RATER = "gemini-2.5-pro"
SCORES: dict[str, list[list[int]]] = {
    "location": [[5, 5, 5, 5, 5, 5], [3, 3, 2, 3, 1, 3], [4, 4, 4, 4, 4, 4]],
    "season": [[2, 2, 2, 2, 1, 2], [4, 3, 4, 4, 4, 4]],
    "style": [[1, 1, 1, 1, 1, 1]],
    "time": [[5, 4, 3, 2, 1, 5]],
}
# per theme: (six means, overall), by hand
THEME_MEANS = {
    "location": ((4, 4, 11 / 3, 4, 10 / 3, 4), 23 / 6),
    "season": ((3, 2.5, 3, 3, 2.5, 3), 17 / 6),
    "style": ((1, 1, 1, 1, 1, 1), 1.0),
    "time": ((5, 4, 3, 2, 1, 5), 20 / 6),
}
MACRO = ((13 / 4, 11.5 / 4, 8 / 3, 10 / 4, 47 / 24, 13 / 4), 2.75)
# without "style": (location + season + time) / 3
MACRO_NO_STYLE = (
    (12 / 3, 10.5 / 3, (11 / 3 + 6) / 3, 9 / 3, (10 / 3 + 3.5) / 3, 12 / 3),
    (23 / 6 + 17 / 6 + 20 / 6) / 3,
)


def _ids(theme: str) -> list[str]:
    return [f"Sparkle_{theme}_{k:06d}" for k in range(1, len(SCORES[theme]) + 1)]


def _upstream_line(theme: str, sid: str, scores: list[int]) -> str:
    """A line exactly as upstream's script writes it: {**meta_info, scores, result}."""
    meta = {"id": sid, "prompt": "Mettez un décor d'hiver ❄", "edit_type": theme,
            "subtheme": "winter", "scene": "snowy street"}
    result = "Brief reasoning: ok.\nInstruction Compliance: 5."
    return json.dumps({**meta, "scores": scores, "result": result}, ensure_ascii=False) + "\n"


def _write_run(
    out: Path, themes: tuple[str, ...] = tuple(SCORES), *, upstream: bool = False,
    expected_extra: dict[str, list[str]] | None = None,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for theme in themes:
        path = out / score_file_name(theme, RATER)
        ids = _ids(theme)
        if upstream:
            path.write_text(
                "".join(_upstream_line(theme, s, sc) for s, sc in zip(ids, SCORES[theme],
                                                                      strict=True)),
                encoding="utf-8",
            )
        else:
            with ScoreWriter(path) as w:
                for s, sc in zip(ids, SCORES[theme], strict=True):
                    w.append(ScoreRecord(s, "p", theme, "sub", "scene", tuple(sc), "r"))
        if not upstream:
            expected = ids + (expected_extra or {}).get(theme, [])
            (out / status_file_name(theme, RATER)).write_text(
                json.dumps({"theme": theme, "expected": expected, "unrated": {}})
            )


def _approx(values: tuple[float, ...]) -> object:
    return pytest.approx(values, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("upstream", [False, True])
def test_theme_and_macro_means_match_hand_computed_values(tmp_path: Path, upstream: bool) -> None:
    _write_run(tmp_path / "run", upstream=upstream)
    expected = {t: _ids(t) for t in SCORES} if upstream else None
    run = load_run(tmp_path / "run", expected=expected)
    assert run.tag == RATER
    assert [t.theme for t in run.themes] == ["location", "season", "style", "time"]
    for t in run.themes:
        means, overall = THEME_MEANS[t.theme]
        assert t.means == _approx(means)
        assert t.overall == pytest.approx(overall, rel=1e-12)
        assert t.n == len(SCORES[t.theme])
        assert t.missing == ()
    m = run.macro()
    assert m.means == _approx(MACRO[0])
    assert m.overall == pytest.approx(MACRO[1], rel=1e-12)
    assert m.n == 7


def test_upstream_files_without_an_item_list_refuse_the_macro_row(tmp_path: Path) -> None:
    _write_run(tmp_path / "run", upstream=True)
    run = load_run(tmp_path / "run")
    assert run.unknown_expected == ("location", "season", "style", "time")
    with pytest.raises(IncompleteScoresError, match="expected items unknown"):
        run.macro()
    assert run.macro(allow_missing=True).overall == pytest.approx(2.75)


def test_a_missing_theme_refuses_the_macro_row_unless_allowed(tmp_path: Path) -> None:
    _write_run(tmp_path / "run", themes=("location", "season", "time"))
    run = load_run(tmp_path / "run")
    assert run.missing_themes == ("style",)
    with pytest.raises(IncompleteScoresError, match="themes without scores: style"):
        run.macro()
    m = run.macro(allow_missing=True)
    assert m.themes == ("location", "season", "time")
    assert m.means == _approx(MACRO_NO_STYLE[0])
    assert m.overall == pytest.approx(MACRO_NO_STYLE[1], rel=1e-12)
    text = format_table([run], allow_missing=True)
    rows = [ln.split() for ln in text.splitlines()]
    assert ["style", "run", "0", "?", "missing", "theme"] in rows
    assert "over 3 themes (no style)" in text


def test_unrated_items_are_counted_and_refuse_the_macro_row(tmp_path: Path) -> None:
    _write_run(tmp_path / "run", expected_extra={"time": ["Sparkle_time_000009"]})
    run = load_run(tmp_path / "run")
    time_ = next(t for t in run.themes if t.theme == "time")
    assert (time_.expected, time_.missing) == (2, ("Sparkle_time_000009",))
    with pytest.raises(IncompleteScoresError, match="time: 1 of 2 items unrated"):
        run.macro()
    rows = list(csv.DictReader(io.StringIO(table_csv([run], allow_missing=True))))
    macro = rows[-1]
    assert (macro["theme"], macro["n"], macro["expected"], macro["missing"]) == (
        "MACRO", "7", "8", "1")
    assert float(macro["overall"]) == pytest.approx(2.75, rel=1e-12)
    refused = list(csv.DictReader(io.StringIO(table_csv([run]))))[-1]
    assert refused["overall"] == ""
    assert refused["note"].startswith("refused: time: 1 of 2 items unrated")


def test_records_outside_the_item_list_are_an_error(tmp_path: Path) -> None:
    _write_run(tmp_path / "run")
    expected = {t: _ids(t) for t in SCORES}
    expected["style"] = ["Sparkle_style_000005"]
    with pytest.raises(JoinError, match="not among the 1 expected style items"):
        load_run(tmp_path / "run", expected=expected)


def test_macro_of_nothing_and_theme_without_records() -> None:
    with pytest.raises(IncompleteScoresError):
        macro_row([])
    with pytest.raises(ScoreFileError):
        theme_scores("time", [])


@pytest.mark.parametrize(
    ("answer", "scores"),
    [
        ("Instruction Compliance: 4\nOverall Visual Quality: 3\nForeground Integrity: 5\n"
         "Foreground Motion Consistency: 4\nBackground Dynamics: 2\n"
         "Background Visual Quality: 4", (4, 3, 4, 4, 2, 4)),  # capped: 5 -> 4
        ("Brief reasoning: good.\n  Instruction Compliance: 2.\nOverall Visual Quality: 5.\n"
         "Foreground Integrity: 5\nForeground Motion Consistency: 5\nBackground Dynamics: 1\n"
         "Background Visual Quality: 3.9", (2, 2, 2, 2, 1, 2)),
        ("Instruction Compliance: 4.7\nOverall Visual Quality: 1\nForeground Integrity: 1\n"
         "Foreground Motion Consistency: 1\nBackground Dynamics: 1\n"
         "Background Visual Quality: 1\nInstruction Compliance: 5", (5, 1, 1, 1, 1, 1)),
        ("Instruction Compliance: 0\nOverall Visual Quality: 1\nForeground Integrity: 1\n"
         "Foreground Motion Consistency: 1\nBackground Dynamics: 1\n"
         "Background Visual Quality: 1", None),
        ("Instruction Compliance: 3\nOverall Visual Quality: 1\nForeground Integrity: 1\n"
         "Foreground Motion Consistency: 1\nBackground Dynamics: 1", None),
        ("Instruction Compliance: nan\nOverall Visual Quality: 1\nForeground Integrity: 1\n"
         "Foreground Motion Consistency: 1\nBackground Dynamics: 1\n"
         "Background Visual Quality: 1", None),
        ("Instruction Compliance: 3/5\nOverall Visual Quality: 1\nForeground Integrity: 1\n"
         "Foreground Motion Consistency: 1\nBackground Dynamics: 1\n"
         "Background Visual Quality: 1", None),
        ("", None),
    ],
)
def test_parse_answer_follows_upstream(answer: str, scores: tuple[int, ...] | None) -> None:
    assert parse_answer(answer) == scores


def test_uncapped_or_out_of_range_records_are_refused(tmp_path: Path) -> None:
    path = tmp_path / score_file_name("time", RATER)
    path.write_text(_upstream_line("time", "Sparkle_time_000001", [2, 5, 5, 4, 1, 3]))
    with pytest.raises(ScoreFileError, match=r"cap rule.*line 1"):
        read_score_file(path)
    path.write_text(_upstream_line("time", "Sparkle_time_000001", [6, 5, 5, 4, 1, 3]))
    with pytest.raises(ScoreFileError, match=r"6 integers in 1\.\.5"):
        read_score_file(path)
    path.write_text(_upstream_line("time", "Sparkle_time_000001", [3] * 6) * 2)
    with pytest.raises(JoinError, match="rated twice"):
        read_score_file(path)


def test_torn_tail_is_detected_dropped_and_repaired(tmp_path: Path) -> None:
    path = tmp_path / score_file_name("time", RATER)
    good = _upstream_line("time", "Sparkle_time_000001", [3] * 6)
    path.write_text(good + '{"id": "Sparkle_time_0000', encoding="utf-8")
    sf = read_score_file(path)
    assert (sf.torn_tail, [r.id for r in sf.records]) == (True, ["Sparkle_time_000001"])
    assert repair_torn_tail(path) == len('{"id": "Sparkle_time_0000')
    assert path.read_text(encoding="utf-8") == good
    # a complete last line missing only its newline is kept, and gets one
    second = _upstream_line("time", "Sparkle_time_000002", [4] * 6)
    path.write_text(good + second[:-1], encoding="utf-8")
    with ScoreWriter(path) as w:
        assert w.dropped_bytes == 0
        w.append(ScoreRecord("Sparkle_time_000003", "p", "time", "s", "c", (1,) * 6, "r"))
    assert [r.id for r in read_score_file(path).records] == [
        "Sparkle_time_000001", "Sparkle_time_000002", "Sparkle_time_000003"]
    # a bad line that is not the last one is an error, with its line number
    path.write_text("{oops\n" + good, encoding="utf-8")
    with pytest.raises(ScoreFileError, match="line 1"):
        read_score_file(path)


def test_cli_scores_side_by_side_csv_plot_and_refusal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_run(tmp_path / "a")
    _write_run(tmp_path / "b", themes=("location", "season", "time"))
    argv = ["sparkle-bench", "scores", str(tmp_path / "a"), str(tmp_path / "b"),
            "--names", "base", "ours", "--csv", str(tmp_path / "cmp.csv")]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "macro row of ours refused: themes without scores: style" in captured.err
    lines = captured.out.splitlines()
    assert lines[0].split() == ["theme", "run", "n", "missing", "Overall", "Ins", "Vis", "FgIn",
                                "FgMo", "BgDy", "BgVi"]
    assert "location  base     3       0    3.83  4.00  4.00  3.67  4.00  3.33  4.00" in lines
    assert "MACRO     base     7       0    2.75  3.25  2.88  2.67  2.50  1.96  3.25" in lines
    assert main([*argv, "--allow-missing", "--plot", str(tmp_path / "plots"), "--json",
                 str(tmp_path / "rows.json")]) == 0
    out = capsys.readouterr().out
    assert "MACRO     ours     6       0    3.33" in out
    rows = list(csv.DictReader((tmp_path / "cmp.csv").open()))
    assert [(r["theme"], r["run"]) for r in rows][-2:] == [("MACRO", "base"), ("MACRO", "ours")]
    assert float(rows[-1]["overall"]) == pytest.approx(MACRO_NO_STYLE[1], rel=1e-12)
    pngs = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert pngs == sorted(["overall.png", "instruction.png", "visual.png", "fg_integrity.png",
                           "fg_motion.png", "bg_dynamics.png", "bg_visual.png"])
    assert (tmp_path / "plots" / "overall.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "rows.json").read_text())[-1]["run"] == "ours"


def test_cli_scores_on_a_dir_without_score_files_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sparkle-bench", "scores", str(tmp_path)]) != 0
    assert "holds no {theme}_{rater}_sparkle_score.jsonl" in capsys.readouterr().err


def test_load_run_refuses_a_rater_with_no_score_file(tmp_path: Path) -> None:
    """An unknown ``tag`` is an error naming the raters present, not a run of missing themes."""
    _write_run(tmp_path / "run")
    with pytest.raises(ScoreFileError, match=r"no score file of it \(raters: .*\)") as info:
        load_run(tmp_path / "run", tag=RATER + "x")
    assert f"Did you mean {RATER!r}?" in str(info.value)
    (tmp_path / "empty-run").mkdir()
    with pytest.raises(ScoreFileError, match="nothing to aggregate"):
        load_run(tmp_path / "empty-run")
