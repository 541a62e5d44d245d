"""The rater client: ask an OpenAI-compatible chat-completions endpoint to score each edited
video against its source, append every valid answer to the theme's score file as it arrives.

Request (as upstream): one user message whose content is the filled rubric text, then the
source and the edited video as ``image_url`` parts holding ``data:video/mp4;base64,...``;
``temperature=0``, ``seed=42``. The answer is parsed with
:func:`~sparkle_data.sparkle_bench.rubric.parse_answer`.

Unlike upstream:

* transport failures (429, 5xx, 408/409, timeouts, dropped connections) are retried with
  exponential backoff and jitter (honouring ``Retry-After``), on a budget separate from
  invalid answers, which are asked again up to ``max_invalid`` times;
* 401/403/404 stop the whole run (:class:`~sparkle_data.sparkle_bench.errors.RaterError`):
  a wrong key, model or endpoint would fail every item;
* each valid answer is appended at once (:class:`~.scorefile.ScoreWriter`), so a crash loses
  at most the answers in flight; a rerun skips every rated id;
* items that stay unrated are reported (and written to ``{theme}_{rater}_sparkle_unrated.json``
  with the expected ids, which ``sparkle-bench scores`` reads).
"""

from __future__ import annotations

import base64
import json
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparkle_data.io import fs as sfs
from sparkle_data.io.atomic import atomic_write_text
from sparkle_data.sparkle_bench.errors import RaterError
from sparkle_data.sparkle_bench.items import BenchItem
from sparkle_data.sparkle_bench.outputs import output_path, score_file_name, status_file_name
from sparkle_data.sparkle_bench.rubric import fill_rubric, parse_answer
from sparkle_data.sparkle_bench.scorefile import ScoreRecord, ScoreWriter, read_score_file

if TYPE_CHECKING:
    import openai

__all__ = [
    "ItemOutcome",
    "RateReport",
    "RaterConfig",
    "build_messages",
    "format_rate_report",
    "make_client",
    "rate_item",
    "rate_items",
]


@dataclass(frozen=True, slots=True)
class RaterConfig:
    """How to ask the rater. Defaults are upstream's (``temperature=0``, ``seed=42``,
    60 s timeout, 20 asks per item)."""

    model: str
    temperature: float = 0.0
    seed: int | None = 42
    timeout: float = 60.0
    max_invalid: int = 20
    """Asks per item that may end in an invalid answer before the item is given up."""
    max_retries: int = 8
    """Transport failures (429, 5xx, timeouts, dropped connections) per item before giving up."""
    backoff: float = 2.0
    """First backoff in seconds; doubles per failure, with jitter, up to ``max_backoff``."""
    max_backoff: float = 60.0
    concurrency: int = 8

    def __post_init__(self) -> None:
        for name in ("max_invalid", "concurrency"):
            if getattr(self, name) < 1:
                raise ValueError(f"Invalid {name} {getattr(self, name)!r}: must be >= 1.")
        for name in ("max_retries", "backoff", "max_backoff", "timeout"):
            if getattr(self, name) < 0:
                raise ValueError(f"Invalid {name} {getattr(self, name)!r}: must be >= 0.")


def make_client(endpoint: str, api_key: str, *, timeout: float = 60.0) -> openai.OpenAI:
    """An ``openai.OpenAI`` client for ``endpoint`` with the library's own retries off (this
    module retries, so that every failure is counted once)."""
    import openai

    return openai.OpenAI(base_url=endpoint, api_key=api_key, max_retries=0, timeout=timeout)


def _data_url(data: bytes) -> str:
    return "data:video/mp4;base64," + base64.b64encode(data).decode("ascii")


def build_messages(text: str, source: bytes, edited: bytes) -> list[dict[str, Any]]:
    """Upstream's message: the filled rubric, then the source and the edited video."""
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": _data_url(source)}},
                {"type": "image_url", "image_url": {"url": _data_url(edited)}},
            ],
        }
    ]


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """What happened to one item: a record, or the reason it stayed unrated."""

    item: BenchItem
    record: ScoreRecord | None
    reason: str = ""
    asks: int = 0
    invalid: int = 0
    transport_errors: int = 0


def _retry_after(error: BaseException) -> float | None:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    value = headers.get("retry-after")
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None


def _classify(error: BaseException) -> str:
    """``"retry"``, ``"fatal"`` (stop the run) or ``"item"`` (give this item up)."""
    import openai

    if isinstance(error, (openai.APITimeoutError, openai.APIConnectionError)):
        return "retry"
    if isinstance(error, openai.APIStatusError):
        code = error.status_code
        if code in (408, 409, 429) or code >= 500:
            return "retry"
        if code in (401, 403, 404):
            return "fatal"
        return "item"
    if isinstance(error, openai.APIError):  # e.g. an unparsable body: treat as transient
        return "retry"
    return "item"


def rate_item(
    client: openai.OpenAI,
    config: RaterConfig,
    rubric: str,
    item: BenchItem,
    edited: Path,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> ItemOutcome:
    """Rate one item (source and edited video read once, then asked until a valid answer)."""
    import openai

    with sfs.open_binary(item.source_video) as f:
        source_bytes = f.read()
    messages: Any = build_messages(
        fill_rubric(rubric, item.prompt), source_bytes, edited.read_bytes()
    )
    asks = invalid = transport = 0
    kwargs: dict[str, Any] = {"temperature": config.temperature, "timeout": config.timeout}
    if config.seed is not None:
        kwargs["seed"] = config.seed
    while True:
        asks += 1
        try:
            response = client.chat.completions.create(
                model=config.model, messages=messages, **kwargs
            )
            choices = response.choices or []
            content = choices[0].message.content if choices else None
        except (openai.OpenAIError, ValueError) as e:
            # ValueError: a 200 whose body is not JSON (a proxy's error page): transient
            kind = "retry" if isinstance(e, ValueError) else _classify(e)
            if kind == "fatal":
                raise RaterError(
                    f"The rater endpoint refused the request for {item.sample_id} "
                    f"({type(e).__name__}: {e}). Check --endpoint, --model and the API key.",
                    sample_id=item.sample_id,
                ) from e
            if kind == "item":
                return ItemOutcome(
                    item, None, f"rejected: {type(e).__name__}: {e}"[:300], asks, invalid,
                    transport,
                )
            transport += 1
            if transport > config.max_retries:
                return ItemOutcome(
                    item, None, f"transport: {type(e).__name__}: {e}"[:300], asks, invalid,
                    transport,
                )
            delay = min(config.max_backoff, config.backoff * 2 ** (transport - 1))
            delay *= random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not crypto
            hinted = _retry_after(e)
            if hinted is not None:
                delay = max(delay, min(hinted, config.max_backoff))
            sleep(delay)
            continue
        text = content if isinstance(content, str) else ""
        scores = parse_answer(text)
        if scores is not None:
            record = ScoreRecord(
                item.sample_id, item.prompt, item.theme, item.subtheme, item.scene, scores,
                text.strip(),
            )
            return ItemOutcome(item, record, "", asks, invalid, transport)
        invalid += 1
        if invalid >= config.max_invalid:
            return ItemOutcome(
                item, None, f"invalid: {invalid} invalid answers", asks, invalid, transport
            )


@dataclass
class RateReport:
    """Counts of a rate run and the items that stayed unrated (``{id: reason}``)."""

    expected: dict[str, int] = field(default_factory=dict)
    already: dict[str, int] = field(default_factory=dict)
    rated: dict[str, int] = field(default_factory=dict)
    unrated: dict[str, dict[str, str]] = field(default_factory=dict)
    score_files: dict[str, str] = field(default_factory=dict)
    asks: int = 0
    invalid_answers: int = 0
    transport_errors: int = 0
    dropped_torn_bytes: int = 0

    @property
    def complete(self) -> bool:
        return not any(self.unrated.values())

    def to_dict(self) -> dict[str, object]:
        return {
            "expected": self.expected, "already": self.already, "rated": self.rated,
            "unrated": self.unrated, "score_files": self.score_files, "asks": self.asks,
            "invalid_answers": self.invalid_answers, "transport_errors": self.transport_errors,
            "dropped_torn_bytes": self.dropped_torn_bytes, "complete": self.complete,
        }


def _write_status(
    outdir: Path, theme: str, tag: str, items: Sequence[BenchItem], unrated: dict[str, str]
) -> None:
    doc = {
        "theme": theme,
        "rater": tag,
        "expected": [it.sample_id for it in items],
        "unrated": unrated,
    }
    atomic_write_text(outdir / status_file_name(theme, tag), json.dumps(doc, indent=1) + "\n")


def rate_items(
    items: Sequence[BenchItem],
    outdir: str | os.PathLike[str],
    *,
    client: openai.OpenAI,
    rubric: str,
    config: RaterConfig,
    tag: str | None = None,
    progress: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> RateReport:
    """Rate every item of ``items`` whose id is not yet in its theme's score file.

    Score files are ``{outdir}/{theme}_{tag}_sparkle_score.jsonl`` (``tag`` defaults to the
    rater model). Items whose edited video is missing are reported (reason
    ``missing_output``) without asking the rater. Returns a :class:`RateReport`; a
    :class:`~sparkle_data.sparkle_bench.errors.RaterError` (401/403/404) stops the run after
    the answers in flight are written.
    """
    out = Path(outdir)
    tag = tag or config.model
    report = RateReport()
    themes: dict[str, list[BenchItem]] = {}
    for it in items:
        themes.setdefault(it.theme, []).append(it)
    writers: dict[str, ScoreWriter] = {}
    todo: list[tuple[BenchItem, Path]] = []
    try:
        for theme, its in themes.items():
            path = out / score_file_name(theme, tag)
            writer = ScoreWriter(path)
            writers[theme] = writer
            report.dropped_torn_bytes += writer.dropped_bytes
            done = read_score_file(path).ids()
            report.score_files[theme] = str(path)
            report.expected[theme] = len(its)
            report.already[theme] = sum(it.sample_id in done for it in its)
            report.rated[theme] = 0
            report.unrated[theme] = {}
            for it in its:
                if it.sample_id in done:
                    continue
                edited = output_path(out, it)
                if not edited.is_file():
                    report.unrated[theme][it.sample_id] = "missing_output"
                else:
                    todo.append((it, edited))
        _run(todo, writers, report, client, rubric, config, progress, sleep)
    finally:
        for w in writers.values():
            w.close()
        for theme, its in themes.items():
            if theme in report.unrated:
                _write_status(out, theme, tag, its, report.unrated[theme])
    return report


def _run(
    todo: list[tuple[BenchItem, Path]],
    writers: dict[str, ScoreWriter],
    report: RateReport,
    client: openai.OpenAI,
    rubric: str,
    config: RaterConfig,
    progress: bool,
    sleep: Callable[[float], None],
) -> None:
    if not todo:
        return
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="rate", unit="video", disable=None)
    lock = threading.Lock()
    pending: dict[Future[ItemOutcome], BenchItem] = {}
    queue = list(reversed(todo))
    fatal: BaseException | None = None
    with ThreadPoolExecutor(max_workers=config.concurrency) as pool:
        try:
            while queue or pending:
                while queue and len(pending) < config.concurrency and fatal is None:
                    it, edited = queue.pop()
                    fut = pool.submit(rate_item, client, config, rubric, it, edited, sleep=sleep)
                    pending[fut] = it
                if not pending:
                    break
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    it = pending.pop(fut)
                    try:
                        outcome = fut.result()
                    except RaterError as e:
                        fatal = fatal or e
                        report.unrated[it.theme][it.sample_id] = f"stopped: {e}"[:300]
                        continue
                    except (OSError, ValueError) as e:
                        report.unrated[it.theme][it.sample_id] = f"error: {e}"[:300]
                        continue
                    with lock:
                        report.asks += outcome.asks
                        report.invalid_answers += outcome.invalid
                        report.transport_errors += outcome.transport_errors
                    if outcome.record is not None:
                        writers[it.theme].append(outcome.record)
                        report.rated[it.theme] += 1
                    else:
                        report.unrated[it.theme][it.sample_id] = outcome.reason
                    if bar is not None:
                        bar.update(1)
            if fatal is not None:
                for it, _ in queue:
                    report.unrated[it.theme][it.sample_id] = "not_asked: run stopped"
                raise fatal
        finally:
            if bar is not None:
                bar.close()


def format_rate_report(report: RateReport, *, limit: int = 10) -> str:
    lines = [f"{'theme':<10} {'expected':>8} {'already':>8} {'rated':>6} {'unrated':>8}"]
    for theme, n in report.expected.items():
        lines.append(
            f"{theme:<10} {n:>8} {report.already.get(theme, 0):>8} "
            f"{report.rated.get(theme, 0):>6} {len(report.unrated.get(theme, {})):>8}"
        )
    lines.append(
        f"asks: {report.asks}, invalid answers: {report.invalid_answers}, "
        f"transport errors: {report.transport_errors}"
    )
    if report.dropped_torn_bytes:
        lines.append(f"dropped a torn last line ({report.dropped_torn_bytes} bytes) before resume")
    for theme, unrated in report.unrated.items():
        for i, (sid, reason) in enumerate(sorted(unrated.items())):
            if i == limit:
                lines.append(f"  {theme}: ... and {len(unrated) - limit} more")
                break
            lines.append(f"  unrated {sid}: {reason}")
    return "\n".join(lines)
