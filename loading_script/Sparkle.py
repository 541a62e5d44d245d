"""Sparkle video pairs for ``datasets < 4`` (2.x / 3.x), which still run loading scripts.

A thin ``datasets.GeneratorBasedBuilder`` whose configs are the edit types (``all``,
``location``, ``season``, ``time``, ``style``, ``openve3m``); the work is done by the installed
``sparkle-data`` package (``pip install sparkle-data``), which pairs source and edited videos
by sample id across the tar shards and reads only the members it needs.

    import datasets

    ds = datasets.load_dataset(
        "path/to/Sparkle.py", "location", split="train", trust_remote_code=True,
        data_dir="/data/Sparkle",            # a local root; default: hf://datasets/stdKonjac/Sparkle
        fields=["source_video", "edited_video", "metadata", "scores"],   # optional
    )

Columns: ``sample_id``, ``edit_type``, ``prompt``; with ``metadata``: ``chosen_keyword``,
``subtheme``, ``scene``, ``original_scene``; with ``scores``: the twelve score columns (float32,
NaN when missing); per video or frame-0 image field a ``{"bytes", "path"}`` struct (the storage
of ``datasets.Video(decode=False)`` / ``datasets.Image(decode=False)``); the mask as NPZ bytes.
Other config keywords: ``ids`` (sample ids), ``where`` (a predicate on sparkle-data's catalog
table), ``index_file`` (a published member index). With ``datasets >= 4`` use
``sparkle_data.hf.load_dataset`` instead (same rows, streaming and sharding included).
"""

import datasets

_DESCRIPTION = (
    "Sparkle: ~140K instruction-guided video background replacement pairs in five themes, "
    "read from the tar shards by sparkle-data."
)
_HOMEPAGE = "https://huggingface.co/datasets/stdKonjac/Sparkle"
_LICENSE = "CC BY 4.0"
_CITATION = """\
@misc{zeng2026sparkle,
  title         = {Sparkle: Realizing Lively Instruction-Guided Video Background Replacement via Decoupled Guidance},
  author        = {Zeng, Ziyun and Lin, Yiqi and Liang, Guoqiang and Shou, Mike Zheng},
  year          = {2026},
  eprint        = {2605.06535},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CV},
  url           = {https://arxiv.org/abs/2605.06535}
}
"""
_DEFAULT_ROOT = "hf://datasets/stdKonjac/Sparkle"
_EDIT_TYPES = ("location", "season", "time", "style", "openve3m")
_DEFAULT_FIELDS = ("source_video", "edited_video", "metadata")
_VIDEO_FIELDS = ("source_video", "edited_video", "edited_background_video", "edited_video_canny")
_IMAGE_FIELDS = ("source_frame0", "edited_frame0", "edited_frame0_foreground_removed")
_MASK_FIELDS = ("source_video_mask",)
_METADATA_COLUMNS = ("chosen_keyword", "subtheme", "scene", "original_scene")
_SCORE_COLUMNS = (
    "frame0_prompt_following",
    "frame0_consistency",
    "frame0_perceptual_quality",
    "frame0_overall",
    "fg_removed_prompt_following",
    "fg_removed_consistency",
    "fg_removed_perceptual_quality",
    "fg_removed_overall",
    "video_mean_o_score",
    "video_min_o_score",
    "video_mean_sc_score",
    "video_mean_pq_score",
)


def _sparkle_data():
    """The installed sparkle_data.hf modules, or an ImportError saying how to get them."""
    try:
        from sparkle_data.hf import indexes, rows
    except ImportError as e:
        raise ImportError(
            "The Sparkle loading script reads the shards through the sparkle-data package, "
            "which is not installed (or too old) in this environment: run "
            "`pip install sparkle-data` and load the dataset again. "
            f"(import error: {e})"
        ) from e
    return rows, indexes


class SparkleConfig(datasets.BuilderConfig):
    """One config per edit type (``all``: the five); ``fields``, ``ids``, ``where`` and
    ``index_file`` may be passed to ``load_dataset`` as config keywords."""

    def __init__(
        self,
        edit_types=_EDIT_TYPES,
        fields=_DEFAULT_FIELDS,
        ids=None,
        where=None,
        index_file=None,
        **kwargs,
    ):
        kwargs.setdefault("version", datasets.Version("1.0.0"))
        super().__init__(**kwargs)
        self.edit_types = tuple(edit_types)
        self.fields = (fields,) if isinstance(fields, str) else tuple(fields)
        self.ids = None if ids is None else list(ids)
        self.where = where
        self.index_file = index_file


class Sparkle(datasets.GeneratorBasedBuilder):
    """Sparkle source/edited video pairs, paired by sample id (via sparkle-data)."""

    BUILDER_CONFIG_CLASS = SparkleConfig
    BUILDER_CONFIGS = [
        SparkleConfig(name="all", edit_types=_EDIT_TYPES, description="All five themes."),
        *(
            SparkleConfig(name=et, edit_types=(et,), description=f"The {et} theme.")
            for et in _EDIT_TYPES
        ),
    ]
    DEFAULT_CONFIG_NAME = "all"

    def _info(self):
        media = {"bytes": datasets.Value("binary"), "path": datasets.Value("string")}
        features = {
            "sample_id": datasets.Value("string"),
            "edit_type": datasets.Value("string"),
            "prompt": datasets.Value("string"),
        }
        fields = self.config.fields
        if "metadata" in fields:
            features.update({c: datasets.Value("string") for c in _METADATA_COLUMNS})
        if "scores" in fields:
            features.update({c: datasets.Value("float32") for c in _SCORE_COLUMNS})
        for f in fields:
            if f in _VIDEO_FIELDS or f in _IMAGE_FIELDS:
                features[f] = dict(media)
            elif f in _MASK_FIELDS:
                features[f] = datasets.Value("binary")
            elif f not in ("metadata", "scores"):
                raise ValueError(
                    f"Invalid field {f!r} for the Sparkle loading script: use the video, image, "
                    "mask, 'metadata' or 'scores' fields (boxes need sparkle_data.hf with "
                    "decode=True)."
                )
        return datasets.DatasetInfo(
            description=_DESCRIPTION,
            features=datasets.Features(features),
            homepage=_HOMEPAGE,
            license=_LICENSE,
            citation=_CITATION,
        )

    def _split_generators(self, dl_manager):
        _sparkle_data()  # fail early, with the install hint
        root = self.config.data_dir or _DEFAULT_ROOT
        return [datasets.SplitGenerator(name=datasets.Split.TRAIN, gen_kwargs={"root": root})]

    def _generate_examples(self, root):
        rows, indexes = _sparkle_data()
        spec = rows.RowSpec(rows.check_row_fields(self.config.fields, decode=False))
        artifacts = [f for f in spec.fields if f in rows.FILE_FIELDS]
        catalog = indexes.root_catalog(
            indexes.open_root(root),
            edit_types=self.config.edit_types,
            artifacts=artifacts,
            index_file=self.config.index_file,
            progress=False,
        )
        selected = rows.select_ids(
            catalog, edit_types=self.config.edit_types, ids=self.config.ids, where=self.config.where
        )
        groups = rows.group_ids(catalog, selected, spec.fields)
        generate = rows.RowGenerator(catalog, groups, spec)
        for row in generate(list(groups)):
            yield row["sample_id"], dict(row)
