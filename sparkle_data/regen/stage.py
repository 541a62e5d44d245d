"""The stage interface: what a stage reads, writes, needs and does.

A :class:`Stage` declares its input artifacts and records, its output artifacts, a default
configuration (a frozen :class:`~.config.StageConfig`), the device it runs on, and ``run``:
a pure function of a :class:`SampleInputs`, the config and (for model stages) the model
``load_model`` built once per worker (one per process in the local runner, one per actor in
the Ray runner). ``run`` returns the bytes of each output in the card's format; the runners
validate and write them. A stage whose ``run`` is ``None`` is declared for planning (its
model arrives in a later release) and is reported, never run. A *record stage* makes one
line of a record file instead of artifacts (:mod:`.records` writes and merges them).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from sparkle_data.layout import ARTIFACTS, RECORD_FILES, ArtifactName
from sparkle_data.readers.image import read_png
from sparkle_data.regen.config import StageConfig

__all__ = ["BatchFn", "Device", "SampleInputs", "Stage", "StageFn"]

Device = Literal["cpu", "gpu"]


@dataclass(frozen=True)
class SampleInputs:
    """Everything a stage may read for one sample: artifact bytes and record values."""

    sample_id: str
    edit_type: str
    artifacts: Mapping[str, bytes]
    """Bytes of each declared input artifact (and of outputs of earlier stages)."""
    records: Mapping[str, Any] = field(default_factory=dict)
    """Parsed record lines and ``prompt`` (the CSV instruction), by name, when known."""

    def __repr__(self) -> str:
        sizes = {k: len(v) for k, v in self.artifacts.items()}
        records = sorted(self.records)
        return f"SampleInputs({self.sample_id!r}, artifacts={sizes}, records={records})"

    def need(self, artifact: str) -> bytes:
        try:
            return self.artifacts[artifact]
        except KeyError:
            raise KeyError(
                f"Invalid stage input {artifact!r} for sample {self.sample_id}: not provided "
                f"(have {sorted(self.artifacts)})."
            ) from None

    def frame(self, artifact: str) -> npt.NDArray[np.uint8]:
        """The ``(H, W, 3)`` uint8 pixels of a PNG input."""
        data: npt.NDArray[np.uint8] = read_png(
            self.need(artifact), name=f"<{artifact}>", sample_id=self.sample_id
        )
        return data

    def instruction(self) -> str:
        """The sample's edit instruction (the CSV ``prompt``); a stage that needs it fails
        the sample without it."""
        prompt = self.records.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(
                f"Invalid prompt {prompt!r} for sample {self.sample_id}: the stage needs the "
                "sample's instruction (prompts/{edit_type}_train.csv)."
            )
        return prompt

    def fill(self, template: str, **values: str) -> str:
        """``template`` with ``{prompt}`` the instruction (required only when the template
        uses it) and the other ``values``."""
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        prompt = self.instruction() if "prompt" in fields else ""
        return template.format(prompt=prompt, **values)

    def round1_labels(self) -> list[str]:
        """The ``round1_labels`` of the sample's ``foreground_grounding_r1`` line."""
        r1 = self.records.get("foreground_grounding_r1")
        labels = r1.get("round1_labels") if isinstance(r1, Mapping) else None
        if not isinstance(labels, list):
            raise ValueError(
                f"Invalid foreground_grounding_r1 record {r1!r} for sample {self.sample_id}: "
                "needs a round1_labels list."
            )
        return [str(x) for x in labels]


StageFn = Callable[[SampleInputs, Any, Any], Mapping[str, bytes]]
"""``run(inputs, config, model) -> {artifact: bytes}``; ``model`` is ``None`` for CPU stages."""

BatchFn = Callable[
    [Sequence[SampleInputs], Any, Any], Sequence[Mapping[str, bytes] | BaseException]
]
"""``run_batch(inputs, config, model)``: one entry per sample, its outputs or the exception
that failed it alone (the others still count)."""


@dataclass(frozen=True)
class Stage:
    """A named unit of the pipeline (see the module docstring)."""

    name: str
    outputs: tuple[str, ...]
    """Artifacts it makes, or the one record file it writes a line of (a *record stage*:
    ``run`` returns ``{record: line bytes}``, see :mod:`.records`)."""
    inputs: tuple[ArtifactName, ...]
    config: StageConfig
    device: Device = "cpu"
    records: tuple[str, ...] = ()
    run: StageFn | None = None
    run_batch: BatchFn | None = None
    """Several samples per model call (the config's ``batch_size`` of them), when the model
    batches; the runners then run a stage over many samples before the next stage."""
    load_model: Callable[[Any], Any] | None = None
    models: tuple[str, ...] = ()
    """Model ids (``org/name``) the stage loads; recorded in the manifest."""
    gpu_memory_gib: float = 0.0
    """Peak GPU memory per worker, estimated (bf16 weights, batch 1)."""
    seconds_per_sample: float = 0.0
    estimate_note: str = "estimate"
    """Where ``seconds_per_sample`` comes from (``measured ...`` or ``estimate``)."""
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"Invalid stage name {self.name!r}: must be an identifier.")
        if not self.outputs:
            raise ValueError(f"Invalid stage {self.name!r}: declares no outputs.")
        if set(self.outputs) & set(self.inputs):
            raise ValueError(f"Invalid stage {self.name!r}: an output is also an input.")
        if self.device not in ("cpu", "gpu"):
            raise ValueError(f"Invalid stage device {self.device!r}: must be 'cpu' or 'gpu'.")
        if not isinstance(self.config, StageConfig):
            raise ValueError(f"Invalid stage {self.name!r}: config must be a StageConfig.")
        made = [o for o in self.outputs if o in RECORD_FILES]
        if made and len(self.outputs) != 1:
            raise ValueError(f"Invalid stage {self.name!r}: a record stage writes one record.")
        bad = [o for o in self.outputs if o not in RECORD_FILES and o not in ARTIFACTS]
        if bad:
            raise ValueError(f"Invalid stage {self.name!r}: {bad[0]!r} is no artifact or record.")

    @property
    def record(self) -> str | None:
        """The record file a record stage writes (``None`` for an artifact stage)."""
        return self.outputs[0] if self.outputs[0] in RECORD_FILES else None

    @property
    def available(self) -> bool:
        """Whether this version can run the stage (model stages come in a later release)."""
        return self.run is not None
