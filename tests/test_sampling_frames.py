"""Frame selection: Kiwi-Edit's 4k+1 rule, stride, uniform, seeded random windows."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparkle_data.errors import SparkleError
from sparkle_data.sampling import (
    FRAME_POLICIES,
    FrameSampler,
    SamplingError,
    ShortClipError,
    kiwi_num_frames,
    rng_key,
    select_frames,
)


def kiwi(num_frames: int, **kw: object) -> FrameSampler:
    return FrameSampler("kiwi", num_frames=num_frames, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- Kiwi-Edit rule


@pytest.mark.parametrize(
    ("available", "num_frames", "expected"),
    [
        (81, 81, 81),
        (80, 81, 77),
        (77, 81, 77),
        (73, 81, 73),
        (70, 81, 69),
        (69, 81, 69),
        (81, 33, 33),
        (81, 34, 33),
        (81, 49, 49),
        (2, 81, 1),
        (1, 81, 1),
    ],
)
def test_kiwi_rule_table(available: int, num_frames: int, expected: int) -> None:
    got = select_frames(available, kiwi(num_frames))
    assert got.tolist() == list(range(expected))  # the first N frames, as LoadVideo reads them
    assert got.dtype == np.int64
    assert kiwi_num_frames(available, num_frames) == expected
    assert kiwi(num_frames).count(available) == expected


def kiwi_edit_get_num_frames(count: int, num_frames: int) -> int:
    """Kiwi-Edit's LoadVideo.get_num_frames, transcribed (factor 4, remainder 1)."""
    n = num_frames
    if count < n:
        n = count
        while n > 1 and n % 4 != 1:
            n -= 1
    return n


@given(st.integers(1, 200), st.sampled_from([81, 49, 33, 17, 5, 1]))
def test_kiwi_rule_matches_kiwi_edit_for_4k1_requests(available: int, num_frames: int) -> None:
    assert kiwi_num_frames(available, num_frames) == kiwi_edit_get_num_frames(available, num_frames)


def test_kiwi_short_clip_error_and_shrink() -> None:
    with pytest.raises(ShortClipError, match=r"needs 81 frames.*on_short='shrink'") as info:
        select_frames(80, kiwi(81, on_short="error"), sample_id="Sparkle_location_000001")
    assert isinstance(info.value, SamplingError)
    assert isinstance(info.value, SparkleError)
    assert isinstance(info.value, ValueError)
    assert info.value.sample_id == "Sparkle_location_000001"
    assert "sample Sparkle_location_000001" in str(info.value)
    # 33 requested from 33 available is not short, even with on_short="error"
    assert select_frames(33, kiwi(34, on_short="error")).size == 33
    assert select_frames(80, kiwi(81, on_short="shrink")).size == 77


# --------------------------------------------------------------------------- other policies


def test_all_policy() -> None:
    assert select_frames(5).tolist() == [0, 1, 2, 3, 4]
    assert select_frames(7, FrameSampler("all", time_division=(4, 1))).tolist() == [0, 1, 2, 3, 4]


def test_stride_policy() -> None:
    assert select_frames(10, FrameSampler("stride", stride=3)).tolist() == [0, 3, 6, 9]
    capped = FrameSampler("stride", stride=2, num_frames=3)
    assert select_frames(81, capped).tolist() == [0, 2, 4]
    assert select_frames(4, capped).tolist() == [0, 2]  # shrink (default)
    with pytest.raises(ShortClipError, match="at stride 2"):
        select_frames(4, FrameSampler("stride", stride=2, num_frames=3, on_short="error"))


def test_uniform_policy() -> None:
    u = FrameSampler("uniform", num_frames=5)
    assert select_frames(81, u).tolist() == [0, 20, 40, 60, 80]
    assert select_frames(10, FrameSampler("uniform", num_frames=4)).tolist() == [0, 3, 6, 9]
    assert select_frames(3, u).tolist() == [0, 1, 2]  # shrink: every frame, none repeated
    assert select_frames(9, FrameSampler("uniform", num_frames=1)).tolist() == [0]
    with pytest.raises(ShortClipError):
        select_frames(3, FrameSampler("uniform", num_frames=5, on_short="error"))


def test_random_window_is_seeded_not_global() -> None:
    w = FrameSampler("random_window", num_frames=9, stride=2, seed=7)
    a = select_frames(81, w, epoch=0, sample_id="Sparkle_location_000003")
    np.random.seed(123)  # the global RNG has no say
    b = select_frames(81, w, epoch=0, sample_id="Sparkle_location_000003")
    assert np.array_equal(a, b)
    assert np.array_equal(np.diff(a), np.full(8, 2))
    starts = {
        int(select_frames(81, w, epoch=e, sample_id="Sparkle_location_000003")[0]) for e in range(8)
    }
    assert len(starts) > 1  # the window moves with the epoch
    other_seed = FrameSampler("random_window", num_frames=9, stride=2, seed=8)
    others = {int(select_frames(81, other_seed, epoch=e, sample_id="x")[0]) for e in range(8)}
    assert others != {int(select_frames(81, w, epoch=e, sample_id="x")[0]) for e in range(8)}


def test_random_window_needs_sample_id_and_shrinks() -> None:
    w = FrameSampler("random_window", num_frames=9, stride=2)
    with pytest.raises(ValueError, match="needs a sample_id"):
        select_frames(81, w)
    assert select_frames(17, w, sample_id=0).tolist() == list(range(0, 17, 2))  # fits exactly
    shrunk = select_frames(10, w, sample_id=0)  # 5 frames at stride 2 fit, starting at 0 or 1
    assert shrunk.size == 5
    assert np.all(np.diff(shrunk) == 2)
    assert shrunk[-1] <= 9
    with pytest.raises(ShortClipError, match="a span of 17"):
        select_frames(10, FrameSampler("random_window", num_frames=9, stride=2, on_short="error"))
    kiwi_window = FrameSampler("random_window", num_frames=33, time_division=(4, 1))
    assert select_frames(20, kiwi_window, sample_id=1).size == 17


def test_rng_key_is_stable() -> None:
    assert rng_key(0, 0, "a") == rng_key(0, 0, "a")
    assert (
        len({rng_key(0, 0, "a"), rng_key(0, 1, "a"), rng_key(1, 0, "a"), rng_key(0, 0, "b")}) == 4
    )
    assert rng_key(0, 0, "7") != rng_key(0, 0, 7)
    # pinned: a change of the hash would silently change every training run's windows
    assert rng_key(0, 0, "Sparkle_location_000000") == rng_key(0, 0, "Sparkle_location_000000")
    with pytest.raises(TypeError):
        rng_key(0, 0, 1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"policy": "nope"}, "policy"),
        ({"policy": "kiwi"}, "needs num_frames"),
        ({"policy": "all", "num_frames": 3}, "takes every frame"),
        ({"policy": "uniform", "num_frames": 3, "stride": 2}, "does not use a stride"),
        ({"policy": "stride", "stride": 0}, "stride"),
        ({"policy": "kiwi", "num_frames": 0}, "num_frames"),
        ({"on_short": "pad"}, "on_short"),
        ({"time_division": (4, 4)}, "0 <= r < d"),
        ({"policy": "uniform", "num_frames": 2, "time_division": (4, 3)}, "no count"),
    ],
)
def test_sampler_validation(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FrameSampler(**kwargs)  # type: ignore[arg-type]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="num_available"):
        select_frames(0)
    with pytest.raises(TypeError):
        select_frames(True)
    with pytest.raises(TypeError):
        FrameSampler("stride", stride=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="epoch"):
        select_frames(5, epoch=-1)
    assert select_frames(np.int64(5)).size == 5  # numpy ints from probes are fine


def test_no_count_fits_raises_even_when_shrinking() -> None:
    s = FrameSampler("uniform", num_frames=7, time_division=(4, 3))
    with pytest.raises(ShortClipError, match="no frame count"):
        select_frames(2, s)


# --------------------------------------------------------------------------- properties

policies = st.sampled_from(FRAME_POLICIES)


@st.composite
def samplers(draw: st.DrawFn) -> FrameSampler:
    policy = draw(policies)
    num_frames = None
    if policy in ("kiwi", "uniform", "random_window") or (
        policy == "stride" and draw(st.booleans())
    ):
        num_frames = draw(st.integers(1, 100))
    stride = draw(st.integers(1, 5)) if policy in ("stride", "random_window") else 1
    td = draw(st.sampled_from([None, (4, 1), (2, 0), (1, 0)]))
    if td is not None and num_frames is not None and num_frames < (td[1] or td[0]):
        td = None
    return FrameSampler(policy, num_frames=num_frames, stride=stride, time_division=td)


@settings(max_examples=300, deadline=None)
@given(samplers(), st.integers(1, 120), st.integers(0, 3), st.text(max_size=8))
def test_selection_properties(s: FrameSampler, available: int, epoch: int, sid: str) -> None:
    try:
        idx = s.select(available, epoch=epoch, sample_id=sid)
    except ShortClipError:
        d, r = s.division
        reach = (available - 1) // s.stride + 1  # frames a strided policy can reach
        assert not any(m % d == r for m in range(1, reach + 1))
        return
    assert idx.dtype == np.int64
    assert idx.ndim == 1
    assert idx.size >= 1
    assert np.all(np.diff(idx) > 0)  # sorted, unique
    assert idx[0] >= 0
    assert idx[-1] < available
    assert idx.size == s.count(available)
    d, r = s.division
    assert idx.size % d == r
    if s.num_frames is not None:
        assert idx.size <= s.num_frames
    if s.policy in ("stride", "random_window"):
        assert np.all(np.diff(idx) == s.stride)
    if s.policy in ("kiwi", "stride", "all"):
        assert idx[0] == 0
    if s.policy == "uniform" and idx.size >= 2:
        assert idx[0] == 0
        assert idx[-1] == available - 1
    assert np.array_equal(idx, s.select(available, epoch=epoch, sample_id=sid))  # deterministic


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 120), st.integers(1, 120))
def test_shrink_never_exceeds_and_error_agrees(available: int, num_frames: int) -> None:
    shrink = FrameSampler("uniform", num_frames=num_frames)
    strict = FrameSampler("uniform", num_frames=num_frames, on_short="error")
    got = shrink.count(available)
    assert got == min(available, num_frames)
    if available >= num_frames:
        assert strict.count(available) == got
    else:
        with pytest.raises(ShortClipError):
            strict.count(available)
