"""Pure parts of sparkle_data.regen: vote, frame selection, boxes, configs, sharding."""

from __future__ import annotations

import io

import numpy as np
import pytest

from sparkle_data.regen.config import CannyConfig, VoteConfig
from sparkle_data.regen.frames import anchor_frames, box_to_1000, box_to_pixels, video_score_frames
from sparkle_data.regen.sharding import detect_rank, shard
from sparkle_data.regen.vote import pass_coverage, vote_mask_npz, vote_masks
from sparkle_data.testing.synth.scores import video_score_frames as synth_score_frames


def load_mask(mask_path: object) -> np.ndarray:
    """The card's own helper, verbatim (np.load accepts a file object too)."""
    data = np.load(mask_path)  # type: ignore[arg-type]
    packed_mask = data["mask"]
    shape = tuple(int(s) for s in data["shape"])
    total = shape[0] * shape[1] * shape[2]
    video_mask = np.unpackbits(packed_mask)[:total].reshape(shape).astype(bool)
    return video_mask  # noqa: RET504 (verbatim)


def test_vote_majority_and_ties() -> None:
    rng = np.random.default_rng(0)
    passes = rng.random((4, 3, 5, 7)) < 0.5
    votes = passes.sum(axis=0)
    assert np.array_equal(vote_masks(passes), votes >= 2)  # tie (2 of 4) -> foreground
    assert np.array_equal(vote_masks(passes, config=VoteConfig(tie="background")), votes >= 3)
    odd = passes[:3]
    assert np.array_equal(vote_masks(odd), odd.sum(axis=0) >= 2)


def test_vote_coverage_forward_backward() -> None:
    t = 5
    cov = pass_coverage([0, 4], t, ("forward", "backward"))
    assert cov.shape == (4, t)
    passes = np.zeros((4, t, 2, 2), dtype=bool)
    passes[0] = True  # forward from 0 covers all frames: alone on frames 1..3
    out = vote_masks(passes, cov)
    # frame 0: passes 0 (fwd@0), 1 (bwd@0), 3 (bwd@4) -> 1 of 3 -> background
    assert not out[0].any()
    # frame 4: passes 0, 2, 3 -> 1 of 3
    assert not out[4].any()
    # frames 1..3: passes 0 and 3 -> 1 of 2 -> tie -> foreground
    assert out[1:4].all()
    none = vote_masks(passes, np.zeros((4, t), dtype=bool))
    assert not none.any()


def test_vote_npz_loads_with_the_cards_load_mask() -> None:
    rng = np.random.default_rng(1)
    passes = rng.random((3, 4, 6, 10)) < 0.4  # H*W not a multiple of 8 on purpose
    data = vote_mask_npz(passes)
    assert np.array_equal(load_mask(io.BytesIO(data)), vote_masks(passes))


def test_vote_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="P >= 1"):
        vote_masks(np.zeros((0, 1, 2, 2), dtype=bool))
    with pytest.raises(ValueError, match="tie"):
        VoteConfig(tie="maybe")  # type: ignore[arg-type]


def test_frame_selection() -> None:
    assert video_score_frames(81) == [1, 26, 51, 76]
    assert video_score_frames(69) == [1, 22, 43, 64]
    assert video_score_frames(73) == [1, 23, 45, 67]
    for n in range(69, 82):
        assert video_score_frames(n) == synth_score_frames(n)
        assert max(video_score_frames(n)) < n
    assert anchor_frames(81) == list(range(0, 81, 8))
    assert anchor_frames(69) == list(range(0, 69, 8))
    assert len(anchor_frames(81)) == 11


@pytest.mark.parametrize("size", [54, 96, 720, 1280])
def test_box_round_trip(size: int) -> None:
    tol = 0 if size <= 1000 else 1
    for v in range(size):
        b = box_to_1000([v, v, v, v], size, size)
        assert all(0 <= u <= 1000 for u in b)
        assert abs(box_to_pixels(b, size, size)[0] - v) <= tol


def test_canny_config_validation() -> None:
    with pytest.raises(ValueError, match="odd"):
        CannyConfig(blur=4)
    with pytest.raises(ValueError, match="<= high"):
        CannyConfig(low=300, high=200)


def test_sharding() -> None:
    items = list(range(10))
    parts = [shard(items, r, 3) for r in range(3)]
    assert sorted(x for p in parts for x in p) == items
    assert detect_rank({"RANK": "2", "WORLD_SIZE": "4"}) == (2, 4)
    assert detect_rank({"SLURM_PROCID": "1", "SLURM_NTASKS": "2"}) == (1, 2)
    assert detect_rank({}) == (0, 1)
    with pytest.raises(ValueError):
        detect_rank({"RANK": "4", "WORLD_SIZE": "4"})
