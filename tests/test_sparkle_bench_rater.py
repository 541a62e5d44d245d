"""The rater client end to end through the real ``openai`` client against a loopback fake."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("openai")

from sparkle_bench_fakes import (
    RUBRIC,
    FakeRater,
    answer_text,
    canned_scores,
    serve_fake_rater,
    write_fake_bench,
)

from sparkle_data.cli import main
from sparkle_data.sparkle_bench.errors import RaterError
from sparkle_data.sparkle_bench.items import load_items
from sparkle_data.sparkle_bench.outputs import score_file_name, status_file_name
from sparkle_data.sparkle_bench.rater import RaterConfig, make_client, rate_items
from sparkle_data.sparkle_bench.rubric import apply_cap
from sparkle_data.sparkle_bench.scorefile import read_score_file

pytestmark = pytest.mark.network
MODEL = "fake-rater-1"
THEMES = ("location", "time")


def _setup(tmp_path: Path, per_theme: int = 6) -> tuple[Path, Path, list[str]]:
    root, out = tmp_path / "Sparkle-Bench", tmp_path / "run"
    ids = write_fake_bench(root, out, per_theme)
    return root, out, ids


def _config(**kw: object) -> RaterConfig:
    base: dict[str, object] = {
        "model": MODEL, "backoff": 0.01, "max_backoff": 0.05, "timeout": 5.0, "concurrency": 4,
    }
    base.update(kw)
    return RaterConfig(**base)  # type: ignore[arg-type]


def _all_records(out: Path) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for theme in ("location", "time"):
        path = out / score_file_name(theme, MODEL)
        if path.exists():
            for r in read_score_file(path).records:
                assert r.id not in found
                found[r.id] = list(r.scores)
    return found


def test_rate_survives_every_fault_and_rates_each_item_once(tmp_path: Path) -> None:
    root, out, ids = _setup(tmp_path)
    loc = [i for i in ids if "location" in i]
    tim = [i for i in ids if "time" in i]
    capped_raw = [2, 5, 5, 4, 1, 3]
    script: dict[str, list[tuple[object, ...]]] = {
        loc[0]: [("status", 429), ("status", 500), ("status", 503)],
        loc[1]: [("text", "I cannot rate this.")],
        loc[2]: [("text", answer_text([1, 2, 3, 4, 5, 7]))],  # out of range
        loc[3]: [("drop",)],
        loc[4]: [("garbage",)],
        loc[5]: [("slow", 2.0)],  # longer than the 1 s client timeout
        tim[0]: [("text", "\n".join(answer_text([3] * 6).splitlines()[:-1]))],  # a line short
        tim[1]: [("text", answer_text(capped_raw))],
        tim[2]: [("text", "Instruction Compliance: four\n" + answer_text([4] * 6))],
    }
    rater = FakeRater(script=script)
    items = load_items(root, themes=THEMES)
    with serve_fake_rater(rater) as url:
        client = make_client(url, "test-key", timeout=1.0)
        report = rate_items(items, out, client=client, rubric=RUBRIC, config=_config(timeout=1.0))
    assert report.complete, report.unrated
    assert report.rated == {"location": 6, "time": 6}
    records = _all_records(out)
    assert sorted(records) == sorted(ids)
    for sid, scores in records.items():
        want = capped_raw if sid == tim[1] else canned_scores(sid)
        assert scores == list(apply_cap(tuple(want)))
    assert records[tim[1]] == [2, 2, 2, 2, 1, 2]
    # asks per item: each fault costs exactly one extra request
    assert rater.requests[loc[0]] == 4
    for sid in (loc[1], loc[2], loc[3], loc[4], tim[0], tim[1]):
        assert rater.requests[sid] == (1 if sid == tim[1] else 2), sid
    assert rater.requests[loc[5]] >= 2
    assert rater.requests[tim[2]] == 2  # "four" makes the whole answer invalid
    for sid in tim[3:]:
        assert rater.requests[sid] == 1
    # upstream's request: rubric text, then source and edited video as data:video/mp4 parts
    body = rater.bodies[0]
    assert body["model"] == MODEL
    assert body["temperature"] == 0
    assert body["seed"] == 42
    parts = body["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "image_url"]
    assert parts[1]["image_url"]["url"].startswith("data:video/mp4;base64,")
    assert parts[0]["text"].startswith("Rate this edit.\nEditing instruction is: Replace")
    for sid in ids:
        assert rater.videos[sid] == [b"SRC:" + sid.encode(), b"EDIT:" + sid.encode()]
    assert set(rater.auth) == {"Bearer test-key"}
    status = json.loads((out / status_file_name("location", MODEL)).read_text())
    assert status["expected"] == loc
    assert status["unrated"] == {}


def test_unrated_items_are_reported_and_a_rerun_rates_only_them(tmp_path: Path) -> None:
    root, out, ids = _setup(tmp_path, per_theme=3)
    gone = ids[2]
    edited = next(out.rglob(f"{gone}_edited.mp4"))
    edited.unlink()
    script: dict[str, list[tuple[object, ...]]] = {
        ids[0]: [("text", "nonsense")] * 3,
        ids[1]: [("status", 500)] * 3,
    }
    rater = FakeRater(script=script)
    items = load_items(root, themes=THEMES)
    with serve_fake_rater(rater) as url:
        client = make_client(url, "k")
        report = rate_items(
            items, out, client=client, rubric=RUBRIC, config=_config(max_invalid=3, max_retries=2)
        )
        assert not report.complete
        assert report.unrated["location"][ids[0]] == "invalid: 3 invalid answers"
        assert report.unrated["location"][ids[1]].startswith("transport: InternalServerError")
        assert report.unrated["location"][gone] == "missing_output"
        assert rater.requests[ids[0]] == 3
        assert rater.requests[ids[1]] == 3
        assert gone not in rater.requests
        status = json.loads((out / status_file_name("location", MODEL)).read_text())
        assert sorted(status["unrated"]) == sorted([ids[0], ids[1], gone])
        assert sorted(_all_records(out)) == sorted(set(ids) - {ids[0], ids[1], gone})

        rater.requests.clear()
        again = rate_items(items, out, client=client, rubric=RUBRIC, config=_config())
    assert again.already == {"location": 0, "time": 3}
    assert again.rated == {"location": 2, "time": 0}
    assert again.unrated == {"location": {gone: "missing_output"}, "time": {}}
    assert dict(rater.requests) == {ids[0]: 1, ids[1]: 1}
    assert sorted(_all_records(out)) == sorted(set(ids) - {gone})


def test_an_auth_error_stops_the_run(tmp_path: Path) -> None:
    root, out, ids = _setup(tmp_path, per_theme=2)
    rater = FakeRater(script={sid: [("status", 401)] for sid in ids})
    with serve_fake_rater(rater) as url:
        client = make_client(url, "wrong")
        with pytest.raises(RaterError, match="refused"):
            rate_items(load_items(root, themes=THEMES), out, client=client, rubric=RUBRIC,
                       config=_config(concurrency=1))
    assert sum(rater.requests.values()) == 1
    assert _all_records(out) == {}


def test_cli_rate_reads_the_key_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root, out, _ = _setup(tmp_path, per_theme=2)
    rubric = tmp_path / "eval_sparkle_bench_gemini.py"
    rubric.write_text(f"import os\nBACKGROUND_REPLACEMENT = {RUBRIC!r}\nos.exit(3)\n")
    rater = FakeRater()
    with serve_fake_rater(rater) as url:
        argv = ["sparkle-bench", "rate", str(out), "--bench-root", str(root), "--endpoint", url,
                "--model", MODEL, "--rubric", str(rubric), "--api-key-env", "SB_TEST_KEY", "-q",
                "--themes", *THEMES]
        monkeypatch.delenv("SB_TEST_KEY", raising=False)
        assert main(argv) == 2
        assert "SB_TEST_KEY is not set" in capsys.readouterr().err
        monkeypatch.setenv("SB_TEST_KEY", "from-env")
        assert main(argv) == 0
        assert "OK: 4 of 4 items rated" in capsys.readouterr().out
        assert main(argv) == 0
        assert "nothing to do, all 4 items were already rated" in capsys.readouterr().out
    assert set(rater.auth) == {"Bearer from-env"}
    assert sum(rater.requests.values()) == 4


@pytest.mark.slow
def test_killed_rater_resumes_and_rates_every_item_exactly_once(tmp_path: Path) -> None:
    root, out, ids = _setup(tmp_path, per_theme=8)
    rubric = tmp_path / "rubric.txt"
    rubric.write_text(RUBRIC)
    env = {**os.environ, "SB_KEY": "k"}
    slow = FakeRater(default_delay=0.2)
    with serve_fake_rater(slow) as url:
        cmd = [sys.executable, "-m", "sparkle_data.cli", "sparkle-bench", "rate", str(out),
               "--bench-root", str(root), "--endpoint", url, "--model", MODEL, "--rubric",
               str(rubric), "--api-key-env", "SB_KEY", "--concurrency", "2", "-q",
               "--themes", *THEMES]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        score = out / score_file_name("location", MODEL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if score.exists() and score.read_bytes().count(b"\n") >= 3:
                break
            if proc.poll() is not None:
                pytest.fail(f"rater exited early: {proc.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    first = _all_records(out)
    assert 3 <= len(first) < len(ids)
    # what a kill during a write leaves: a torn last line
    with score.open("ab") as f:
        f.write(b'{"id": "Sparkle_location_000008", "prompt": "Repl')
    fast = FakeRater()
    with serve_fake_rater(fast) as url:
        cmd[cmd.index("--endpoint") + 1] = url
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "dropped a torn last line" in done.stdout
    records = _all_records(out)
    assert sorted(records) == sorted(ids)
    assert not set(fast.requests) & set(first)  # nothing rated before the kill was asked again
    assert all(n == 1 for n in fast.requests.values())
    for sid, scores in records.items():
        assert scores == list(apply_cap(tuple(canned_scores(sid))))
