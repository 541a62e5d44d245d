"""Test helpers shipped with the package, for this project's tests and for yours.

:func:`make_sample_tree` writes a complete, byte-deterministic synthetic Sparkle tree (every
artifact, tar shards, previews, pipeline records with rejected ids) plus a Sparkle-Bench tree::

    from sparkle_data.testing import make_sample_tree

    summary = make_sample_tree(tmp_path, preset="tiny", seed=0)
    csv = summary.root / "prompts" / "location_train.csv"

The names below are loaded on first use, so ``import sparkle_data.testing.http`` stays light.
See ``docs/make-sample.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sparkle_data._lazy import lazy_exports

if TYPE_CHECKING:
    from sparkle_data.testing.http import Faults, serve_directory
    from sparkle_data.testing.hub import FakeHub, HubFaults, serve_fake_hub
    from sparkle_data.testing.synth.funnel import FAIL_RATES, STAGES, THRESHOLDS, Stage
    from sparkle_data.testing.synth.preset import SAMPLE_PRESETS, Preset, PresetName
    from sparkle_data.testing.synth.shard import ShardInfo
    from sparkle_data.testing.synth.summary import EditTypeSummary, SampleTreeSummary
    from sparkle_data.testing.synth.tree import (
        BENCH_DIR,
        DATASET_DIR,
        DEFAULT_PREVIEW_COUNT,
        MARKER_NAME,
        is_sample_tree,
        make_sample_tree,
    )

__all__ = [
    "BENCH_DIR",
    "DATASET_DIR",
    "DEFAULT_PREVIEW_COUNT",
    "FAIL_RATES",
    "MARKER_NAME",
    "SAMPLE_PRESETS",
    "STAGES",
    "THRESHOLDS",
    "EditTypeSummary",
    "FakeHub",
    "Faults",
    "HubFaults",
    "Preset",
    "PresetName",
    "SampleTreeSummary",
    "ShardInfo",
    "Stage",
    "is_sample_tree",
    "make_sample_tree",
    "serve_directory",
    "serve_fake_hub",
]

_HOME: dict[str, str] = {
    "FAIL_RATES": "synth.funnel",
    "STAGES": "synth.funnel",
    "THRESHOLDS": "synth.funnel",
    "Stage": "synth.funnel",
    "SAMPLE_PRESETS": "synth.preset",
    "Preset": "synth.preset",
    "PresetName": "synth.preset",
    "ShardInfo": "synth.shard",
    "EditTypeSummary": "synth.summary",
    "SampleTreeSummary": "synth.summary",
    "BENCH_DIR": "synth.tree",
    "DATASET_DIR": "synth.tree",
    "DEFAULT_PREVIEW_COUNT": "synth.tree",
    "MARKER_NAME": "synth.tree",
    "is_sample_tree": "synth.tree",
    "make_sample_tree": "synth.tree",
    # loopback servers
    "FakeHub": "hub",
    "HubFaults": "hub",
    "serve_fake_hub": "hub",
    "Faults": "http",
    "serve_directory": "http",
}

lazy_exports(__name__, _HOME)
