"""Qwen3-VL grounding stages: ``foreground_grounding_r1`` and ``foreground_grounding_r2``.

Both load ``transformers.Qwen3VLForConditionalGeneration`` with its tokenizer and image
processor, send a chat turn with images and our instruction, decode greedily (``generate``,
``do_sample=False``) and parse the JSON boxes (:func:`~.grounding.parse_grounding`; an
answer that does not parse fails the sample, counted, with the raw answer in the run
report). Boxes are Qwen3-VL's ``[0, 1000]`` relative coordinates, as the card stores them.

* ``foreground_grounding_r1``: (source frame 0, edited frame 0) + the sample's instruction
  -> the foreground objects the edit kept, boxed on the source frame: ``round1_labels``
  and ``round1_objects``. A label the model repeats keeps its first box (the record's labels
  must be unique to align round 2 with them).
* ``foreground_grounding_r2``: every round-1 label on each 2-FPS frame of the source video
  (frames ``0, 8, 16, ...`` at 16 fps) -> ``frame_objects``, one entry per round-1 label on
  every frame, ``bbox_2d`` empty where the model did not find it. Frames go to ``generate``
  ``batch_size`` at a time (left-padded).

The authors did not publish their grounding prompts: :data:`R1_TEMPLATE` and
:data:`R2_TEMPLATE` are ours, config values (``--config STAGE.prompt_template=...``).

Inputs are built as ``Qwen3VLProcessor`` builds them: the processor is used when it loads
(it needs torchvision for its video half); otherwise the tokenizer's chat template, the
image processor (its PIL backend needs no torchvision) and the same expansion of each
``<|image_pad|>`` into ``t*h*w / merge_size**2`` tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from sparkle_data.errors import GroundingParseError
from sparkle_data.readers.video import read_video
from sparkle_data.regen.config import check_int_setting, check_template_setting
from sparkle_data.regen.frames import anchor_frames
from sparkle_data.regen.models.common import (
    ModelConfig,
    cached_model,
    load_checked,
    load_key,
    pil_image,
    require,
    single,
    torch_dtype,
)
from sparkle_data.regen.models.grounding import ParsedObject, parse_grounding
from sparkle_data.regen.records import encode_record
from sparkle_data.regen.stage import SampleInputs

__all__ = [
    "QWEN3_VL_MODEL",
    "R1_TEMPLATE",
    "R2_TEMPLATE",
    "GroundingR1Config",
    "GroundingR2Config",
    "QwenVL",
    "frame_entry",
    "generate_answers",
    "grounding_r1_batch",
    "grounding_r2_batch",
    "load_qwen",
    "run_grounding_r1",
    "run_grounding_r2",
]

QWEN3_VL_MODEL: Final = "Qwen/Qwen3-VL-32B-Instruct"
_JSON_FORMAT: Final = (
    'Answer only with JSON: a list of {{"bbox_2d": [x1, y1, x2, y2], "label": "..."}} '
    "objects, coordinates relative to the image in [0, 1000]."
)
R1_TEMPLATE: Final = (
    "Image 1 is the first frame of a video. Image 2 is the same frame after this edit: "
    '"{prompt}". List every foreground object that the edit kept unchanged (people, animals '
    "and the things they hold or touch), not the background the edit replaced. Give each a "
    "short distinct label and its box in image 1. " + _JSON_FORMAT
)
R2_TEMPLATE: Final = (
    "Locate each of these objects in the image: {labels}. Use exactly these labels and leave "
    "out an object that is not visible. " + _JSON_FORMAT
)
# bf16 Qwen3-VL-32B: ~33B params, ~62 GiB; a 1280x720 image is ~1.2K visual tokens, so the
# KV cache of a batch of 8 short prompts adds a few GiB.
_TOTAL_GIB: Final = 66.0
_LARGEST_GIB: Final = 18.0


@dataclass(frozen=True, slots=True)
class GroundingR1Config(ModelConfig):
    """``foreground_grounding_r1`` (see the module docstring).

    ``prompt_template`` gets ``{prompt}`` (the sample's instruction); ``max_new_tokens``
    bounds the answer; ``max_pixels`` caps each image's pixels for the vision encoder (0:
    the processor's default); ``batch_size``: prompts per ``generate`` call. ``offload``
    ``"model"``/``"sequential"`` load with ``device_map="auto"`` (accelerate spreads the
    layers over the GPU and CPU memory). ``steps`` is unused.
    """

    model: str = QWEN3_VL_MODEL
    prompt_template: str = R1_TEMPLATE
    max_new_tokens: int = 1024
    max_pixels: int = 0
    batch_size: int = 8
    steps: int = 1

    def __post_init__(self) -> None:
        ModelConfig.__post_init__(self)
        check_template_setting(self)
        check_int_setting(self, "max_new_tokens", 1, 32768)
        check_int_setting(self, "max_pixels", 0, 2**31)
        check_int_setting(self, "batch_size", 1, 1024)


@dataclass(frozen=True, slots=True)
class GroundingR2Config(GroundingR1Config):
    """``foreground_grounding_r2``: ``prompt_template`` gets ``{labels}`` (the round-1
    labels, ``"; "``-joined) and may use ``{prompt}``."""

    prompt_template: str = R2_TEMPLATE


@dataclass(frozen=True)
class QwenVL:
    """A loaded Qwen3-VL: the model, its tokenizer and image processor, and the full
    processor when it loads (``None`` without torchvision)."""

    model: Any
    tokenizer: Any
    image_processor: Any
    processor: Any = None

    def __repr__(self) -> str:
        return f"QwenVL({type(self.model).__name__}, processor={self.processor is not None})"


def load_qwen(config: GroundingR1Config, *, stage: str) -> QwenVL:
    """The Qwen3-VL of ``config`` (loaded once per worker; both grounding stages share it)."""
    qwen: QwenVL = cached_model(load_key("qwen3-vl", config), lambda: _load(config, stage))
    return qwen


def _load(config: GroundingR1Config, stage: str) -> QwenVL:
    extra = {} if config.offload == "none" else {"device_map": "auto"}
    model = load_checked("transformers", "Qwen3VLForConditionalGeneration", config,
                         stage=stage, gib=(_TOTAL_GIB, _LARGEST_GIB), **extra)
    t = require("transformers", stage=stage)
    if config.offload == "none":
        model = model.to(config.device)
    model.eval()
    source = {"revision": config.revision}
    tokenizer = t.AutoTokenizer.from_pretrained(config.model, **source)
    image_processor = t.AutoImageProcessor.from_pretrained(config.model, **source)
    try:
        processor = t.AutoProcessor.from_pretrained(config.model, **source)
    except (ImportError, OSError, ValueError, TypeError, AttributeError):
        processor = None  # no torchvision (the video processor needs it), or no processor files
    if processor is not None and not hasattr(processor, "image_processor"):
        processor = None
    return QwenVL(model, tokenizer, image_processor, processor)


def _chat(images: int, text: str) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = [{"type": "image"} for _ in range(images)]
    content.append({"type": "text", "text": text})
    return [{"role": "user", "content": content}]


def _encode(qwen: QwenVL, requests: Sequence[tuple[Sequence[Any], str]],
            config: GroundingR1Config) -> Any:
    """Model inputs for a batch of ``(images, text)`` requests, left-padded."""
    templ = qwen.processor if qwen.processor is not None else qwen.tokenizer
    texts = [templ.apply_chat_template(_chat(len(imgs), text), tokenize=False,
                                       add_generation_prompt=True) for imgs, text in requests]
    images = [img for imgs, _ in requests for img in imgs]
    size = ({} if not config.max_pixels else
            {"size": {"shortest_edge": min(56 * 56, config.max_pixels),
                      "longest_edge": config.max_pixels}})
    if qwen.processor is not None:
        qwen.processor.tokenizer.padding_side = "left"
        return qwen.processor(text=texts, images=images, padding=True, return_tensors="pt",
                              **size)
    pad_id = int(qwen.model.config.image_token_id)
    pad = qwen.tokenizer.convert_ids_to_tokens(pad_id)
    vis = qwen.image_processor(images=images, return_tensors="pt", **size)
    merge = int(qwen.image_processor.merge_size) ** 2
    counts = iter(int(g.prod()) // merge for g in vis["image_grid_thw"])
    expanded = []
    for text in texts:
        pieces = text.split(pad)
        expanded.append(pieces[0] + "".join(pad * next(counts) + p for p in pieces[1:]))
    enc = qwen.tokenizer(expanded, padding=True, padding_side="left", return_tensors="pt")
    enc.update(vis)
    return enc


def generate_answers(qwen: QwenVL, requests: Sequence[tuple[Sequence[Any], str]],
                     config: GroundingR1Config) -> list[str]:
    """Greedy answers to ``(PIL images, text)`` requests, ``config.batch_size`` per call."""
    torch = require("torch", stage="grounding")
    answers: list[str] = []
    device = qwen.model.device
    for i in range(0, len(requests), config.batch_size):
        enc = _encode(qwen, requests[i : i + config.batch_size], config)
        enc = {k: v.to(device) for k, v in enc.items()}
        enc["pixel_values"] = enc["pixel_values"].to(torch_dtype(config.dtype))
        with torch.inference_mode():
            out = qwen.model.generate(**enc, max_new_tokens=config.max_new_tokens,
                                      do_sample=False, pad_token_id=qwen.tokenizer.pad_token_id)
        new = out[:, enc["input_ids"].shape[1]:]
        answers.extend(qwen.tokenizer.batch_decode(new, skip_special_tokens=True))
    return answers


def _image(inputs: SampleInputs, artifact: str) -> Any:
    return pil_image(inputs.frame(artifact), stage="grounding")


_E = TypeVar("_E")
"""What a sample's requests pass on to its record (round 2: the round-1 labels)."""


def _try(make: Callable[..., Mapping[str, bytes]], *args: Any
         ) -> Mapping[str, bytes] | BaseException:
    try:
        return make(*args)
    except Exception as e:  # one sample's failure, returned for the runner to count
        return e


def _unique(objects: Sequence[ParsedObject]) -> list[ParsedObject]:
    seen: dict[str, ParsedObject] = {}
    for o in objects:
        seen.setdefault(o.label, o)
    return list(seen.values())


def _r1_record(inputs: SampleInputs, _: None, answers: list[str]) -> Mapping[str, bytes]:
    (answer,) = answers  # one request per sample
    objects = _unique(parse_grounding(answer, sample_id=inputs.sample_id))
    if not objects:
        raise GroundingParseError("Invalid grounding answer: no foreground object found.",
                                  answer, sample_id=inputs.sample_id)
    record = {
        "id": inputs.sample_id,
        "prompt": inputs.instruction(),
        "edit_type": inputs.edit_type,
        "round1_labels": [o.label for o in objects],
        "round1_objects": [o.to_dict() for o in objects],
    }
    return {"foreground_grounding_r1": encode_record(record)}


def _r1_requests(inputs: SampleInputs, config: Any) -> tuple[None, list[Any]]:
    images = [_image(inputs, "source_frame0"), _image(inputs, "edited_frame0")]
    return None, [(images, inputs.fill(config.prompt_template))]


def grounding_r1_batch(
    batch: Sequence[SampleInputs], config: Any, model: Any
) -> list[Mapping[str, bytes] | BaseException]:
    """Stage ``foreground_grounding_r1`` on several samples: one ``generate`` per
    ``batch_size`` of them; a sample whose answer does not parse fails alone."""
    return _grounding_batch(batch, config, "foreground_grounding_r1", _r1_requests, _r1_record)


def _grounding_batch(
    batch: Sequence[SampleInputs],
    config: Any,
    stage: str,
    requests_of: Callable[[SampleInputs, Any], tuple[_E, list[Any]]],
    record_of: Callable[[SampleInputs, _E, list[str]], Mapping[str, bytes]],
) -> list[Mapping[str, bytes] | BaseException]:
    """The requests of every sample go to ``generate`` ``batch_size`` at a time; each sample's
    answers make its record. A sample whose requests or record fail fails alone."""
    qwen = load_qwen(config, stage=stage)
    out: dict[int, Mapping[str, bytes] | BaseException] = {}
    requests: list[Any] = []
    spans: list[tuple[int, _E, int, int]] = []
    for k, inputs in enumerate(batch):
        try:
            extra, reqs = requests_of(inputs, config)
        except Exception as e:  # this sample only
            out[k] = e
            continue
        spans.append((k, extra, len(requests), len(requests) + len(reqs)))
        requests.extend(reqs)
    answers = generate_answers(qwen, requests, config)
    for k, extra, lo, hi in spans:
        out[k] = _try(record_of, batch[k], extra, answers[lo:hi])
    return [out[k] for k in range(len(batch))]


def frame_entry(labels: Sequence[str], objects: Sequence[ParsedObject]) -> list[dict[str, Any]]:
    """One ``frame_objects`` entry: every round-1 label, in order, with the box the model
    gave it (matched case-insensitively) or ``[]``."""
    found: dict[str, list[int]] = {}
    for o in objects:
        found.setdefault(o.label.casefold(), list(o.bbox_2d))
    return [{"bbox_2d": found.get(label.casefold(), []), "label": label} for label in labels]


def _r2_requests(inputs: SampleInputs, config: Any) -> tuple[list[str], list[Any]]:
    """The round-1 labels and one request per 2-FPS frame of the source video."""
    labels = inputs.round1_labels()
    if not labels:
        raise ValueError(f"Invalid foreground_grounding_r1 record for sample "
                         f"{inputs.sample_id}: round1_labels is empty, nothing to locate.")
    video = read_video(inputs.need("source_video"), name="<source_video>",
                       sample_id=inputs.sample_id)
    text = config.prompt_template.format(labels="; ".join(labels),
                                         prompt=inputs.records.get("prompt", ""))
    return labels, [([pil_image(video[i], stage="foreground_grounding_r2")], text)
                    for i in anchor_frames(len(video))]


def _r2_record(inputs: SampleInputs, labels: list[str], answers: list[str]
               ) -> Mapping[str, bytes]:
    frames = [frame_entry(labels, parse_grounding(a, sample_id=inputs.sample_id))
              for a in answers]
    r1 = inputs.records["foreground_grounding_r1"]
    record = {k: r1[k] for k in ("id", "prompt", "edit_type", "round1_labels", "round1_objects")}
    record["frame_objects"] = frames
    return {"foreground_grounding_r2": encode_record(record)}


def grounding_r2_batch(
    batch: Sequence[SampleInputs], config: Any, model: Any
) -> list[Mapping[str, bytes] | BaseException]:
    """Stage ``foreground_grounding_r2`` on several samples: the 2-FPS frames of all of
    them go to ``generate`` ``batch_size`` at a time; a sample fails alone."""
    return _grounding_batch(batch, config, "foreground_grounding_r2", _r2_requests, _r2_record)


run_grounding_r1: Final = single(grounding_r1_batch)
"""Stage ``foreground_grounding_r1`` on one sample."""
run_grounding_r2: Final = single(grounding_r2_batch)
"""Stage ``foreground_grounding_r2`` on one sample."""
