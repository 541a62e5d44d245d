"""Target sizes (Kiwi-Edit's rule), crop boxes, size mismatch policies, box maps."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparkle_data.readers.grounding import BoxesArray
from sparkle_data.sampling import (
    CROP_POLICIES,
    FieldMismatchError,
    Geometry,
    Resize,
    SamplingError,
    decode_video_field,
    kiwi_target_size,
    plan_geometry,
    plan_sample,
    probe_fields,
    transform_boxes,
)
from sparkle_data.testing.synth.encode import Mp4Encoder

P720 = {"source_video": (720, 1280)}
PAIR = {"source_video": (720, 1280), "edited_video": (704, 1280)}


def kiwi_edit_get_height_width(
    height: int, width: int, max_pixels: int, division: int
) -> tuple[int, int]:
    """Kiwi-Edit's ImageCropAndResize.get_height_width, transcribed (fixed size unset)."""
    if width * height > max_pixels:
        scale = (width * height / max_pixels) ** 0.5
        height, width = int(height / scale), int(width / scale)
    return height // division * division, width // division * division


# --------------------------------------------------------------------------- target sizes


def test_720p_with_division_16_and_max_pixels_is_unchanged() -> None:
    g = plan_geometry(P720, Resize(max_pixels=921600, division=16))["source_video"]
    assert g == Geometry((720, 1280), (720, 1280), (0, 0, 720, 1280))
    assert g.is_identity
    assert g.output_size == (720, 1280)


def test_division_32_crops_720_to_704_centered() -> None:
    g = plan_geometry(P720, Resize(max_pixels=921600, division=32))["source_video"]
    assert g.resize == (720, 1280)  # no resize: swscale is not even asked
    assert g.crop == (8, 0, 704, 1280)  # torchvision center_crop: 8 rows off each side
    assert not g.resizes
    assert g.crops


def test_480x832_fixed_size_from_720p() -> None:
    g = plan_geometry(P720, Resize(height=480, width=832))["source_video"]
    # Kiwi-Edit: scale = max(832/1280, 480/720) = 2/3; resize to (480, round(853.3)=853)
    assert g.resize == (480, 853)
    assert g.crop == (0, 10, 480, 832)  # int(round(21 / 2)) == 10
    assert g.output_size == (480, 832)


def test_max_pixels_480x832_from_720p_keeps_aspect() -> None:
    # With max_pixels = 480 * 832 the rule keeps 16:9 and gives 464x832, not 480x832.
    assert kiwi_target_size(720, 1280, max_pixels=480 * 832) == (464, 832)
    g = plan_geometry(P720, Resize(max_pixels=480 * 832))["source_video"]
    assert g.output_size == (464, 832)
    assert g.resize == (468, 832)
    assert g.crop == (2, 0, 464, 832)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(16, 2000),
    st.integers(16, 2000),
    st.integers(256, 3_000_000),
    st.sampled_from([1, 8, 16, 32]),
)
def test_target_matches_kiwi_edit(h: int, w: int, max_pixels: int, division: int) -> None:
    want = kiwi_edit_get_height_width(h, w, max_pixels, division)
    if min(want) < 1:
        with pytest.raises(SamplingError):
            kiwi_target_size(h, w, max_pixels=max_pixels, division=division)
        return
    assert kiwi_target_size(h, w, max_pixels=max_pixels, division=division) == want


def test_one_fixed_side_keeps_aspect() -> None:
    assert Resize(width=832).target_size(720, 1280) == (464, 832)
    assert Resize(height=480).target_size(720, 1280) == (480, 848)
    assert Resize(height=480, division=1).target_size(720, 1280) == (480, 853)


def test_resize_validation() -> None:
    with pytest.raises(ValueError, match="either max_pixels"):
        Resize(height=480, max_pixels=100)
    with pytest.raises(ValueError, match="crop"):
        Resize(crop="middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="size_mismatch"):
        Resize(size_mismatch="pad")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="division"):
        Resize(division=0)
    with pytest.raises(SamplingError, match="empty target"):
        plan_geometry({"v": (10, 10)}, Resize(division=16))
    with pytest.raises(ValueError, match="reference"):
        plan_geometry(P720, reference="edited_video")
    with pytest.raises(ValueError, match="inside"):
        Geometry((10, 10), (10, 10), (5, 0, 6, 10))


# --------------------------------------------------------------------------- 720 vs 704


def test_pair_resize_to_source_default() -> None:
    g = plan_geometry(PAIR, Resize(division=16))
    assert g["source_video"].is_identity
    e = g["edited_video"]
    # covered to 720 rows: 1280 * 720/704 = 1309 columns, then 14 columns off each side
    assert e.resize == (720, 1309)
    assert e.crop == (0, 14, 720, 1280)
    assert {x.output_size for x in g.values()} == {(720, 1280)}


def test_pair_resize_to_source_exact_resize() -> None:
    g = plan_geometry(PAIR, Resize(crop="none"))
    assert g["edited_video"] == Geometry((704, 1280), (720, 1280), (0, 0, 720, 1280))


def test_pair_crop_to_common() -> None:
    g = plan_geometry(PAIR, Resize(size_mismatch="crop_to_common"))
    assert g["source_video"] == Geometry((720, 1280), (720, 1280), (8, 0, 704, 1280))
    assert g["edited_video"].is_identity
    # with a smaller target too: one scale for both, the source's 8 rows still dropped
    g = plan_geometry(PAIR, Resize(height=352, width=640, size_mismatch="crop_to_common"))
    assert g["source_video"] == Geometry((720, 1280), (360, 640), (4, 0, 352, 640))
    assert g["edited_video"] == Geometry((704, 1280), (352, 640), (0, 0, 352, 640))


def test_pair_error_names_both_shapes() -> None:
    with pytest.raises(FieldMismatchError, match=r"1280x720.*1280x704") as info:
        plan_geometry(PAIR, Resize(size_mismatch="error"), sample_id="Sparkle_time_000028")
    assert info.value.sample_id == "Sparkle_time_000028"
    with pytest.raises(FieldMismatchError):
        plan_sample(
            {"source_video": (81, 720, 1280), "edited_video": (81, 704, 1280)},
            resize=Resize(size_mismatch="error"),
        )


@pytest.mark.parametrize("policy", ["resize_to_source", "crop_to_common"])
@pytest.mark.parametrize("crop", ["center", "top_left", "none"])
@pytest.mark.parametrize("division", [16, 32])
def test_pair_policies_agree_on_output_size(policy: str, crop: str, division: int) -> None:
    g = plan_geometry(PAIR, Resize(division=division, crop=crop, size_mismatch=policy))  # type: ignore[arg-type]
    assert len({x.output_size for x in g.values()}) == 1


# --------------------------------------------------------------------------- box maps


@st.composite
def geometries(draw: st.DrawFn) -> Geometry:
    sh, sw = draw(st.integers(8, 300)), draw(st.integers(8, 300))
    th, tw = draw(st.integers(4, 200)), draw(st.integers(4, 200))
    crop = draw(st.sampled_from(CROP_POLICIES))
    g = plan_geometry({"v": (sh, sw)}, Resize(height=th, width=tw, crop=crop))["v"]
    assert g.output_size == (th, tw)
    return g


@settings(max_examples=150, deadline=None)
@given(geometries(), st.data())
def test_box_image_covers_every_output_pixel_sampled_from_the_box(
    g: Geometry, data: st.DataObject
) -> None:
    sh, sw = g.source_size
    x1 = data.draw(st.integers(0, sw - 1))
    x2 = data.draw(st.integers(x1, sw - 1))
    y1 = data.draw(st.integers(0, sh - 1))
    y2 = data.draw(st.integers(y1, sh - 1))
    box, inside = g.map_boxes(np.array([x1, y1, x2, y2]))
    rows, cols = g.source_rows(), g.source_cols()
    hit_r = np.nonzero((rows >= y1) & (rows <= y2))[0]
    hit_c = np.nonzero((cols >= x1) & (cols <= x2))[0]
    if hit_r.size and hit_c.size:
        assert inside
        assert box[0] <= hit_c[0]
        assert hit_c[-1] <= box[2]
        assert box[1] <= hit_r[0]
        assert hit_r[-1] <= box[3]
    if inside:
        oh, ow = g.output_size
        assert 0 <= box[0] <= box[2] <= ow - 1
        assert 0 <= box[1] <= box[3] <= oh - 1


def test_full_frame_box_maps_to_full_output() -> None:
    for g in plan_geometry(PAIR, Resize(height=480, width=832)).values():
        h, w = g.source_size
        box, inside = g.map_boxes(np.array([[0, 0, w - 1, h - 1]]))
        assert inside.all()
        assert box.tolist() == [[0, 0, 831, 479]]


def test_box_cropped_away_is_not_valid() -> None:
    g = plan_geometry(P720, Resize(division=32))["source_video"]  # rows 8..711 kept
    box, inside = g.map_boxes(np.array([[10, 0, 50, 7], [10, 0, 50, 8], [0, 700, 9, 719]]))
    assert inside.tolist() == [False, True, True]
    assert box.tolist() == [[0, 0, 0, 0], [10, 0, 50, 0], [0, 692, 9, 703]]


# --------------------------------------------------------------------------- rendered box


def _rectangle_clip(width: int, height: int, box: tuple[int, int, int, int]) -> bytes:
    x1, y1, x2, y2 = box
    frame = np.full((height, width, 3), 40, dtype=np.uint8)
    frame[y1 : y2 + 1, x1 : x2 + 1] = 230
    enc = Mp4Encoder(width, height, fps=16, crf=4, preset="veryfast")
    for _ in range(3):
        enc.add(frame)
    return enc.finish()


@pytest.mark.parametrize(
    "resize",
    [
        Resize(height=48, width=64),
        Resize(height=48, width=64, crop="top_left"),
        Resize(height=40, width=100, crop="none"),
        Resize(division=32),
        Resize(height=120, width=120),
    ],
    ids=["center", "top_left", "none", "div32", "square_up"],
)
def test_rendered_rectangle_lands_on_transformed_box(resize: Resize) -> None:
    box = (40, 22, 89, 61)
    data = _rectangle_clip(160, 90, box)
    probes = probe_fields({"source_video": io.BytesIO(data)})
    plan = plan_sample(probes, resize=resize)
    video = decode_video_field(io.BytesIO(data), plan, "source_video", output="numpy")
    assert video.shape == (3, *plan.size, 3)
    bright = video[0].mean(axis=-1) > 135
    ys, xs = np.nonzero(bright)
    found = (xs.min(), ys.min(), xs.max(), ys.max())
    boxes = BoxesArray(
        np.array([box], dtype=np.int32), np.array([True]), ("rect",), np.array([0], np.int64)
    )
    out = transform_boxes(boxes, plan)
    assert out.boxes.shape == (1, 1, 4)
    assert out.valid.tolist() == [[True]]
    assert np.abs(np.array(found) - out.boxes[0, 0]).max() <= 1, (found, out.boxes[0, 0])
