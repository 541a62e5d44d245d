"""Run loading_script/Sparkle.py under the interpreter of an isolated ``datasets < 4`` venv.

    python tests/legacy/run_legacy.py ROOT [CACHE_DIR]

Loads config ``location`` from the local Sparkle root ``ROOT`` (map-style and streaming) and
prints one JSON object: the datasets version, the rows' ids, columns and video sizes. Used by
``tests/test_hf_legacy.py``; runnable by hand in any old environment.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import datasets

SCRIPT = Path(__file__).resolve().parents[2] / "loading_script" / "Sparkle.py"


def main(argv: list[str]) -> int:
    root = argv[1]
    cache = argv[2] if len(argv) > 2 else tempfile.mkdtemp()
    kwargs = {"data_dir": root, "trust_remote_code": True, "cache_dir": cache}
    ds = datasets.load_dataset(str(SCRIPT), "location", split="train", **kwargs)
    streamed = datasets.load_dataset(
        str(SCRIPT), "location", split="train", streaming=True, **kwargs
    )
    filtered = datasets.load_dataset(
        str(SCRIPT),
        "time",
        split="train",
        fields=["edited_video", "scores"],
        where=lambda t: t["video_mean_o_score"] >= 8.2,
        **kwargs,
    )
    out = {
        "datasets": datasets.__version__,
        "ids": ds["sample_id"],
        "columns": ds.column_names,
        "source_sizes": [len(v["bytes"]) for v in ds["source_video"]],
        "edited_sizes": [len(v["bytes"]) for v in ds["edited_video"]],
        "streamed_ids": [r["sample_id"] for r in streamed],
        "filtered_ids": filtered["sample_id"],
        "torch_imported": "torch" in sys.modules,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
