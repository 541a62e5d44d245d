"""The keywords the three Sparkle datasets share are declared once (``dataset/args.py``)."""

from __future__ import annotations

import pytest

from sparkle_data.dataset.args import SampleArgs, SampleKeywords
from sparkle_data.sampling import DecodeOptions, FrameSampler

pytest.importorskip("torch")


def test_every_shared_keyword_has_a_default_and_a_type() -> None:
    args = SampleArgs()
    assert set(SampleKeywords.__annotations__) == set(args.__dataclass_fields__)
    assert args.checked_fields == ("source_video", "edited_video", "metadata")
    assert args.decode_options() == DecodeOptions()
    assert args.skip_report().on_error == "error"
    assert SampleArgs(fields=["boxes"]).artifacts() == ("source_video",)


def test_unknown_keywords_raise_like_a_plain_signature(sample_tree: object) -> None:
    from sparkle_data.dataset import SparkleDataset, SparkleFullPass, SparkleMapDataset

    root = sample_tree.root  # type: ignore[attr-defined]
    for cls in (SparkleDataset, SparkleMapDataset, SparkleFullPass):
        expected = rf"{cls.__name__}\(\) got an unexpected keyword argument 'feilds'"
        with pytest.raises(TypeError, match=expected):
            cls(root, feilds=["source_video"])  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="Invalid field 'nope'"):
        SparkleMapDataset(root, fields=["nope"])


def test_shared_keywords_reach_every_dataset(sample_tree: object) -> None:
    from sparkle_data.dataset import SparkleDataset, SparkleFullPass, SparkleMapDataset

    root = sample_tree.root  # type: ignore[attr-defined]
    frames = FrameSampler("uniform", num_frames=2)
    kw = {"fields": ["source_video"], "edit_types": ["season"], "frames": frames}
    made = [
        SparkleDataset(root, output="numpy", **kw),  # type: ignore[arg-type]
        SparkleMapDataset(root, output="numpy", **kw),  # type: ignore[arg-type]
        SparkleFullPass(root, output="numpy", cache=False, **kw),  # type: ignore[arg-type]
    ]
    for ds in made:
        assert ds.fields == ("source_video",)
        assert ds.options.frames == frames
        assert ds.options.output == "numpy"
        assert all(i.startswith("Sparkle_season_") for i in ds.ids)
    assert made[1][0]["source_video"].shape[0] == 2
