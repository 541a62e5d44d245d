"""EditScore records of ``intermediate_data/{edit_type}/``.

``edited_frame0_score.jsonl`` and ``edited_frame0_foreground_removed_score.jsonl`` share one
schema (:class:`ImageEditScore`); ``edited_video_score.jsonl`` scores four sampled frames of
the final video (:class:`VideoEditScore`).

Every score (sub-scores and the aggregates ``overall`` / ``O_score``) must be a finite number in
``[0, 10]``. ``NaN``, ``Infinity`` (which Python's ``json.dumps`` writes and ``orjson``
refuses: such lines are re-parsed with :mod:`json` so the value reaches this check) and
out-of-range values raise :class:`~sparkle_data.errors.CorruptRecordError` naming the file, line,
sample and field, or are skipped and counted (reason ``invalid_score``) under
``on_error="skip"``. They are never passed on: ``nan < 8`` is False, so a NaN would slip
through a "discard if below 8" filter.

Two ways to read each file, with one set of rules:

* ``iter_*`` / ``load_*_scores``: records with the reasoning texts (lazy / eager);
* ``load_*_score_table``: a :class:`pandas.DataFrame` of the numbers only, for catalogs and
  filters (no record objects are built; the texts are type-checked, then dropped).
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from sparkle_data.errors import CorruptRecordError
from sparkle_data.layout import MAX_FRAMES, SampleId
from sparkle_data.policy import OnError, SkipReport
from sparkle_data.readers._fields import (
    MISSING,
    NOWHERE,
    SCORE_MAX,
    SCORE_MIN,
    RecordWhere,
    check_sample_id,
    check_score,
    check_text,
    wrong_type,
)
from sparkle_data.readers._reader import eager_reader, jsonl_rows, lazy_reader, read_rows
from sparkle_data.readers._text import TextSource

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CARD_NUM_SCORED_FRAMES",
    "FrameScore",
    "ImageEditScore",
    "VideoEditScore",
    "iter_image_scores",
    "iter_video_scores",
    "load_image_score_table",
    "load_image_scores",
    "load_video_score_table",
    "load_video_scores",
]

CARD_NUM_SCORED_FRAMES: Final = 4
"""The card samples four non-first frames of each edited video for EditScore."""

_IMAGE_SCORES: Final = ("prompt_following", "consistency", "perceptual_quality", "overall")
_IMAGE_TEXTS: Final = ("SC_reasoning", "PQ_reasoning")
_FRAME_SCORES: Final = ("SC_score", "PQ_score", "O_score")
_FRAME_TEXTS: Final = (
    "SC_score_reasoning",
    "PQ_score_reasoning",
    "SC_raw_output",
    "PQ_raw_output",
)
_FRAME_KEYS: Final = (*_FRAME_SCORES, *_FRAME_TEXTS)
_frame_values: Final = operator.itemgetter(*_FRAME_KEYS)


def _mean(values: Sequence[float]) -> float:
    """Left-to-right sum over the count: the table loader computes the very same float."""
    total = 0.0
    for v in values:
        total += v
    return total / len(values)


def _bad_editscore(value: object, where: RecordWhere, kind: str) -> CorruptRecordError:
    return wrong_type(value, where, "editscore", f"a JSON {kind}")


# --------------------------------------------------------------------------- image scores


_ImageFields = tuple[str, float, float, float, float, str, str]
"""``prompt``, the four scores, the two reasoning texts: an :class:`ImageEditScore` less its id."""


def _check_image(
    prompt: object, scores: Sequence[object], texts: Sequence[object], where: RecordWhere
) -> _ImageFields:
    return (
        check_text(prompt, where, "prompt", nonempty=True),
        check_score(scores[0], where, "editscore.prompt_following"),
        check_score(scores[1], where, "editscore.consistency"),
        check_score(scores[2], where, "editscore.perceptual_quality"),
        check_score(scores[3], where, "editscore.overall"),
        check_text(texts[0], where, "editscore.SC_reasoning"),
        check_text(texts[1], where, "editscore.PQ_reasoning"),
    )


@dataclass(frozen=True, slots=True)
class ImageEditScore:
    """One line of ``edited_frame0_score.jsonl`` or
    ``edited_frame0_foreground_removed_score.jsonl``.

    The four scores are ``editscore.prompt_following``, ``.consistency``,
    ``.perceptual_quality`` and ``.overall``, each finite and in ``[0, 10]``.
    """

    sample_id: str
    prompt: str
    prompt_following: float
    consistency: float
    perceptual_quality: float
    overall: float
    sc_reasoning: str
    pq_reasoning: str

    def __post_init__(self) -> None:
        check_sample_id(self.sample_id, NOWHERE, field="sample_id")
        _check_image(
            self.prompt,
            (self.prompt_following, self.consistency, self.perceptual_quality, self.overall),
            (self.sc_reasoning, self.pq_reasoning),
            NOWHERE.at_sample(self.sample_id),
        )


_image_scores: Final = operator.itemgetter(*_IMAGE_SCORES)
_image_texts: Final = operator.itemgetter(*_IMAGE_TEXTS)


def _image_from_json(
    obj: dict[str, object], sid: SampleId, where: RecordWhere
) -> tuple[str, _ImageFields]:
    es = obj.get("editscore", MISSING)
    if not isinstance(es, dict):
        raise _bad_editscore(es, where, "object")
    prompt = obj.get("prompt", MISSING)
    try:
        scores, texts = _image_scores(es), _image_texts(es)
    except KeyError:
        scores = [es.get(k, MISSING) for k in _IMAGE_SCORES]
        texts = [es.get(k, MISSING) for k in _IMAGE_TEXTS]
    else:
        a, b, c, d = scores
        if (  # the common case, checked as _check_image checks it: float scores in [0, 10]
            type(a) is float
            and type(b) is float
            and type(c) is float
            and type(d) is float
            and SCORE_MIN <= a <= SCORE_MAX
            and SCORE_MIN <= b <= SCORE_MAX
            and SCORE_MIN <= c <= SCORE_MAX
            and SCORE_MIN <= d <= SCORE_MAX
            and type(texts[0]) is str
            and type(texts[1]) is str
            and type(prompt) is str
            and prompt.strip()
        ):
            return str(sid), (prompt, a, b, c, d, *texts)
    return str(sid), _check_image(prompt, scores, texts, where)


_IMAGE_ROWS: Final = jsonl_rows(_image_from_json)


@lazy_reader(_IMAGE_ROWS)
def iter_image_scores(values: tuple[str, _ImageFields]) -> ImageEditScore:
    """Lazily read ``edited_frame0_score.jsonl`` (or the foreground-removed variant)."""
    return ImageEditScore(values[0], *values[1])


load_image_scores: Final = eager_reader(iter_image_scores)


def load_image_score_table(
    source: TextSource,
    *,
    edit_type: str | None = None,
    with_text: bool = False,
    name: str | None = None,
    on_error: OnError = "error",
    report: SkipReport | None = None,
) -> pd.DataFrame:
    """Read an image score file into a DataFrame, fast (no record objects are built).

    Columns: ``sample_id`` and ``prompt_following, consistency, perceptual_quality, overall``
    (float64); with ``with_text`` also ``prompt, sc_reasoning, pq_reasoning``. Rows keep file
    order. Validation is exactly that of :func:`iter_image_scores`.
    """
    import pandas as pd

    ids: list[str] = []
    flat: list[float] = []
    texts: list[tuple[str, str, str]] = []
    for sid, fields in read_rows(
        _IMAGE_ROWS, source, edit_type=edit_type, name=name, on_error=on_error, report=report
    ):
        ids.append(sid)
        flat.extend(fields[1:5])
        if with_text:
            texts.append((fields[0], fields[5], fields[6]))
    values = np.array(flat, dtype=np.float64).reshape(len(ids), len(_IMAGE_SCORES))
    columns: dict[str, object] = {"sample_id": pd.array(ids, dtype="str")}
    for j, key in enumerate(_IMAGE_SCORES):
        columns[key] = values[:, j]
    if with_text:
        for j, key in enumerate(("prompt", "sc_reasoning", "pq_reasoning")):
            columns[key] = pd.array([t[j] for t in texts], dtype="str")
    table: pd.DataFrame = pd.DataFrame(columns)
    return table


# --------------------------------------------------------------------------- video scores


def _check_frame_indices(
    indices: object, num_scores: int, where: RecordWhere, *, num_frames: int | None = None
) -> tuple[int, ...]:
    def bad(rule: str) -> CorruptRecordError:
        return where.invalid(
            CorruptRecordError, "frame_indices", indices, rule=rule, reason="invalid_frames"
        )

    if not isinstance(indices, (list, tuple)):
        raise bad("required field is missing" if indices is MISSING else "must be an array")
    if not indices:
        raise bad("must not be empty")
    previous = -1
    for i in indices:
        if isinstance(i, bool) or not isinstance(i, int):
            raise bad("must hold integers")
        if not previous < i < MAX_FRAMES:
            raise bad(f"must be strictly increasing frame indices in [0, {MAX_FRAMES})")
        previous = i
    if len(indices) != num_scores:
        raise bad(f"has {len(indices)} entries but editscore has {num_scores}")
    if num_frames is not None and len(indices) != num_frames:
        raise bad(
            f"has {len(indices)} entries, expected {num_frames}",
        )
    return tuple(indices)


_FrameFields = tuple[float, float, float, str, str, str, str]
"""The fields of a :class:`FrameScore`, in order."""


@functools.lru_cache(maxsize=64)
def _frame_field_names(index: int) -> tuple[str, ...]:
    """``editscore[i].SC_score``, ... in :class:`FrameScore` field order."""
    return tuple(f"editscore[{index}].{k}" for k in (*_FRAME_SCORES, *_FRAME_TEXTS))


def _check_frame(values: Sequence[object], index: int, where: RecordWhere) -> _FrameFields:
    """Validate the seven values of one ``editscore[index]`` entry, in field order."""
    names = _frame_field_names(index)
    sc, pq, o, sc_text, pq_text, sc_raw, pq_raw = values
    scores = (
        check_score(sc, where, names[0]),
        check_score(pq, where, names[1]),
        check_score(o, where, names[2]),
    )
    if (  # the common case first; otherwise check_text below says which one is wrong
        type(sc_text) is str
        and type(pq_text) is str
        and type(sc_raw) is str
        and type(pq_raw) is str
    ):
        return (*scores, sc_text, pq_text, sc_raw, pq_raw)
    return (
        *scores,
        check_text(sc_text, where, names[3]),
        check_text(pq_text, where, names[4]),
        check_text(sc_raw, where, names[5]),
        check_text(pq_raw, where, names[6]),
    )


@dataclass(frozen=True, slots=True)
class FrameScore:
    """EditScore of one sampled frame of the edited video (one ``editscore[i]`` entry)."""

    sc_score: float
    pq_score: float
    o_score: float
    sc_reasoning: str
    pq_reasoning: str
    sc_raw_output: str
    pq_raw_output: str

    def __post_init__(self) -> None:
        _check_frame(
            (
                self.sc_score,
                self.pq_score,
                self.o_score,
                self.sc_reasoning,
                self.pq_reasoning,
                self.sc_raw_output,
                self.pq_raw_output,
            ),
            0,
            NOWHERE,
        )


@dataclass(frozen=True, slots=True)
class VideoEditScore:
    """One line of ``edited_video_score.jsonl``.

    ``frames[i]`` scores video frame ``frame_indices[i]``. The card samples four frames; a
    record of any other (equal, non-zero) length is valid here and the readers check the count
    (``num_frames=4`` by default). The card's final filter discards a sample when
    :attr:`mean_o_score` is below 8.
    """

    sample_id: str
    prompt: str
    frame_indices: tuple[int, ...]
    frames: tuple[FrameScore, ...]

    def __post_init__(self) -> None:
        where = NOWHERE.at_sample(self.sample_id)
        check_sample_id(self.sample_id, NOWHERE, field="sample_id")
        check_text(self.prompt, where, "prompt", nonempty=True)
        object.__setattr__(self, "frames", tuple(self.frames))
        for frame in self.frames:
            if not isinstance(frame, FrameScore):
                raise where.invalid(
                    CorruptRecordError,
                    "frames",
                    frame,
                    rule="must hold FrameScore objects",
                    reason="invalid_field",
                )
        object.__setattr__(
            self,
            "frame_indices",
            _check_frame_indices(self.frame_indices, len(self.frames), where),
        )

    @property
    def o_scores(self) -> tuple[float, ...]:
        return tuple(f.o_score for f in self.frames)

    @property
    def sc_scores(self) -> tuple[float, ...]:
        return tuple(f.sc_score for f in self.frames)

    @property
    def pq_scores(self) -> tuple[float, ...]:
        return tuple(f.pq_score for f in self.frames)

    @property
    def mean_o_score(self) -> float:
        """Mean ``O_score`` over the sampled frames (the card's final filter: keep ``>= 8``)."""
        return _mean(self.o_scores)

    @property
    def min_o_score(self) -> float:
        return min(self.o_scores)

    @property
    def mean_sc_score(self) -> float:
        return _mean(self.sc_scores)

    @property
    def mean_pq_score(self) -> float:
        return _mean(self.pq_scores)


_VideoValues = tuple[str, str, tuple[int, ...], list[_FrameFields]]
_VideoConvert = Callable[[dict[str, object], SampleId, RecordWhere], _VideoValues]


def _video_converter(num_frames: int | None) -> _VideoConvert:
    def convert(obj: dict[str, object], sid: SampleId, where: RecordWhere) -> _VideoValues:
        prompt = check_text(obj.get("prompt", MISSING), where, "prompt", nonempty=True)
        entries = obj.get("editscore", MISSING)
        if not isinstance(entries, list):
            raise _bad_editscore(entries, where, "array")
        indices = _check_frame_indices(
            obj.get("frame_indices", MISSING), len(entries), where, num_frames=num_frames
        )
        frames = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise where.invalid(
                    CorruptRecordError,
                    f"editscore[{i}]",
                    entry,
                    rule="must be a JSON object",
                    reason="invalid_field",
                )
            try:
                values = _frame_values(entry)
            except KeyError:
                values = [entry.get(k, MISSING) for k in _FRAME_KEYS]
            frames.append(_check_frame(values, i, where))
        return str(sid), prompt, indices, frames

    return convert


_VideoRow = tuple[list[int], list[float]]
"""``frame_indices`` and, frame after frame, ``SC_score, PQ_score, O_score``."""


def _video_table_converter(
    num_frames: int,
) -> Callable[[dict[str, object], SampleId, RecordWhere], _VideoRow]:
    """The converter of :func:`load_video_score_table`: the numbers of a record.

    The common case is checked as a whole: ``num_frames`` entries, each an object with the
    seven keys, its three scores ``float`` in ``[0, 10]`` (not NaN) and its four texts
    ``str``; ``frame_indices`` as many strictly increasing ``int`` in ``[0, 81)``; a
    non-empty prompt. Those are records :func:`_video_converter` keeps with these very
    numbers. Any other record (``int`` scores included) goes through
    :func:`_video_converter`, which says what is wrong.
    """
    detailed = _video_converter(num_frames)
    types = (float, float, float, str, str, str, str) * num_frames
    index_types = (int,) * num_frames
    scores_at = operator.itemgetter(
        *(7 * i + j for i in range(num_frames) for j in range(len(_FRAME_SCORES)))
    )

    def convert(obj: dict[str, object], sid: SampleId, where: RecordWhere) -> _VideoRow:
        entries = obj.get("editscore")
        indices = obj.get("frame_indices")
        prompt = obj.get("prompt")
        if (
            type(entries) is list
            and type(indices) is list
            and len(entries) == num_frames
            and type(prompt) is str
            and prompt.strip()
            and tuple(map(type, indices)) == index_types
            and indices[0] >= 0
            and indices[-1] < MAX_FRAMES
            and all(map(operator.lt, indices, indices[1:]))
        ):
            try:
                values = tuple(itertools.chain.from_iterable(map(_frame_values, entries)))
            except (KeyError, TypeError):  # a key missing, an entry not an object
                pass
            else:
                if tuple(map(type, values)) == types:
                    scores = scores_at(values)
                    if (
                        min(scores) >= SCORE_MIN  # past a NaN, min and max still see the
                        and max(scores) <= SCORE_MAX  # others; a NaN first fails them
                        and _not_nan(sum(scores))  # NaN if any score is NaN
                    ):
                        return indices, list(scores)
        _, _, checked, frames = detailed(obj, sid, where)
        return list(checked), [v for fields in frames for v in fields[:3]]

    return convert


def _not_nan(value: float) -> bool:
    return value == value


def _check_num_frames(num_frames: int | None, *, required: bool) -> None:
    if num_frames is None and not required:
        return
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"Invalid num_frames {num_frames!r}: must be a positive int.")


def iter_video_scores(
    source: TextSource,
    *,
    edit_type: str | None = None,
    num_frames: int | None = CARD_NUM_SCORED_FRAMES,
    name: str | None = None,
    on_error: OnError = "error",
    report: SkipReport | None = None,
) -> Iterator[VideoEditScore]:
    """Lazily read ``edited_video_score.jsonl``.

    ``num_frames`` is the number of scored frames each record must have (the card's 4);
    ``None`` accepts any non-zero count (``frame_indices`` and ``editscore`` must still have
    equal lengths).
    """
    _check_num_frames(num_frames, required=False)
    for sid, prompt, indices, frames in read_rows(
        jsonl_rows(_video_converter(num_frames)),
        source,
        edit_type=edit_type,
        name=name,
        on_error=on_error,
        report=report,
    ):
        yield VideoEditScore(sid, prompt, indices, tuple(FrameScore(*fields) for fields in frames))


load_video_scores: Final = eager_reader(iter_video_scores)


def load_video_score_table(
    source: TextSource,
    *,
    edit_type: str | None = None,
    num_frames: int = CARD_NUM_SCORED_FRAMES,
    name: str | None = None,
    on_error: OnError = "error",
    report: SkipReport | None = None,
) -> pd.DataFrame:
    """Read ``edited_video_score.jsonl`` into a DataFrame, fast (no record objects are built).

    One row per sample, in file order:

    * ``sample_id``;
    * ``mean_o_score``, ``min_o_score``, ``mean_sc_score``, ``mean_pq_score`` (float64,
      equal to the :class:`VideoEditScore` properties bit for bit);
    * per scored frame ``i < num_frames``: ``frame_index_{i}`` (int64), ``sc_score_{i}``,
      ``pq_score_{i}``, ``o_score_{i}`` (float64).

    Every record must have exactly ``num_frames`` scored frames (the card's 4), so the table
    has fixed columns and no missing values. Reasoning and raw outputs are type-checked, not
    kept (use :func:`iter_video_scores` for them).
    """
    import pandas as pd

    _check_num_frames(num_frames, required=True)
    ids: list[str] = []
    flat_indices: list[int] = []
    flat_scores: list[float] = []
    table_converter = _video_table_converter(num_frames)

    def convert(obj: dict[str, object], sid: SampleId, where: RecordWhere) -> None:
        indices, scores = table_converter(obj, sid, where)
        ids.append(str(sid))
        flat_indices.extend(indices)
        flat_scores.extend(scores)

    for _ in read_rows(
        jsonl_rows(convert),
        source,
        edit_type=edit_type,
        name=name,
        on_error=on_error,
        report=report,
    ):
        pass
    n = len(ids)
    index_array = np.array(flat_indices, dtype=np.int64).reshape(n, num_frames)
    # (rows, frames, [SC, PQ, O])
    score_array = np.array(flat_scores, dtype=np.float64).reshape(n, num_frames, 3)
    sc, pq, o = score_array[:, :, 0], score_array[:, :, 1], score_array[:, :, 2]
    columns: dict[str, object] = {
        "sample_id": pd.array(ids, dtype="str"),
        "mean_o_score": _column_mean(o),
        "min_o_score": o.min(axis=1, initial=np.inf),
        "mean_sc_score": _column_mean(sc),
        "mean_pq_score": _column_mean(pq),
    }
    for i in range(num_frames):
        columns[f"frame_index_{i}"] = index_array[:, i]
        columns[f"sc_score_{i}"] = sc[:, i]
        columns[f"pq_score_{i}"] = pq[:, i]
        columns[f"o_score_{i}"] = o[:, i]
    table: pd.DataFrame = pd.DataFrame(columns)
    return table


def _column_mean(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Row means of ``(rows, frames)`` summed left to right, as :func:`_mean` does."""
    total = np.zeros(values.shape[0], dtype=np.float64)
    for i in range(values.shape[1]):
        total += values[:, i]
    mean: npt.NDArray[np.float64] = total / values.shape[1]
    return mean
