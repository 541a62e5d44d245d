"""The naming rules of the Sparkle dataset card, and nothing else (no I/O).

Everything here is derived from the dataset card (``docs/format.md`` restates each rule):

* edit types ``location, season, time, style, openve3m``; the metadata JSONL calls the last one
  ``openve3m_background_change``;
* sample ids ``Sparkle_{edit_type}_{NNNNNN}`` (six digits);
* the two corpus artifacts ``source_video`` and ``edited_video`` and the six pipeline
  intermediates, each with one file extension;
* shards ``{edit_type}_{artifact}_partXX.tar`` (repository root for the corpus,
  ``intermediate_data/`` for intermediates) whose members are ``{edit_type}/{artifact}/{id}.{ext}``;
* preview folders and extracted trees, which share one layout relative to the repository root;
* the five per-edit-type record files under ``intermediate_data/{edit_type}/``;
* the Sparkle-Bench names.

Parsers are strict: anything that does not match exactly raises :class:`LayoutError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal, get_args

from sparkle_data.errors import LayoutError

__all__ = [
    "ARTIFACTS",
    "BBOX_SCALE",
    "BENCH_CSV_COLUMNS",
    "BENCH_EDIT_TYPES",
    "CORPUS_ARTIFACTS",
    "EDIT_TYPES",
    "FPS",
    "GROUNDING_FPS",
    "GROUNDING_RECORDS",
    "INTERMEDIATE_ARTIFACTS",
    "INTERMEDIATE_DIR",
    "MAX_FRAMES",
    "METADATA_EDIT_TYPE_ALIASES",
    "PREVIEW_COUNT",
    "PROMPTS_CSV_COLUMNS",
    "PROMPTS_DIR",
    "RECORD_FILES",
    "SCORE_RECORDS",
    "ArtifactName",
    "ArtifactSpec",
    "EditType",
    "MemberName",
    "RecordName",
    "SampleId",
    "ShardName",
    "artifact_relpath",
    "artifact_spec",
    "bench_csv_path",
    "bench_inference_relpath",
    "bench_metadata_path",
    "bench_ref_image_path",
    "bench_source_video_path",
    "canonical_edit_type",
    "edit_type_of",
    "format_sample_id",
    "member_name",
    "metadata_edit_type",
    "parse_artifact_relpath",
    "parse_bench_source_video_path",
    "parse_edit_type",
    "parse_member_name",
    "parse_sample_id",
    "parse_shard_name",
    "prompts_csv_path",
    "prompts_metadata_path",
    "record_path",
    "scene_key",
    "shard_name",
    "shard_path",
    "split_chosen_keyword",
    "validate_member_path",
]

# --------------------------------------------------------------------------- vocabulary

EditType = Literal["location", "season", "time", "style", "openve3m"]
EDIT_TYPES: Final[tuple[EditType, ...]] = get_args(EditType)
"""The five themes, in the card's order."""

BENCH_EDIT_TYPES: Final[tuple[EditType, ...]] = ("location", "season", "time", "style")
"""Sparkle-Bench has no ``openve3m`` theme."""

METADATA_EDIT_TYPE_ALIASES: Final[dict[str, EditType]] = {
    "openve3m_background_change": "openve3m",
}
"""Names that ``metadata.edit_type`` uses for an edit type, mapped to the canonical name."""

ArtifactName = Literal[
    "source_video",
    "edited_video",
    "source_frame0",
    "edited_frame0",
    "edited_frame0_foreground_removed",
    "edited_background_video",
    "source_video_mask",
    "edited_video_canny",
]
CORPUS_ARTIFACTS: Final[tuple[ArtifactName, ...]] = ("source_video", "edited_video")
INTERMEDIATE_ARTIFACTS: Final[tuple[ArtifactName, ...]] = tuple(
    a for a in get_args(ArtifactName) if a not in CORPUS_ARTIFACTS
)

RecordName = Literal[
    "edited_frame0_score",
    "edited_frame0_foreground_removed_score",
    "foreground_grounding_r1",
    "foreground_grounding_r2",
    "edited_video_score",
]
RECORD_FILES: Final[tuple[RecordName, ...]] = get_args(RecordName)
"""The five per-edit-type JSONL record files under ``intermediate_data/{edit_type}/``."""
SCORE_RECORDS: Final[tuple[RecordName, ...]] = (
    "edited_frame0_score",
    "edited_frame0_foreground_removed_score",
    "edited_video_score",
)
GROUNDING_RECORDS: Final[tuple[RecordName, ...]] = (
    "foreground_grounding_r1",
    "foreground_grounding_r2",
)

PROMPTS_DIR: Final = "prompts"
INTERMEDIATE_DIR: Final = "intermediate_data"
PROMPTS_CSV_COLUMNS: Final[tuple[str, ...]] = ("prompt", "src_video", "tgt_video", "task")
BENCH_CSV_COLUMNS: Final[tuple[str, ...]] = ("edited_type", "prompt", "original_video")

PREVIEW_COUNT: Final = 100
"""The first 100 samples of every edit type are stored loose (previewable) as well."""
FPS: Final = 16
MAX_FRAMES: Final = 81
GROUNDING_FPS: Final = 2
"""``frame_objects`` in ``foreground_grounding_r2`` are sampled at 2 FPS from the source video."""
BBOX_SCALE: Final = 1000
"""Qwen3-VL boxes are ``[x1, y1, x2, y2]`` normalised to ``[0, 1000]``."""


@dataclass(frozen=True, slots=True)
class ArtifactSpec:
    """One kind of per-sample file."""

    name: ArtifactName
    extension: str
    """File extension without the dot."""
    intermediate: bool
    """True for the six pipeline intermediates (stored under ``intermediate_data/``)."""
    stage: str
    """Pipeline stage that produced it, as the card's table names it."""
    description: str


ARTIFACTS: Final[dict[ArtifactName, ArtifactSpec]] = {
    spec.name: spec
    for spec in (
        ArtifactSpec("source_video", "mp4", False, "input", "Source video"),
        ArtifactSpec("edited_video", "mp4", False, "Stage 5 (out)", "Edited video"),
        ArtifactSpec("source_frame0", "png", True, "Stage 2 (in)", "Source first frame"),
        ArtifactSpec(
            "edited_frame0", "png", True, "Stage 2 (out)", "Preliminarily edited first frame"
        ),
        ArtifactSpec(
            "edited_frame0_foreground_removed",
            "png",
            True,
            "Stage 3 (mid)",
            "Foreground-removed clean background image",
        ),
        ArtifactSpec(
            "edited_background_video",
            "mp4",
            True,
            "Stage 3 (out)",
            "Pure background video (no foreground)",
        ),
        ArtifactSpec(
            "source_video_mask", "npz", True, "Stage 4", "BAIT-tracked foreground mask (packed)"
        ),
        ArtifactSpec(
            "edited_video_canny",
            "mp4",
            True,
            "Stage 5 (mid)",
            "Decoupled foreground + background Canny edges",
        ),
    )
}


def _hint_choices(choices: tuple[str, ...]) -> str:
    return "Expected one of: " + ", ".join(choices) + "."


def parse_edit_type(name: str) -> EditType:
    """Return ``name`` as an :data:`EditType`; only the five canonical names are accepted."""
    if name in EDIT_TYPES:
        return name
    raise LayoutError.invalid(
        "edit type", name, rule="not one of the five Sparkle themes", hint=_hint_choices(EDIT_TYPES)
    )


def canonical_edit_type(name: str) -> EditType:
    """Map a ``metadata.edit_type`` value (which may be an alias) to the canonical edit type."""
    if name in METADATA_EDIT_TYPE_ALIASES:
        return METADATA_EDIT_TYPE_ALIASES[name]
    return parse_edit_type(name)


def metadata_edit_type(edit_type: str) -> str:
    """The value ``metadata.edit_type`` carries for ``edit_type`` in the training metadata."""
    et = parse_edit_type(edit_type)
    for alias, canonical in METADATA_EDIT_TYPE_ALIASES.items():
        if canonical == et:
            return alias
    return et


def artifact_spec(name: str) -> ArtifactSpec:
    """Look up an artifact by its card name (``source_video_mask``, ...)."""
    try:
        return ARTIFACTS[name]  # type: ignore[index]
    except KeyError:
        raise LayoutError.invalid(
            "artifact", name, rule="not a Sparkle artifact", hint=_hint_choices(tuple(ARTIFACTS))
        ) from None


# --------------------------------------------------------------------------- sample ids

_ID_RE: Final = re.compile(r"Sparkle_(location|season|time|style|openve3m)_([0-9]{6})")
"""The sample id rule (``fullmatch``); :func:`parse_sample_id` implements it without a regex."""


@dataclass(frozen=True, slots=True, order=True)
class SampleId:
    """A parsed ``Sparkle_{edit_type}_{NNNNNN}`` id. ``str(sid)`` gives the id back."""

    edit_type: EditType
    index: int

    def __post_init__(self) -> None:
        parse_edit_type(self.edit_type)
        if isinstance(self.index, bool) or not isinstance(self.index, int):
            raise LayoutError.invalid("sample index", self.index, rule="must be an int")
        if not 0 <= self.index <= 999_999:
            raise LayoutError.invalid(
                "sample index", self.index, rule="must be in [0, 999999] (six digits)"
            )

    def __str__(self) -> str:
        return f"Sparkle_{self.edit_type}_{self.index:06d}"

    @classmethod
    def parse(cls, text: str) -> SampleId:
        return parse_sample_id(text)


def format_sample_id(edit_type: str, index: int) -> str:
    """``format_sample_id("location", 7) == "Sparkle_location_000007"``."""
    return str(SampleId(parse_edit_type(edit_type), index))


def parse_sample_id(text: str) -> SampleId:
    """Parse ``Sparkle_{edit_type}_{NNNNNN}`` strictly (six digits, known edit type)."""
    if not isinstance(text, str):
        raise LayoutError.invalid("sample id", text, rule="must be a string")
    # Exactly ``_ID_RE.fullmatch(text)``, without the regex (this runs once per record line):
    # the text less its last six characters must be one of the five ``Sparkle_{edit_type}_``
    # prefixes and those six characters ASCII digits ([0-9]; ``isdigit`` alone would also take
    # other Unicode digits).
    edit_type = _ID_PREFIXES.get(text[:-6])
    digits = text[-6:]
    if edit_type is None or not (digits.isascii() and digits.isdigit()):
        raise LayoutError.invalid(
            "sample id",
            text,
            rule="must match Sparkle_{edit_type}_{NNNNNN}",
            hint="Example: Sparkle_location_000000.",
        )
    # Only the five edit types and six digits get here, i.e. exactly what
    # SampleId.__post_init__ checks, so the checked constructor is skipped: same fields, same
    # object as SampleId(edit_type, index).
    sid = _new_sample_id(SampleId)
    _set_edit_type(sid, edit_type)
    _set_index(sid, int(digits))
    return sid


_ID_PREFIXES: Final[dict[str, EditType]] = {f"Sparkle_{et}_": et for et in EDIT_TYPES}
_new_sample_id: Final = object.__new__
_set_edit_type: Final = SampleId.__dict__["edit_type"].__set__  # the slots' own setters
_set_index: Final = SampleId.__dict__["index"].__set__


def _sid(sample_id: str | SampleId) -> SampleId:
    return sample_id if isinstance(sample_id, SampleId) else parse_sample_id(sample_id)


def edit_type_of(sample_id: str | SampleId) -> EditType:
    """The edit type of a sample id, checked like :func:`parse_sample_id`:
    ``edit_type_of("Sparkle_time_000003") == "time"`` (the one way to get it from an id)."""
    if isinstance(sample_id, SampleId):
        return sample_id.edit_type
    edit_type = _ID_PREFIXES.get(sample_id[:-6]) if isinstance(sample_id, str) else None
    digits = sample_id[-6:] if edit_type is not None else ""
    if edit_type is None or not (digits.isascii() and digits.isdigit()):
        return parse_sample_id(sample_id).edit_type  # raises the LayoutError
    return edit_type


# --------------------------------------------------------------------------- member paths

_SAFE_SEGMENT: Final = re.compile(r"[A-Za-z0-9_.\-]+")


def validate_member_path(name: str) -> str:
    """Reject paths that could escape a directory: absolute, ``..``, backslashes, empty parts.

    Returns ``name`` unchanged when it is a plain relative POSIX path.
    """
    if not isinstance(name, str) or not name:
        raise LayoutError.invalid("path", name, rule="must be a non-empty string")
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        raise LayoutError.invalid("path", name, rule="must be relative, not absolute")
    if "\\" in name or "\x00" in name:
        raise LayoutError.invalid("path", name, rule="must not contain backslashes or NUL")
    for part in name.split("/"):
        if part in ("", ".", ".."):
            raise LayoutError.invalid(
                "path", name, rule="must not contain empty, '.' or '..' segments"
            )
        if _SAFE_SEGMENT.fullmatch(part) is None:
            raise LayoutError.invalid(
                "path", name, rule="segments may only use letters, digits, '_', '.', '-'"
            )
    return name


@dataclass(frozen=True, slots=True)
class MemberName:
    """A parsed tar member / tree path ``{edit_type}/{artifact}/{id}.{ext}``."""

    sample_id: SampleId
    artifact: ArtifactName

    def __str__(self) -> str:
        return member_name(self.sample_id, self.artifact)


def member_name(sample_id: str | SampleId, artifact: str) -> str:
    """Tar member path ``{edit_type}/{artifact}/{id}.{ext}``, e.g.
    ``location/source_video/Sparkle_location_000000.mp4``."""
    sid = _sid(sample_id)
    spec = artifact_spec(artifact)
    return f"{sid.edit_type}/{spec.name}/{sid}.{spec.extension}"


def parse_member_name(name: str) -> MemberName:
    """Parse a tar member path strictly; the folder's edit type must match the id's."""
    validate_member_path(name)
    parts = name.split("/")
    if len(parts) != 3:
        raise LayoutError.invalid(
            "member path",
            name,
            rule="must be {edit_type}/{artifact}/{id}.{ext} (three segments)",
        )
    folder_type, artifact, filename = parts
    parse_edit_type(folder_type)
    spec = artifact_spec(artifact)
    stem, dot, ext = filename.rpartition(".")
    if not dot or ext != spec.extension:
        raise LayoutError.invalid(
            "member path", name, rule=f"{artifact} files must end in .{spec.extension}"
        )
    sid = parse_sample_id(stem)
    if sid.edit_type != folder_type:
        raise LayoutError.invalid(
            "member path",
            name,
            rule=f"id {sid} does not belong to folder {folder_type!r}",
        )
    return MemberName(sid, spec.name)


def artifact_relpath(sample_id: str | SampleId, artifact: str) -> str:
    """Path of an artifact relative to the dataset root, in a preview folder or extracted tree.

    Corpus artifacts live at ``{edit_type}/{artifact}/{id}.{ext}`` (the CSV's ``src_video`` /
    ``tgt_video``); intermediates at ``intermediate_data/{edit_type}/{artifact}/{id}.{ext}``.
    """
    member = member_name(sample_id, artifact)
    if artifact_spec(artifact).intermediate:
        return f"{INTERMEDIATE_DIR}/{member}"
    return member


def parse_artifact_relpath(path: str) -> MemberName:
    """Inverse of :func:`artifact_relpath`: strict, the prefix must match the artifact kind."""
    validate_member_path(path)
    if path.startswith(INTERMEDIATE_DIR + "/"):
        parsed = parse_member_name(path[len(INTERMEDIATE_DIR) + 1 :])
        if not ARTIFACTS[parsed.artifact].intermediate:
            raise LayoutError.invalid(
                "artifact path",
                path,
                rule=f"{parsed.artifact} is a corpus artifact and lives outside intermediate_data/",
            )
        return parsed
    parsed = parse_member_name(path)
    if ARTIFACTS[parsed.artifact].intermediate:
        raise LayoutError.invalid(
            "artifact path",
            path,
            rule=f"{parsed.artifact} is an intermediate and lives under intermediate_data/",
        )
    return parsed


# --------------------------------------------------------------------------- shards

_SHARD_RE: Final = re.compile(
    r"(location|season|time|style|openve3m)_("
    + "|".join(sorted(ARTIFACTS, key=len, reverse=True))
    + r")_part([0-9]{2,})\.tar"
)


@dataclass(frozen=True, slots=True, order=True)
class ShardName:
    """A parsed shard file name ``{edit_type}_{artifact}_partXX.tar``."""

    edit_type: EditType
    artifact: ArtifactName
    part: int

    def __str__(self) -> str:
        return shard_name(self.edit_type, self.artifact, self.part)

    @property
    def path(self) -> str:
        """Path relative to the repository root (``intermediate_data/`` for intermediates)."""
        return shard_path(self.edit_type, self.artifact, self.part)


def shard_name(edit_type: str, artifact: str, part: int) -> str:
    """``shard_name("location", "source_video", 0) == "location_source_video_part00.tar"``."""
    et = parse_edit_type(edit_type)
    spec = artifact_spec(artifact)
    if isinstance(part, bool) or not isinstance(part, int) or part < 0:
        raise LayoutError.invalid("shard part", part, rule="must be a non-negative int")
    return f"{et}_{spec.name}_part{part:02d}.tar"


def shard_path(edit_type: str, artifact: str, part: int) -> str:
    """Shard path relative to the repository root."""
    name = shard_name(edit_type, artifact, part)
    return f"{INTERMEDIATE_DIR}/{name}" if artifact_spec(artifact).intermediate else name


def parse_shard_name(path: str) -> ShardName:
    """Parse a shard file name; a directory prefix (local folder, URL) is ignored."""
    base = path.rsplit("/", 1)[-1]
    m = _SHARD_RE.fullmatch(base)
    if m is None:
        raise LayoutError.invalid(
            "shard name",
            base,
            rule="must match {edit_type}_{artifact}_partXX.tar",
            hint="Example: location_source_video_part00.tar.",
        )
    return ShardName(m.group(1), m.group(2), int(m.group(3)))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- prompts, records


def prompts_csv_path(edit_type: str) -> str:
    """``prompts/{edit_type}_train.csv``."""
    return f"{PROMPTS_DIR}/{parse_edit_type(edit_type)}_train.csv"


def prompts_metadata_path(edit_type: str) -> str:
    """``prompts/{edit_type}_train_metadata.jsonl``."""
    return f"{PROMPTS_DIR}/{parse_edit_type(edit_type)}_train_metadata.jsonl"


def record_path(edit_type: str, record: str) -> str:
    """``intermediate_data/{edit_type}/{record}.jsonl``."""
    if record not in RECORD_FILES:
        raise LayoutError.invalid(
            "record file", record, rule="not a Sparkle record", hint=_hint_choices(RECORD_FILES)
        )
    return f"{INTERMEDIATE_DIR}/{parse_edit_type(edit_type)}/{record}.jsonl"


# --------------------------------------------------------------------------- Sparkle-Bench


def _bench_type(edit_type: str) -> EditType:
    et = parse_edit_type(edit_type)
    if et not in BENCH_EDIT_TYPES:
        raise LayoutError.invalid(
            "bench edit type",
            et,
            rule="Sparkle-Bench has no such theme",
            hint=_hint_choices(BENCH_EDIT_TYPES),
        )
    return et


def bench_csv_path(edit_type: str) -> str:
    """``{edit_type}_bench.csv`` (columns ``edited_type, prompt, original_video``)."""
    return f"{_bench_type(edit_type)}_bench.csv"


def bench_metadata_path(edit_type: str) -> str:
    """``{edit_type}_metadata.jsonl``."""
    return f"{_bench_type(edit_type)}_metadata.jsonl"


def bench_source_video_path(sample_id: str | SampleId) -> str:
    """``source_videos/{edit_type}/{id}.mp4``."""
    sid = _sid(sample_id)
    return f"source_videos/{_bench_type(sid.edit_type)}/{sid}.mp4"


def parse_bench_source_video_path(path: str) -> SampleId:
    """Inverse of :func:`bench_source_video_path`, strict."""
    validate_member_path(path)
    parts = path.split("/")
    if len(parts) != 3 or parts[0] != "source_videos" or not parts[2].endswith(".mp4"):
        raise LayoutError.invalid(
            "bench video path", path, rule="must be source_videos/{edit_type}/{id}.mp4"
        )
    sid = parse_sample_id(parts[2][: -len(".mp4")])
    if sid.edit_type != parts[1]:
        raise LayoutError.invalid(
            "bench video path", path, rule=f"id {sid} does not belong to folder {parts[1]!r}"
        )
    _bench_type(sid.edit_type)
    return sid


def bench_ref_image_path(sample_id: str | SampleId) -> str:
    """``ref_images/{edit_type}/{id}.png``."""
    sid = _sid(sample_id)
    return f"ref_images/{_bench_type(sid.edit_type)}/{sid}.png"


def split_chosen_keyword(chosen_keyword: str) -> tuple[str, str]:
    """Split ``"subtheme: scene"`` on the first ``": "`` into ``(subtheme, scene)``."""
    subtheme, sep, scene = chosen_keyword.partition(": ")
    if not sep or not subtheme or not scene:
        raise LayoutError.invalid(
            "chosen_keyword", chosen_keyword, rule="must look like 'subtheme: scene'"
        )
    return subtheme, scene


def scene_key(scene: str) -> str:
    """The card's ``scene_key = scene.replace(" ", "_")``."""
    return scene.replace(" ", "_")


def bench_inference_relpath(sample_id: str | SampleId, chosen_keyword: str) -> str:
    """Where the Sparkle-Bench evaluator expects an edited video, relative to ``save_dir``:
    ``{edit_type}/{subtheme}---{scene_key}/{id}_edited.mp4``."""
    sid = _sid(sample_id)
    subtheme, scene = split_chosen_keyword(chosen_keyword)
    return f"{_bench_type(sid.edit_type)}/{subtheme}---{scene_key(scene)}/{sid}_edited.mp4"
