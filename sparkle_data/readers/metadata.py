"""Training metadata: ``prompts/{edit_type}_train_metadata.jsonl``.

:func:`iter_metadata_jsonl` / :func:`load_metadata_jsonl` read it into
:class:`MetadataRecord` records; :func:`load_metadata_table` into a DataFrame (no record
objects). Sparkle-Bench's ``{edit_type}_metadata.jsonl`` has the same schema and is read with
:func:`metadata_from_json` too. Also importable from :mod:`sparkle_data.readers.prompts`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from sparkle_data.errors import LayoutError
from sparkle_data.layout import (
    EDIT_TYPES,
    METADATA_EDIT_TYPE_ALIASES,
    EditType,
    SampleId,
    canonical_edit_type,
    split_chosen_keyword,
)
from sparkle_data.readers._fields import (
    MISSING,
    NOWHERE,
    RecordWhere,
    check_raw_edit_type,
    check_sample_id,
    check_text,
    checked_record,
    wrong_type,
)
from sparkle_data.readers._reader import eager_reader, jsonl_rows, lazy_reader, table_reader

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MetadataRecord",
    "iter_metadata_jsonl",
    "load_metadata_jsonl",
    "load_metadata_table",
]

_OPENVE3M: Final = "openve3m"


def _check_metadata_fields(
    sid: SampleId,
    prompt: object,
    raw_edit_type: object,
    chosen_keyword: object,
    original_scene: object,
    where: RecordWhere,
) -> tuple[str, str] | None:
    """Check the fields of a metadata record; ``(subtheme, scene)`` of its keyword, if any."""
    check_text(prompt, where, "prompt", nonempty=True)
    canonical = check_raw_edit_type(
        raw_edit_type,
        sid,
        where,
        "metadata.edit_type",
        hint="Expected one of: "
        + ", ".join(EDIT_TYPES)
        + " (openve3m may be written openve3m_background_change).",
    )
    split: tuple[str, str] | None = None
    if chosen_keyword is None:
        if canonical != _OPENVE3M:
            raise where.invalid(
                LayoutError,
                "metadata.chosen_keyword",
                chosen_keyword,
                rule=f"is required for edit type {canonical!r} (only openve3m has none)",
                reason="invalid_field",
            )
    else:
        keyword = check_text(chosen_keyword, where, "metadata.chosen_keyword")
        try:
            split = split_chosen_keyword(keyword)
        except LayoutError:
            raise where.invalid(
                LayoutError,
                "metadata.chosen_keyword",
                keyword,
                rule="must look like 'subtheme: scene'",
                reason="invalid_field",
            ) from None
    check_text(original_scene, where, "metadata.original_scene")
    return split


@dataclass(frozen=True, slots=True)
class MetadataRecord:
    """One line of ``prompts/{edit_type}_train_metadata.jsonl`` (or Sparkle-Bench's
    ``{edit_type}_metadata.jsonl``).

    ``raw_edit_type`` is ``metadata.edit_type`` as written (``openve3m_background_change`` for
    openve3m); :attr:`edit_type` is the canonical name. ``chosen_keyword`` is ``None`` for
    openve3m (where the card says it is not available) and required for every other edit type.
    """

    sample_id: str
    prompt: str
    raw_edit_type: str
    chosen_keyword: str | None
    original_scene: str

    def __post_init__(self) -> None:
        sid = check_sample_id(self.sample_id, NOWHERE, field="sample_id")
        _check_metadata_fields(
            sid,
            self.prompt,
            self.raw_edit_type,
            self.chosen_keyword,
            self.original_scene,
            NOWHERE.at_sample(self.sample_id),
        )

    @property
    def edit_type(self) -> EditType:
        return canonical_edit_type(self.raw_edit_type)

    @property
    def subtheme(self) -> str | None:
        """``"urban"`` for ``chosen_keyword == "urban: rooftop overlooking skyline"``."""
        return None if self.chosen_keyword is None else split_chosen_keyword(self.chosen_keyword)[0]

    @property
    def scene(self) -> str | None:
        """``"rooftop overlooking skyline"`` for the keyword above."""
        return None if self.chosen_keyword is None else split_chosen_keyword(self.chosen_keyword)[1]


_MetadataValues = tuple[str, str, "str | None", str, "tuple[str, str] | None"]
"""``prompt``, ``raw_edit_type``, ``chosen_keyword``, ``original_scene``, split keyword."""


def _metadata_values(obj: dict[str, object], sid: SampleId, where: RecordWhere) -> _MetadataValues:
    """Validate one parsed metadata line (the one rule set of every metadata reader).

    For openve3m an absent, ``null`` or empty ``chosen_keyword`` reads as ``None``.
    """
    meta = obj.get("metadata", MISSING)
    if not isinstance(meta, dict):
        raise wrong_type(meta, where, "metadata", "a JSON object")
    prompt = obj.get("prompt", MISSING)
    raw = meta.get("edit_type", MISSING)
    keyword = meta.get("chosen_keyword")
    if keyword == "" and sid.edit_type == _OPENVE3M:
        keyword = None
    scene = meta.get("original_scene", MISSING)
    if (  # the common case, checked as _check_metadata_fields checks it
        type(prompt) is str
        and type(raw) is str
        and type(keyword) is str
        and type(scene) is str
        and prompt.strip()
        and _CANONICAL.get(raw) == sid.edit_type
    ):
        try:
            return prompt, raw, keyword, scene, split_chosen_keyword(keyword)
        except LayoutError:
            pass  # reported below, with the location
    split = _check_metadata_fields(sid, prompt, raw, keyword, scene, where)
    return prompt, raw, keyword, scene, split  # type: ignore[return-value]  # checked above


_CANONICAL: Final[dict[str, EditType]] = {
    name: canonical_edit_type(name) for name in (*METADATA_EDIT_TYPE_ALIASES, *EDIT_TYPES)
}
"""``canonical_edit_type`` of every name it accepts."""


def metadata_from_json(obj: dict[str, object], sid: SampleId, where: RecordWhere) -> MetadataRecord:
    """The :class:`MetadataRecord` of one parsed metadata line (``convert`` of
    :func:`~sparkle_data.readers._text.iter_jsonl_records`; Sparkle-Bench's metadata reader
    uses it too). Raises the reader errors, located at ``where``."""
    prompt, raw, keyword, scene, _ = _metadata_values(obj, sid, where)
    return checked_record(MetadataRecord, (str(sid), prompt, raw, keyword, scene))


MetadataRow = tuple[str, "str | None", "str | None", "str | None", str]
"""A row of :func:`metadata_rows`: ``sample_id``, ``chosen_keyword``, ``subtheme``, ``scene``,
``original_scene``."""


def _metadata_row(obj: dict[str, object], sid: SampleId, where: RecordWhere) -> MetadataRow:
    """``sample_id``, ``chosen_keyword``, ``subtheme``, ``scene``, ``original_scene``."""
    _, _, keyword, scene, split = _metadata_values(obj, sid, where)
    if split is None:
        return str(sid), keyword, None, None, scene
    return str(sid), keyword, split[0], split[1], scene


_RECORDS: Final = jsonl_rows(metadata_from_json)
_ROWS: Final = jsonl_rows(_metadata_row)


@lazy_reader(_RECORDS)
def iter_metadata_jsonl(record: MetadataRecord) -> MetadataRecord:
    """Lazily read ``prompts/{edit_type}_train_metadata.jsonl`` as :class:`MetadataRecord`."""
    return record


load_metadata_jsonl: Final = eager_reader(iter_metadata_jsonl)


@table_reader(_ROWS)
def metadata_rows(rows: Iterator[MetadataRow]) -> Iterator[MetadataRow]:
    """The rows of :func:`load_metadata_table` (:data:`MetadataRow` tuples), validated as
    :func:`iter_metadata_jsonl` validates its records, for the catalog, which gathers the rows
    of every edit type before building one DataFrame."""
    return rows


_METADATA_COLUMNS: Final = ("sample_id", "chosen_keyword", "subtheme", "scene", "original_scene")


@table_reader(_ROWS)
def load_metadata_table(rows: Iterator[MetadataRow]) -> pd.DataFrame:
    """Read a metadata JSONL into a DataFrame, fast (no :class:`MetadataRecord` is built).

    Columns ``sample_id``, ``chosen_keyword``, ``subtheme``, ``scene`` (missing without a
    keyword: openve3m) and ``original_scene`` (string dtype), rows in file order. Validation
    is exactly that of :func:`iter_metadata_jsonl`.
    """
    import pandas as pd

    found = list(rows)
    columns = list(zip(*found, strict=True)) if found else [()] * len(_METADATA_COLUMNS)
    table: pd.DataFrame = pd.DataFrame(
        {
            key: pd.array(list(values), dtype="str")
            for key, values in zip(_METADATA_COLUMNS, columns, strict=True)
        }
    )
    return table
