"""loading_script/Sparkle.py: its builder in this environment, and under datasets==3.6.0 in an
isolated virtualenv (slow).

The venv is a plain ``python -m venv`` (no system site-packages): ``datasets==3.6.0`` and the
few extra dependencies of sparkle-data's catalog path (``orjson``, ``platformdirs``) come from
the package index (downloads are reused from pip's cache), and this checkout is installed with
``--no-deps -e``. No torch, av or pillow: the legacy path reads bytes only.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from sparkle_data.catalog import build_catalog
from sparkle_data.testing import SampleTreeSummary

REPO = Path(__file__).resolve().parents[1]
LEGACY_REQUIREMENTS = ["datasets==3.6.0", "orjson", "platformdirs"]
_OFFLINE_MARKERS = (
    "No matching distribution found",
    "Could not find a version",
    "Failed to establish a new connection",
    "Network is unreachable",
    "Temporary failure in name resolution",
    "Max retries exceeded",
    "ConnectionError",
    "ProxyError",
)


SCRIPT = REPO / "loading_script" / "Sparkle.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    """The loading script imported in this (datasets 5.x) environment: its builder class still
    works here when instantiated directly."""
    spec = importlib.util.spec_from_file_location("sparkle_loading_script", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # datasets looks the builder's module up by name
    spec.loader.exec_module(module)
    return module


def test_script_builder_delegates_to_sparkle_data(
    script: ModuleType, sample_tree: SampleTreeSummary, tmp_path: Path
) -> None:
    catalog = build_catalog(sample_tree.root)
    corpus = catalog.corpus()
    configs = [c.name for c in script.Sparkle.BUILDER_CONFIGS]
    assert configs == ["all", "location", "season", "time", "style", "openve3m"]
    builder = script.Sparkle(
        config_name="season", data_dir=str(sample_tree.root), cache_dir=str(tmp_path)
    )
    builder.download_and_prepare()
    ds = builder.as_dataset(split="train")
    season = sorted(corpus.index[corpus["edit_type"] == "season"])
    assert ds["sample_id"] == season
    assert ds[0]["source_video"]["bytes"] == catalog.read_bytes(season[0], "source_video")
    streamed = script.Sparkle(
        config_name="all",
        data_dir=str(sample_tree.root),
        fields=["scores"],
        ids=[season[1]],
        cache_dir=str(tmp_path),
    ).as_streaming_dataset(split="train")
    (row,) = list(streamed)
    assert row["video_mean_o_score"] == pytest.approx(corpus.loc[season[1], "video_mean_o_score"])
    with pytest.raises(ValueError, match="boxes"):
        script.Sparkle(config_name="time", fields=["boxes"], cache_dir=str(tmp_path))


def test_script_without_sparkle_data_says_how_to_install(
    script: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "sparkle_data.hf", None)
    with pytest.raises(ImportError, match="pip install sparkle-data"):
        script._sparkle_data()


def test_legacy_path_imports_neither_torch_nor_datasets() -> None:
    code = (
        "import sys, sparkle_data.hf, sparkle_data.hf.rows, sparkle_data.hf.indexes; "
        "print(sorted(m for m in ('torch', 'av', 'datasets', 'PIL') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]


@pytest.mark.slow
def test_legacy_script_under_datasets_3_6(sample_tree: SampleTreeSummary, tmp_path: Path) -> None:
    started = time.monotonic()
    venv = tmp_path / "venv"
    made = run([sys.executable, "-m", "venv", str(venv)])
    if made.returncode != 0:
        pytest.skip(f"cannot create a virtualenv here: {made.stderr.strip()[-300:]}")
    python = str(venv / ("Scripts" if os.name == "nt" else "bin") / "python")
    pip = [python, "-m", "pip", "--disable-pip-version-check", "install", "-q"]
    deps = run([*pip, *LEGACY_REQUIREMENTS], timeout=900)
    if deps.returncode != 0:
        tail = (deps.stderr or deps.stdout).strip()[-500:]
        if any(marker in tail for marker in _OFFLINE_MARKERS):
            pytest.skip(
                f"pip cannot reach a package index to install {LEGACY_REQUIREMENTS}: {tail}"
            )
        pytest.fail(f"pip install {LEGACY_REQUIREMENTS} failed:\n{tail}")
    own = run([*pip, "--no-deps", "-e", str(REPO)], timeout=600)
    assert own.returncode == 0, own.stderr[-2000:]
    installed = time.monotonic() - started
    result = run(
        [
            python,
            str(REPO / "tests" / "legacy" / "run_legacy.py"),
            str(sample_tree.root),
            str(tmp_path / "hf-cache"),
        ],
        timeout=600,
        cwd=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-4000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    catalog = build_catalog(sample_tree.root)
    corpus = catalog.corpus()
    location = sorted(corpus.index[corpus["edit_type"] == "location"])
    assert out["datasets"] == "3.6.0"
    assert not out["torch_imported"]
    assert out["ids"] == location
    assert out["streamed_ids"] == location
    assert out["columns"][:3] == ["sample_id", "edit_type", "prompt"]
    assert out["source_sizes"] == [len(catalog.read_bytes(s, "source_video")) for s in location]
    assert out["edited_sizes"] == [len(catalog.read_bytes(s, "edited_video")) for s in location]
    t = corpus[(corpus["edit_type"] == "time") & (corpus["video_mean_o_score"] >= 8.2)]
    assert out["filtered_ids"] == sorted(t.index)
    print(f"legacy venv: install {installed:.1f}s, total {time.monotonic() - started:.1f}s")
