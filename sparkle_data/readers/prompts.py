"""Training prompts: ``prompts/{edit_type}_train.csv`` and ``..._train_metadata.jsonl``.

* :func:`iter_prompts_csv` / :func:`load_prompts_csv` read the four-column CSV
  (``prompt,src_video,tgt_video,task``) into :class:`PromptRow` records. The CSV's video paths
  are checked against the card's layout (``{edit_type}/source_video/{id}.mp4``) when the row is
  read, before anything could open them (CWE-22): a row saying ``../../etc/passwd`` is refused.
* :func:`iter_metadata_jsonl` / :func:`load_metadata_jsonl` read the metadata JSONL into
  :class:`MetadataRecord` records.
* :func:`join_prompts` pairs the two by id and checks that the prompts agree.

Every reader is strict by default; ``on_error="skip"`` / ``"warn"`` skips bad rows and counts
them in a :class:`~sparkle_data.policy.SkipReport`. Duplicate ids always raise
:class:`~sparkle_data.errors.JoinError`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Generic, Protocol, TypeVar

from sparkle_data.errors import CorruptRecordError, JoinError, LayoutError, SparkleError
from sparkle_data.layout import (
    EDIT_TYPES,
    METADATA_EDIT_TYPE_ALIASES,
    PROMPTS_CSV_COLUMNS,
    EditType,
    SampleId,
    artifact_relpath,
    canonical_edit_type,
    parse_edit_type,
    parse_sample_id,
    split_chosen_keyword,
)
from sparkle_data.policy import OnError, SkipReport
from sparkle_data.readers._fields import (
    MISSING,
    NOWHERE,
    Where,
    check_edit_type,
    check_sample_id,
    check_text,
    reason_of,
)
from sparkle_data.readers._text import (
    Source,
    check_unique,
    iter_csv_rows,
    iter_jsonl_records,
    resolve_report,
    source_name,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "JoinReport",
    "MetadataRecord",
    "PromptJoin",
    "PromptRow",
    "PromptSample",
    "iter_metadata_jsonl",
    "iter_prompts_csv",
    "join_prompts",
    "load_metadata_jsonl",
    "load_metadata_table",
    "load_prompts_csv",
    "load_prompts_table",
]

_OPENVE3M: Final = "openve3m"


_D = TypeVar("_D", "PromptRow", "MetadataRecord")


def _checked(cls: type[_D], values: tuple[object, ...]) -> _D:
    """A ``cls`` holding ``values`` that already passed every check of ``cls.__post_init__``
    (the readers run those very checks, with the file location, before building a record),
    so they are not run a second time. ``__post_init__`` of these records only checks; it
    changes nothing (``tests/test_readers_fastpath.py`` holds both to that)."""
    record = object.__new__(cls)
    for field, value in zip(_field_names(cls), values, strict=True):
        object.__setattr__(record, field, value)
    return record


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}

# --------------------------------------------------------------------------- CSV rows


@functools.cache
def _relpath_affixes(edit_type: EditType, artifact: str) -> tuple[str, str]:
    """``(prefix, suffix)`` such that ``artifact_relpath(sid, artifact) == prefix + str(sid) +
    suffix`` for the ids of ``edit_type``, read off :func:`artifact_relpath` itself."""
    probe = SampleId(edit_type, 0)
    prefix, sep, suffix = artifact_relpath(probe, artifact).partition(str(probe))
    if not sep:  # pragma: no cover - the layout puts the id in every artifact path
        raise AssertionError(f"{artifact} paths do not hold the sample id")
    return prefix, suffix


def _check_video_path(
    value: object, sid: SampleId, text: str, *, field: str, artifact: str, other: str, where: Where
) -> None:
    """``value`` must be ``artifact_relpath(sid, artifact)``; ``text`` is ``str(sid)``."""
    prefix, suffix = _relpath_affixes(sid.edit_type, artifact)
    if value == prefix + text + suffix:
        return
    expected = artifact_relpath(sid, artifact)
    hint = "Metadata paths are never opened as given; they must equal the card's layout."
    if value == artifact_relpath(sid, other):
        hint = "src_video and tgt_video look swapped. " + hint
    raise where.invalid(
        LayoutError,
        field,
        value,
        rule=f"must be {expected!r} for sample {sid}",
        hint=hint,
        reason="path_mismatch",
    )


def _check_prompt_fields(
    sid: SampleId, prompt: object, src_video: object, tgt_video: object, where: Where
) -> None:
    text = str(sid)
    _check_video_path(
        src_video,
        sid,
        text,
        field="src_video",
        artifact="source_video",
        other="edited_video",
        where=where,
    )
    _check_video_path(
        tgt_video,
        sid,
        text,
        field="tgt_video",
        artifact="edited_video",
        other="source_video",
        where=where,
    )
    check_text(prompt, where, "prompt", nonempty=True)


@dataclass(frozen=True, slots=True)
class PromptRow:
    """One row of ``prompts/{edit_type}_train.csv``.

    ``sample_id`` is the CSV's ``task`` column. ``src_video`` / ``tgt_video`` must equal
    ``layout.artifact_relpath(sample_id, "source_video" / "edited_video")``.
    """

    sample_id: str
    prompt: str
    src_video: str
    tgt_video: str

    def __post_init__(self) -> None:
        sid = check_sample_id(self.sample_id, NOWHERE, field="sample_id")
        _check_prompt_fields(
            sid, self.prompt, self.src_video, self.tgt_video, NOWHERE.at_sample(self.sample_id)
        )

    @property
    def edit_type(self) -> EditType:
        return parse_sample_id(self.sample_id).edit_type


def _prompt_rows(
    source: Source,
    *,
    edit_type: str | None,
    name: str | None,
    on_error: OnError,
    report: SkipReport | None,
) -> Iterator[tuple[str, str, str, str]]:
    """``(task, prompt, src_video, tgt_video)`` of each valid row: the rows of
    :func:`iter_prompts_csv` (and :func:`load_prompts_table`), checked once."""
    if edit_type is not None:
        parse_edit_type(edit_type)
    report = resolve_report(on_error, report)
    path = source_name(source, name)
    seen: dict[str, int] = {}
    for where, fields in iter_csv_rows(
        source, name=path, header=PROMPTS_CSV_COLUMNS, report=report
    ):
        prompt, src_video, tgt_video, task = fields
        try:
            sid = parse_sample_id(task)
        except LayoutError:
            try:
                sid = check_sample_id(task, where, field="task")  # raises, with the location
            except SparkleError as e:
                report.handle(e, reason_of(e))
                continue
        where = where.at_sample(task)
        if seen.setdefault(task, where.line or 0) != (where.line or 0):
            check_unique(seen, task, where)  # raises the duplicate error
        et = sid.edit_type
        src_prefix, src_suffix = _relpath_affixes(et, "source_video")
        tgt_prefix, tgt_suffix = _relpath_affixes(et, "edited_video")
        if (  # the common case, checked as check_edit_type and _check_prompt_fields check it
            (edit_type is None or et == edit_type)
            and src_video == src_prefix + task + src_suffix
            and tgt_video == tgt_prefix + task + tgt_suffix
            and prompt.strip()
        ):
            yield task, prompt, src_video, tgt_video
            continue
        try:
            check_edit_type(sid, edit_type, where)
            _check_prompt_fields(sid, prompt, src_video, tgt_video, where)
        except SparkleError as e:
            report.handle(e, reason_of(e))
            continue
        yield task, prompt, src_video, tgt_video


def iter_prompts_csv(
    source: Source,
    *,
    edit_type: str | None = None,
    name: str | None = None,
    on_error: OnError = "error",
    report: SkipReport | None = None,
) -> Iterator[PromptRow]:
    """Lazily read ``prompts/{edit_type}_train.csv`` as :class:`PromptRow` records.

    The dialect is strict RFC 4180 (quoted fields may hold commas, quotes and newlines),
    UTF-8 with an optional BOM, LF or CRLF. The header must be exactly
    ``prompt,src_video,tgt_video,task``. With ``edit_type``, rows of another edit type are
    errors. Errors name the file, the CSV data row and the physical line it starts on.
    """
    for values in _prompt_rows(
        source, edit_type=edit_type, name=name, on_error=on_error, report=report
    ):
        yield _checked(PromptRow, values)


def load_prompts_csv(
    source: Source,
    *,
    edit_type: str | None = None,
    name: str | None = None,
    on_error: OnError = "error",
    report: SkipReport | None = None,
) -> list[PromptRow]:
    """Eagerly read a prompts CSV; see :func:`iter_prompts_csv`."""
    return list(
        iter_prompts_csv(source, edit_type=edit_type, name=name, on_error=on_error, report=report)
    )


def load_prompts_table(
    source: Source,
    *,
    edit_type: str | None = None,
    name: str | None = None,
    on_error: OnError = "error",
    report: SkipReport | None = None,
) -> pd.DataFrame:
    """Read a prompts CSV into a DataFrame, fast (no :class:`PromptRow` is built).

    Columns ``sample_id`` (the ``task`` column) and ``prompt``, rows in file order.
    ``src_video`` and ``tgt_video`` are checked as :func:`iter_prompts_csv` checks them, then
    dropped: they are ``artifact_relpath(sample_id, ...)`` by rule. Validation is exactly that
    of :func:`iter_prompts_csv`.
    """
    import pandas as pd

    ids: list[str] = []
    prompts: list[str] = []
    for task, prompt, _, _ in _prompt_rows(
        source, edit_type=edit_type, name=name, on_error=on_error, report=report
    ):
        ids.append(task)
        prompts.append(prompt)
    table: pd.DataFrame = pd.DataFrame(
        {"sample_id": pd.array(ids, dtype="str"), "prompt": pd.array(prompts, dtype="str")}
    )
    return table


# --------------------------------------------------------------------------- metadata JSONL


def _check_metadata_fields(
    sid: SampleId,
    prompt: object,
    raw_edit_type: object,
    chosen_keyword: object,
    original_scene: object,
    where: Where,
) -> tuple[str, str] | None:
    """Check the fields of a metadata record; ``(subtheme, scene)`` of its keyword, if any."""
    check_text(prompt, where, "prompt", nonempty=True)
    raw = check_text(raw_edit_type, where, "metadata.edit_type")
    try:
        canonical = canonical_edit_type(raw)
    except LayoutError:
        raise where.invalid(
            LayoutError,
            "metadata.edit_type",
            raw,
            rule="not a Sparkle edit type",
            hint="Expected one of: "
            + ", ".join(EDIT_TYPES)
            + " (openve3m may be written openve3m_background_change).",
            reason="invalid_field",
        ) from None
    if canonical != sid.edit_type:
        raise where.invalid(
            LayoutError,
            "metadata.edit_type",
            raw,
            rule=f"disagrees with the id's edit type {sid.edit_type!r}",
            reason="edit_type_mismatch",
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


def _metadata_values(obj: dict[str, object], sid: SampleId, where: Where) -> _MetadataValues:
    """Validate one parsed metadata line (the one rule set of every metadata reader).

    For openve3m an absent, ``null`` or empty ``chosen_keyword`` reads as ``None``.
    """
    meta = obj.get("metadata", MISSING)
    if not isinstance(meta, dict):
        raise where.invalid(
            CorruptRecordError,
            "metadata",
            meta,
            rule="required field is missing" if meta is MISSING else "must be a JSON object",
            reason="invalid_field",
        )
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


def _metadata_from_json(obj: dict[str, object], sid: SampleId, where: Where) -> MetadataRecord:
    """Validate one parsed metadata line (shared with Sparkle-Bench's metadata reader)."""
    prompt, raw, keyword, scene, _ = _metadata_values(obj, sid, where)
    return _checked(MetadataRecord, (str(sid), prompt, raw, keyword, scene))


_MetadataRow = tuple[str, "str | None", "str | None", "str | None", str]


def _metadata_row(obj: dict[str, object], sid: SampleId, where: Where) -> _MetadataRow:
    """``sample_id``, ``chosen_keyword``, ``subtheme``, ``scene``, ``original_scene``."""
    _, _, keyword, scene, split = _metadata_values(obj, sid, where)
    if split is None:
        return str(sid), keyword, None, None, scene
    return str(sid), keyword, split[0], split[1], scene


def iter_metadata_jsonl(
    source: Source,
    *,
    edit_type: str | None = None,
    name: str | None = None,
    on_error: OnError = "error",
    report: SkipReport | None = None,
) -> Iterator[MetadataRecord]:
    """Lazily read ``prompts/{edit_type}_train_metadata.jsonl`` as :class:`MetadataRecord`."""
    yield from iter_jsonl_records(
        source,
        name=source_name(source, name),
        report=resolve_report(on_error, report),
        edit_type=edit_type,
        convert=_metadata_from_json,
    )


def load_metadata_jsonl(
    source: Source,
    *,
    edit_type: str | None = None,
    name: str | None = None,
    on_error: OnError = "error",
    report: SkipReport | None = None,
) -> list[MetadataRecord]:
    """Eagerly read a metadata JSONL; see :func:`iter_metadata_jsonl`."""
    return list(
        iter_metadata_jsonl(
            source, edit_type=edit_type, name=name, on_error=on_error, report=report
        )
    )


def _metadata_rows(
    source: Source,
    *,
    edit_type: str | None,
    name: str | None,
    on_error: OnError,
    report: SkipReport | None,
) -> Iterator[_MetadataRow]:
    """The rows of :func:`load_metadata_table`: the records of :func:`iter_metadata_jsonl`."""
    return iter_jsonl_records(
        source,
        name=source_name(source, name),
        report=resolve_report(on_error, report),
        edit_type=edit_type,
        convert=_metadata_row,
    )


def load_metadata_table(
    source: Source,
    *,
    edit_type: str | None = None,
    name: str | None = None,
    on_error: OnError = "error",
    report: SkipReport | None = None,
) -> pd.DataFrame:
    """Read a metadata JSONL into a DataFrame, fast (no :class:`MetadataRecord` is built).

    Columns ``sample_id``, ``chosen_keyword``, ``subtheme``, ``scene`` (missing without a
    keyword: openve3m) and ``original_scene`` (string dtype), rows in file order. Validation
    is exactly that of :func:`iter_metadata_jsonl`.
    """
    import pandas as pd

    rows = list(
        _metadata_rows(source, edit_type=edit_type, name=name, on_error=on_error, report=report)
    )
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(_METADATA_COLUMNS)
    table: pd.DataFrame = pd.DataFrame(
        {
            key: pd.array(list(values), dtype="str")
            for key, values in zip(_METADATA_COLUMNS, columns, strict=True)
        }
    )
    return table


_METADATA_COLUMNS: Final = ("sample_id", "chosen_keyword", "subtheme", "scene", "original_scene")


# --------------------------------------------------------------------------- join


class _HasPrompt(Protocol):
    @property
    def sample_id(self) -> str: ...

    @property
    def prompt(self) -> str: ...


_R = TypeVar("_R", bound=_HasPrompt)


@dataclass(frozen=True, slots=True)
class PromptSample(Generic[_R]):
    """A CSV row and its metadata, joined by sample id."""

    row: _R
    metadata: MetadataRecord

    @property
    def sample_id(self) -> str:
        return self.row.sample_id

    @property
    def prompt(self) -> str:
        return self.row.prompt


@dataclass(frozen=True, slots=True)
class JoinReport:
    """What :func:`join_prompts` found; ids are listed in file order."""

    joined: int
    csv_only: tuple[str, ...]
    metadata_only: tuple[str, ...]
    prompt_mismatch: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not (self.csv_only or self.metadata_only or self.prompt_mismatch)

    def counts(self) -> dict[str, int]:
        return {
            "joined": self.joined,
            "csv_only": len(self.csv_only),
            "metadata_only": len(self.metadata_only),
            "prompt_mismatch": len(self.prompt_mismatch),
        }

    def __str__(self) -> str:
        return ", ".join(f"{k}: {v}" for k, v in self.counts().items())


@dataclass(frozen=True, slots=True)
class PromptJoin(Generic[_R]):
    """The result of :func:`join_prompts`: the joined samples (CSV order) and the report."""

    samples: tuple[PromptSample[_R], ...]
    report: JoinReport


def _unique_by_id(items: Iterable[_R], side: str) -> dict[str, _R]:
    out: dict[str, _R] = {}
    for item in items:
        if item.sample_id in out:
            raise JoinError.invalid(
                f"{side} sample id",
                item.sample_id,
                rule="appears twice",
                hint="Ids must be unique on each side of a join.",
                sample_id=item.sample_id,
            )
        out[item.sample_id] = item
    return out


def join_prompts(
    rows: Iterable[_R],
    metadata: Iterable[MetadataRecord],
    *,
    on_error: OnError = "error",
    report: SkipReport | None = None,
) -> PromptJoin[_R]:
    """Join CSV rows (:class:`PromptRow` or Sparkle-Bench rows) with metadata by sample id.

    Both sides must hold the same ids and, per id, the same prompt (exact string equality).
    Strict: any mismatch raises one :class:`~sparkle_data.errors.JoinError` with the counts and
    the first ids of each kind. Lenient: mismatched ids are left out, each one counted in
    ``report`` (reasons ``csv_only``, ``metadata_only``, ``prompt_mismatch``), and the returned
    :class:`JoinReport` lists them all. Duplicate ids on either side raise in every mode.
    """
    report = resolve_report(on_error, report)
    by_row = _unique_by_id(rows, "CSV")
    by_meta = _unique_by_id(metadata, "metadata")
    samples: list[PromptSample[_R]] = []
    csv_only: list[str] = []
    mismatch: list[str] = []
    for sid, row in by_row.items():
        meta = by_meta.get(sid)
        if meta is None:
            csv_only.append(sid)
        elif meta.prompt != row.prompt:
            mismatch.append(sid)
        else:
            samples.append(PromptSample(row, meta))
    metadata_only = [sid for sid in by_meta if sid not in by_row]
    result = JoinReport(len(samples), tuple(csv_only), tuple(metadata_only), tuple(mismatch))
    if result.ok:
        return PromptJoin(tuple(samples), result)
    if report.on_error == "error":
        examples = "; ".join(
            f"{kind}: {', '.join(ids[:3])}{', ...' if len(ids) > 3 else ''}"
            for kind, ids in (
                ("csv_only", csv_only),
                ("metadata_only", metadata_only),
                ("prompt_mismatch", mismatch),
            )
            if ids
        )
        raise JoinError(
            f"CSV and metadata do not join ({result}). First ids: {examples}. "
            "Pass on_error='skip' to keep the ids that do join and get a JoinReport."
        )
    for kind, ids in (
        ("csv_only", csv_only),
        ("metadata_only", metadata_only),
        ("prompt_mismatch", mismatch),
    ):
        rule = {
            "csv_only": "is in the CSV but not in the metadata",
            "metadata_only": "is in the metadata but not in the CSV",
            "prompt_mismatch": "has different prompts in the CSV and the metadata",
        }[kind]
        for sid in ids:
            report.handle(JoinError.invalid("sample id", sid, rule=rule, sample_id=sid), kind)
    return PromptJoin(tuple(samples), result)
