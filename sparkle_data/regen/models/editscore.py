"""EditScore stages: the three score record files, through the ``editscore`` package.

* ``edited_frame0_score``: ``EditScore.evaluate([source frame 0, edited frame 0], prompt)``;
* ``edited_frame0_foreground_removed_score``: ``evaluate([edited frame 0, foreground-removed
  frame 0], removal instruction)`` (our removal prompt, as the FLUX removal stage sends it);
* ``edited_video_score``: the 4 non-first frames of :func:`~sparkle_data.regen.frames.
  video_score_frames` (``[1, 26, 51, 76]`` for 81 frames), each pair (source frame, edited
  frame) scored: ``batch_evaluate`` on the vLLM backends (``*_vllm``: the card's
  ``SC_score`` / ``PQ_score`` / ``O_score`` with raw outputs), else ``evaluate`` per frame
  (``SC_score = min(prompt_following, consistency)`` as EditScore computes it,
  ``O_score = overall``; the HF backends return no raw output, recorded as ``""``).

The scorer is ``editscore.EditScore(backbone=..., model_name_or_path=..., lora_path=...,
score_range=25, num_pass=4, temperature=..., seed=...)``: ``score_range=25, num_pass=4`` are
the settings that reproduce the card's example numbers; the backbone and LoRA are ours
(``EditScore/EditScore-7B`` on ``Qwen/Qwen2.5-VL-7B-Instruct``; the authors did not say
which they used). Every field is recorded in the run manifest. The package is in its own
extra, ``pip install "sparkle-data[regen-editscore]"``: it requires ``torchvision`` without
a bound, which replaces a CPU ``torch`` when resolved next to it (``docs/regen.md``). Its HF
backends run on CUDA only.

Checked, never trusted: a result whose reasoning starts with ``guess_if_cannot_parse``
(EditScore's random guess after two unparseable answers), a raw output without a
``"score"`` list (``batch_evaluate`` then silently uses ``score_range / 2``), and scores
outside ``[0, 10]`` raise :class:`EditScoreParseError` with the raw text, so the sample is
counted as failed and the run report keeps what the model said.

Other scorers plug in with :func:`register_scorer` (an object with the same ``evaluate`` /
``batch_evaluate`` methods), under a backbone name of their own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from sparkle_data.errors import EditScoreParseError
from sparkle_data.readers.video import read_video
from sparkle_data.regen.config import (
    check_int_setting,
    check_number_setting,
    check_template_setting,
    invalid_setting,
)
from sparkle_data.regen.frames import video_score_frames
from sparkle_data.regen.models.common import (
    ModelConfig,
    cached_model,
    load_key,
    pil_image,
    require,
)
from sparkle_data.regen.models.flux import REMOVE_TEMPLATE, removal_labels
from sparkle_data.regen.records import encode_record
from sparkle_data.regen.stage import SampleInputs

__all__ = [
    "EDITSCORE_BACKBONES",
    "EDITSCORE_EXTRA",
    "EDITSCORE_LORA",
    "EDITSCORE_MODEL",
    "EditScoreConfig",
    "EditScoreRemovalConfig",
    "Scorer",
    "frame_scores",
    "image_scores",
    "load_editscore",
    "raw_scores",
    "register_scorer",
    "run_frame0_score",
    "run_removed_score",
    "run_video_score",
]

EDITSCORE_MODEL: Final = "Qwen/Qwen2.5-VL-7B-Instruct"
EDITSCORE_LORA: Final = "EditScore/EditScore-7B"
EDITSCORE_BACKBONES: Final = ("qwen25vl", "qwen25vl_vllm", "qwen3vl", "qwen3vl_vllm", "openai")
EDITSCORE_EXTRA: Final = 'pip install "sparkle-data[regen-editscore]"'
_GUESS: Final = "guess_if_cannot_parse"
_SCORE: Final = re.compile(r'"score"\s*:\s*\[([^\]]*)\]')


class Scorer(Protocol):
    """What a stage calls (``editscore.EditScore`` has both methods)."""

    def evaluate(self, image_prompts: list[Any], text_prompt: str) -> Mapping[str, Any]: ...

    def batch_evaluate(
        self, image_prompts: list[list[Any]], text_prompt: list[str]
    ) -> list[Mapping[str, Any]]: ...


_FACTORIES: dict[str, Callable[[EditScoreConfig], Scorer]] = {}


def register_scorer(backbone: str, factory: Callable[[EditScoreConfig], Scorer]) -> None:
    """Make ``backbone`` build its scorer with ``factory(config)`` (another scorer, or a
    test double); a name ending in ``_vllm`` scores videos with ``batch_evaluate``."""
    if backbone in EDITSCORE_BACKBONES:
        raise ValueError(f"Invalid backbone {backbone!r}: EditScore's own, cannot be replaced.")
    _FACTORIES[backbone] = factory


@dataclass(frozen=True, slots=True)
class EditScoreConfig(ModelConfig):
    """An EditScore stage (see the module docstring).

    ``model``: the base VLM; ``lora_model``: the EditScore LoRA (``lora_revision``);
    ``backbone``: EditScore's backbone name; ``score_range``, ``num_pass``,
    ``temperature``, ``reduction``, ``seed``: EditScore's settings; ``prompt_template``:
    the instruction scored (``{prompt}``: the sample's). ``backbone="openai"`` asks an
    OpenAI-compatible server (e.g. vLLM serving the EditScore LoRA) at ``openai_url``, with
    the API key read from ``key_file``; ``model`` is then the served model's name.
    ``dtype``, ``offload`` and ``steps`` are unused (EditScore chooses them itself).
    """

    model: str = EDITSCORE_MODEL
    lora_model: str = EDITSCORE_LORA
    lora_revision: str | None = None
    backbone: str = "qwen25vl"
    score_range: int = 25
    num_pass: int = 4
    temperature: float = 0.7
    reduction: str = "average_last"
    seed: int = 42
    prompt_template: str = "{prompt}"
    openai_url: str = ""
    key_file: str = ""
    steps: int = 1

    def __post_init__(self) -> None:
        ModelConfig.__post_init__(self)
        if self.backbone not in EDITSCORE_BACKBONES and self.backbone not in _FACTORIES:
            raise invalid_setting(
                self, "backbone", f"must be one of {EDITSCORE_BACKBONES} or a registered scorer"
            )
        check_int_setting(self, "score_range", 1, 1000)
        check_int_setting(self, "num_pass", 1, 64)
        check_number_setting(self, "temperature", 0, 5)
        if self.reduction not in ("average_last", "average_first"):
            raise invalid_setting(self, "reduction", "must be 'average_last' or 'average_first'")
        check_template_setting(self)
        if self.backbone == "openai" and not (self.openai_url and self.key_file):
            raise invalid_setting(self, "backbone", "needs openai_url and key_file")


@dataclass(frozen=True, slots=True)
class EditScoreRemovalConfig(EditScoreConfig):
    """``edited_frame0_foreground_removed_score``: ``prompt_template`` gets ``{labels}``
    (the round-1 labels) and ``{prompt}``, as the FLUX removal stage's."""

    prompt_template: str = REMOVE_TEMPLATE


def _editscore(config: EditScoreConfig) -> Scorer:
    mod = require("editscore", stage="editscore", extra=EDITSCORE_EXTRA)
    server = ({"openai_url": config.openai_url, "key": config.key_file}
              if config.backbone == "openai" else {"lora_path": config.lora_model})
    scorer: Scorer = mod.EditScore(
        backbone=config.backbone,
        model_name_or_path=config.model,
        **server,
        score_range=config.score_range,
        num_pass=config.num_pass,
        temperature=config.temperature,
        reduction=config.reduction,
        seed=config.seed,
    )
    return scorer


def load_editscore(config: EditScoreConfig) -> Scorer:
    """The scorer of ``config`` (built once per worker; the three stages share it)."""
    factory = _FACTORIES.get(config.backbone, _editscore)
    key = load_key("editscore", config, config.backbone, config.lora_model, config.score_range,
                   config.num_pass, config.temperature, config.reduction, config.seed)
    scorer: Scorer = cached_model(key, lambda: factory(config))
    return scorer


def _score(value: Any, what: str, raw: str, sample_id: str) -> float:
    try:
        v = float(value)  # EditScore returns numpy floats
    except (TypeError, ValueError):
        v = math.nan
    if not 0.0 <= v <= 10.0:
        raise EditScoreParseError(f"Invalid EditScore {what} {value!r}: must be a number in "
                                  "[0, 10].", raw, sample_id=sample_id)
    return v


def _text(value: Any, what: str, raw: str, sample_id: str) -> str:
    if not isinstance(value, str):
        raise EditScoreParseError(f"Invalid EditScore {what} {value!r}: must be text.", raw,
                                  sample_id=sample_id)
    if value.startswith(_GUESS):
        raise EditScoreParseError("Invalid EditScore answer: unparseable twice, EditScore "
                                  "guessed a random score.",
                                  value.partition("|")[2].strip() or value, sample_id=sample_id)
    return value


def image_scores(result: Mapping[str, Any], *, sample_id: str) -> dict[str, Any]:
    """The card's ``editscore`` object of an image record from ``EditScore.evaluate``."""
    raw = repr(dict(result))
    out: dict[str, Any] = {
        k: _score(result.get(k), k, raw, sample_id)
        for k in ("prompt_following", "consistency", "perceptual_quality", "overall")
    }
    for k in ("SC_reasoning", "PQ_reasoning"):
        out[k] = _text(result.get(k), k, raw, sample_id)
    return out


def raw_scores(text: str) -> list[float] | None:
    """The ``"score"`` list of an EditScore head's raw answer, ``None`` when it has none."""
    found = _SCORE.findall(text) if isinstance(text, str) else []
    if not found:
        return None
    try:
        values = [float(x) for x in found[-1].split(",") if x.strip()]
    except ValueError:
        return None
    return values or None


def frame_scores(
    result: Mapping[str, Any], *, sample_id: str, score_range: int
) -> dict[str, Any]:
    """One ``editscore[i]`` entry of ``edited_video_score`` from ``batch_evaluate``."""
    out: dict[str, Any] = {}
    for head in ("SC", "PQ"):
        raw = result.get(f"{head}_raw_output")
        text = _text(raw, f"{head}_raw_output", repr(raw), sample_id)
        values = raw_scores(text)
        if values is None or not all(0 <= v <= score_range for v in values):
            raise EditScoreParseError(
                f"Invalid EditScore {head} answer: no \"score\" list in [0, {score_range}] "
                "(batch_evaluate would have used score_range / 2).", text, sample_id=sample_id)
    raw_all = repr(dict(result))
    for k in ("SC_score", "PQ_score", "O_score"):
        out[k] = _score(result.get(k), k, raw_all, sample_id)
    for k in ("SC_score_reasoning", "PQ_score_reasoning", "SC_raw_output", "PQ_raw_output"):
        out[k] = _text(result.get(k), k, raw_all, sample_id)
    return out


def _frame_from_image(result: Mapping[str, Any], sample_id: str) -> dict[str, Any]:
    s = image_scores(result, sample_id=sample_id)
    return {
        "SC_score": min(s["prompt_following"], s["consistency"]),
        "PQ_score": s["perceptual_quality"],
        "O_score": s["overall"],
        "SC_score_reasoning": s["SC_reasoning"],
        "PQ_score_reasoning": s["PQ_reasoning"],
        "SC_raw_output": "",
        "PQ_raw_output": "",
    }


def _png(inputs: SampleInputs, artifact: str, stage: str) -> Any:
    return pil_image(inputs.frame(artifact), stage=stage)


def _image_record(inputs: SampleInputs, config: EditScoreConfig, stage: str,
                  pair: tuple[str, str], instruction: str) -> Mapping[str, bytes]:
    scorer = load_editscore(config)
    images = [_png(inputs, pair[0], stage), _png(inputs, pair[1], stage)]
    result = scorer.evaluate(images, instruction)
    record = {"id": inputs.sample_id, "prompt": instruction,
              "editscore": image_scores(result, sample_id=inputs.sample_id)}
    return {stage: encode_record(record)}


def run_frame0_score(inputs: SampleInputs, config: Any, model: Any) -> Mapping[str, bytes]:
    """Stage ``edited_frame0_score``."""
    text = inputs.fill(config.prompt_template)
    return _image_record(inputs, config, "edited_frame0_score",
                         ("source_frame0", "edited_frame0"), text)


def run_removed_score(inputs: SampleInputs, config: Any, model: Any) -> Mapping[str, bytes]:
    """Stage ``edited_frame0_foreground_removed_score``."""
    labels = inputs.round1_labels()
    text = inputs.fill(config.prompt_template, labels=removal_labels(labels))
    return _image_record(inputs, config, "edited_frame0_foreground_removed_score",
                         ("edited_frame0", "edited_frame0_foreground_removed"), text)


def run_video_score(inputs: SampleInputs, config: Any, model: Any) -> Mapping[str, bytes]:
    """Stage ``edited_video_score``: 4 frames of (source video, edited video)."""
    stage = "edited_video_score"
    scorer = load_editscore(config)
    prompt = inputs.fill(config.prompt_template)
    sid = inputs.sample_id
    src = read_video(inputs.need("source_video"), name="<source_video>", sample_id=sid)
    edited = read_video(inputs.need("edited_video"), name="<edited_video>", sample_id=sid)
    if src.shape != edited.shape:
        raise ValueError(f"Invalid edited_video shape {edited.shape} for sample {sid}: the "
                         f"source video is {src.shape}.")
    indices = video_score_frames(len(edited))
    pairs = [[pil_image(src[i], stage=stage), pil_image(edited[i], stage=stage)]
             for i in indices]
    entries: Sequence[dict[str, Any]]
    if config.backbone.endswith("_vllm"):
        results = scorer.batch_evaluate(pairs, [prompt] * len(pairs))
        entries = [frame_scores(r, sample_id=sid, score_range=config.score_range)
                   for r in results]
    else:
        entries = [_frame_from_image(scorer.evaluate(p, prompt), sid) for p in pairs]
    if len(entries) != len(indices):
        raise EditScoreParseError(f"Invalid EditScore batch: {len(entries)} results for "
                                  f"{len(indices)} frames.", repr(entries), sample_id=sid)
    record = {"id": sid, "prompt": prompt, "frame_indices": indices, "editscore": list(entries)}
    return {stage: encode_record(record)}
