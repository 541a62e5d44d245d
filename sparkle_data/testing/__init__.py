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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sparkle_data.testing.synth.funnel import FAIL_RATES, STAGES, THRESHOLDS, Stage
    from sparkle_data.testing.synth.preset import PRESETS, Preset, PresetName
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
    "PRESETS",
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
    "FAIL_RATES": "funnel",
    "STAGES": "funnel",
    "THRESHOLDS": "funnel",
    "Stage": "funnel",
    "PRESETS": "preset",
    "Preset": "preset",
    "PresetName": "preset",
    "ShardInfo": "shard",
    "EditTypeSummary": "summary",
    "SampleTreeSummary": "summary",
    "BENCH_DIR": "tree",
    "DATASET_DIR": "tree",
    "DEFAULT_PREVIEW_COUNT": "tree",
    "MARKER_NAME": "tree",
    "is_sample_tree": "tree",
    "make_sample_tree": "tree",
    # loopback servers (outside synth/)
    "FakeHub": "..hub",
    "HubFaults": "..hub",
    "serve_fake_hub": "..hub",
    "Faults": "..http",
    "serve_directory": "..http",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = f"{__name__}.{home[2:]}" if home.startswith("..") else f"{__name__}.synth.{home}"
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
