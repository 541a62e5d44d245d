"""KiwiEditDataset returns what Kiwi-Edit's UnifiedDataset returns for the same pairs.

The reference below re-implements Kiwi-Edit's operators as its code does them (linyq17/
Kiwi-Edit diffsynth/trainers/unified_dataset.py @ dca52e65: ``LoadVideo`` with imageio,
``ImageCropAndResize`` with a bilinear PIL resize and torchvision's center crop, ``LoadImage``
for ``ref_image``) and reads the files of a Kiwi export of the same synthetic tree.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from sparkle_data.integrations.kiwi_edit import (
    KiwiEditDataset,
    kiwi_frame_count,
    kiwi_geometry,
)
from sparkle_data.testing import make_sample_tree

imageio = pytest.importorskip("imageio")
pytest.importorskip("imageio_ffmpeg")

TOLERANCE = 8
"""Max |difference| of a pixel (uint8) between PyAV's and imageio-ffmpeg's RGB conversion of
the same H.264 frame, after the same PIL resize/crop; the mean difference must stay < 1."""


# --------------------------------------------------------------------------- reference
class RefCropAndResize:
    """Kiwi-Edit's ImageCropAndResize (PIL input: torchvision resizes with PIL bilinear)."""

    def __init__(self, height: Any, width: Any, max_pixels: int, hdf: int, wdf: int) -> None:
        self.height, self.width, self.max_pixels, self.hdf, self.wdf = (
            height,
            width,
            max_pixels,
            hdf,
            wdf,
        )

    def get_height_width(self, image: Image.Image) -> tuple[int, int]:
        if self.height is None or self.width is None:
            width, height = image.size
            if width * height > self.max_pixels:
                scale = (width * height / self.max_pixels) ** 0.5
                height, width = int(height / scale), int(width / scale)
            return height // self.hdf * self.hdf, width // self.wdf * self.wdf
        return self.height, self.width

    def __call__(self, image: Image.Image) -> Image.Image:
        th, tw = self.get_height_width(image)
        width, height = image.size
        scale = max(tw / width, th / height)
        size = (round(width * scale), round(height * scale))
        if size != image.size:
            image = image.resize(size, Image.Resampling.BILINEAR)
        top = round((image.size[1] - th) / 2.0)
        left = round((image.size[0] - tw) / 2.0)
        return image.crop((left, top, left + tw, top + th))


def ref_load_video(path: str, num_frames: int, proc: RefCropAndResize) -> list[Image.Image]:
    reader = imageio.get_reader(path)
    n = num_frames
    if int(reader.count_frames()) < n:
        n = int(reader.count_frames())
        while n > 1 and n % 4 != 1:
            n -= 1
    frames = [proc(Image.fromarray(reader.get_data(i))) for i in range(n)]
    reader.close()
    return frames


def ref_rows(base: Path, num_frames: int, proc: RefCropAndResize) -> dict[str, dict[str, Any]]:
    """Kiwi-Edit's rows of the export's metadata.csv, keyed by sample id."""
    out = {}
    with open(base / "metadata.csv", newline="", encoding="utf-8") as f:
        for rec in csv.DictReader(f):
            row: dict[str, Any] = dict(rec)
            for key in ("src_video", "tgt_video"):
                row[key] = ref_load_video(os.path.join(base, rec[key]), num_frames, proc)
            if "ref_image" in rec:
                row["ref_image"] = [
                    proc(Image.open(os.path.join(base, rec["ref_image"])).convert("RGB"))
                ]
            out[Path(rec["src_video"]).stem] = row
    return out


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def kiwi_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(dataset root, Kiwi export of it with ref_image) for one edit type, 3 samples."""
    from sparkle_data.catalog import build_catalog
    from sparkle_data.export import export_kiwi

    out = tmp_path_factory.mktemp("kiwi")
    summary = make_sample_tree(out / "tree", edit_types=["location"], samples=3, bench=False)
    catalog = build_catalog(summary.root)
    ids = list(catalog.corpus().index)
    export_kiwi(catalog, ids, out / "export", stage3=True, progress=False)
    return Path(summary.root), out / "export"


def _diff(a: list[Image.Image], b: list[Image.Image]) -> tuple[int, float]:
    assert len(a) == len(b)
    assert [im.size for im in a] == [im.size for im in b]
    x = np.stack([np.asarray(im, dtype=np.int16) for im in a])
    y = np.stack([np.asarray(im, dtype=np.int16) for im in b])
    d = np.abs(x - y)
    return int(d.max()), float(d.mean())


GEOMETRIES = [
    pytest.param({"max_pixels": 921600}, id="kiwi-scripts-default"),
    pytest.param({"max_pixels": 2000, "hdf": 8, "wdf": 8}, id="downscale-max-pixels"),
    pytest.param({"height": 48, "width": 64}, id="fixed-size-crop"),
    pytest.param({"max_pixels": 921600, "num_frames": 33}, id="33-frames"),
]


@pytest.mark.parametrize("opts", GEOMETRIES)
def test_rows_match_kiwi_edit_reference(kiwi_tree: tuple[Path, Path], opts: dict[str, Any]) -> None:
    root, export = kiwi_tree
    num_frames = opts.get("num_frames", 81)
    hdf, wdf = opts.get("hdf", 32), opts.get("wdf", 32)
    proc = RefCropAndResize(
        opts.get("height"), opts.get("width"), opts.get("max_pixels", 1920 * 1080), hdf, wdf
    )
    reference = ref_rows(export, num_frames, proc)
    ds = KiwiEditDataset(
        root,
        num_frames=num_frames,
        max_pixels=opts.get("max_pixels", 1920 * 1080),
        height=opts.get("height"),
        width=opts.get("width"),
        height_division_factor=hdf,
        width_division_factor=wdf,
        ref_image=True,
    )
    assert len(ds) == len(reference) == 3
    for i, sid in enumerate(ds.ids):
        ours, ref = ds[i], reference[sid]
        assert set(ours) == set(ref) == {"prompt", "src_video", "tgt_video", "ref_image"}
        assert ours["prompt"] == ref["prompt"]
        for key in ("src_video", "tgt_video", "ref_image"):
            assert all(isinstance(im, Image.Image) and im.mode == "RGB" for im in ours[key])
            worst, mean = _diff(ours[key], ref[key])
            assert worst <= TOLERANCE, (sid, key, worst)
            assert mean < 1.0, (sid, key, mean)
        assert (len(ours["src_video"]) - 1) % 4 == 0


def test_ref_image_is_bit_exact(kiwi_tree: tuple[Path, Path]) -> None:
    root, export = kiwi_tree
    proc = RefCropAndResize(None, None, 2000, 8, 8)
    reference = ref_rows(export, 5, proc)
    ds = KiwiEditDataset(
        root,
        num_frames=5,
        max_pixels=2000,
        height_division_factor=8,
        width_division_factor=8,
        ref_image=True,
    )
    for i, sid in enumerate(ds.ids):
        assert _diff(ds[i]["ref_image"], reference[sid]["ref_image"]) == (0, 0.0)


def test_frame_count_rule_matches_kiwi() -> None:
    def kiwi(count: int, num_frames: int) -> int:
        n = num_frames
        if count < n:
            n = count
            while n > 1 and n % 4 != 1:
                n -= 1
        return n

    for count in range(1, 130):
        for wanted in (1, 5, 33, 49, 80, 81):
            assert kiwi_frame_count(count, wanted) == kiwi(count, wanted)


def test_geometry_of_real_size_clips() -> None:
    g = kiwi_geometry(1280, 720, max_pixels=921600)
    assert g.resize == (720, 1280)
    assert g.crop == (8, 0, 704, 1280)
    g = kiwi_geometry(1280, 720, max_pixels=832 * 480)
    assert g.size == (448, 832)  # 720x1280 scaled to <= 399360 px: 473x841, floored to 32
    g = kiwi_geometry(1280, 720, target_height=480, target_width=832)
    assert g.resize == (480, 853)
    assert g.crop == (0, 10, 480, 832)


def test_repeat_bad_values_and_mismatch(kiwi_tree: tuple[Path, Path]) -> None:
    root, _ = kiwi_tree
    ds = KiwiEditDataset(root, num_frames=5, repeat=2)
    assert len(ds) == 6
    assert ds[4]["prompt"] == ds[1]["prompt"]
    with pytest.raises(IndexError):
        ds[6]
    with pytest.raises(ValueError, match="num_frames"):
        KiwiEditDataset(root, num_frames=0)
    with pytest.raises(ValueError, match="height/width"):
        KiwiEditDataset(root, height=32)
    row = ds.load(ds.ids[0])
    row["tgt_video"] = row["tgt_video"][:-1]
    assert "frame count" in ds.mismatch(row)


@pytest.mark.slow
@pytest.mark.real_clips
def test_real_clip_frames_match_imageio(real_clips: Path) -> None:
    """On a real 1280x720 clip, our decoder + Kiwi geometry equals Kiwi-Edit's imageio path."""
    from sparkle_data.integrations.kiwi_edit import kiwi_transform
    from sparkle_data.readers.video import probe_video, read_video

    clip = sorted(real_clips.glob("*.mp4"))[0]
    proc = RefCropAndResize(None, None, 832 * 480, 32, 32)
    reference = ref_load_video(str(clip), 17, proc)
    info = probe_video(clip)
    geometry = kiwi_geometry(info.width, info.height, max_pixels=832 * 480)
    frames = read_video(clip, indices=range(kiwi_frame_count(info.num_frames, 17)))
    ours = [kiwi_transform(Image.fromarray(f), geometry) for f in frames]
    worst, mean = _diff(ours, reference)
    assert worst <= TOLERANCE
    assert mean < 1.0
