"""Shared fixtures: one synthetic Sparkle tree per test session, the real clips when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from sparkle_data.testing import SampleTreeSummary, make_sample_tree

# Property tests explore new random cases on every developer run; CI (CI set, as .ci/run
# does) replays a fixed sequence so that a clean-clone run is reproducible. Run with
# HYPOTHESIS_PROFILE=thorough to search harder before a release.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default")
)

REAL_CLIPS = Path(
    os.environ.get(
        "SPARKLE_REAL_CLIPS", Path(__file__).resolve().parents[2] / "shared" / "real_clips"
    )
)


@pytest.fixture(scope="session")
def sample_tree(tmp_path_factory: pytest.TempPathFactory) -> SampleTreeSummary:
    """A tiny synthetic tree with all five edit types (read-only: copy before mutating)."""
    return make_sample_tree(tmp_path_factory.mktemp("sparkle"), preset="tiny", seed=0)


@pytest.fixture
def sample_tree_copy(sample_tree: SampleTreeSummary, tmp_path: Path) -> Path:
    """A private copy of the session tree's dataset root, safe to damage."""
    import shutil

    dst = tmp_path / "Sparkle"
    shutil.copytree(sample_tree.root, dst)
    return dst


@pytest.fixture(scope="session")
def real_clips() -> Path:
    """``../shared/real_clips`` (or ``$SPARKLE_REAL_CLIPS``); skips when absent."""
    if not any(REAL_CLIPS.glob("*.mp4")):
        pytest.skip(f"real clips not found at {REAL_CLIPS}")
    return REAL_CLIPS
