"""The ``real`` preset: clips shaped like the released ones (slow: 1280x720 encoding)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from sparkle_data import layout
from sparkle_data.testing import make_sample_tree


@pytest.mark.slow
def test_real_preset_matches_real_clips(tmp_path: Path) -> None:
    summary = make_sample_tree(
        tmp_path, preset="real", edit_types=("location",), samples=1, bench=False
    )
    (sid,) = summary["location"].corpus_ids
    for artifact in ("source_video", "edited_video", "edited_background_video"):
        with av.open(str(summary.root / layout.artifact_relpath(sid, artifact))) as c:
            assert not c.streams.audio
            s = c.streams.video[0]
            s.thread_count = 1
            assert (s.width, s.height) == (1280, 720)
            assert s.average_rate == 16
            assert s.codec_context.name == "h264"
            assert s.codec_context.pix_fmt == "yuv420p"
            n = sum(1 for _ in c.decode(s))
        assert 69 <= n <= 81
        assert n == summary["location"].frame_counts[sid]
    data = np.load(summary.root / layout.artifact_relpath(sid, "source_video_mask"))
    assert [int(v) for v in data["shape"]] == [n, 720, 1280]
