"""Everything about the samples of one edit type that costs no pixels: the funnel, each
candidate's text and scene. Content never depends on options such as shard size or previews."""

from __future__ import annotations

from dataclasses import dataclass

from sparkle_data.layout import EditType, parse_edit_type, parse_sample_id
from sparkle_data.testing.synth.funnel import Candidate, plan_funnel
from sparkle_data.testing.synth.preset import Preset
from sparkle_data.testing.synth.rng import make_rng
from sparkle_data.testing.synth.scene import SceneSpec, draw_frame_count, make_scene_spec
from sparkle_data.testing.synth.text import SampleText, make_sample_text

__all__ = ["EditTypePlan", "SamplePlan", "make_edit_type_plan"]


@dataclass(frozen=True, slots=True)
class SamplePlan:
    """A candidate that reached at least the first score (gaps have no plan)."""

    candidate: Candidate
    text: SampleText
    scene: SceneSpec

    @property
    def sample_id(self) -> str:
        return self.candidate.sample_id

    @property
    def edit_type(self) -> EditType:
        return parse_sample_id(self.candidate.sample_id).edit_type


@dataclass(frozen=True, slots=True)
class EditTypePlan:
    edit_type: EditType
    seed: int
    candidates: tuple[Candidate, ...]
    samples: tuple[SamplePlan, ...]
    """Every scored candidate, ascending ids."""

    @property
    def corpus(self) -> tuple[SamplePlan, ...]:
        return tuple(s for s in self.samples if s.candidate.in_corpus)


def make_edit_type_plan(edit_type: str, samples: int, preset: Preset, seed: int) -> EditTypePlan:
    """Plan one edit type: candidate 0 gets a quoted prompt, the second corpus sample a frame
    count that is not ``4k + 1``."""
    et = parse_edit_type(edit_type)
    candidates = plan_funnel(et, samples, make_rng(seed, et, -1, "funnel"))
    plans: list[SamplePlan] = []
    corpus_pos = 0
    for c in candidates:
        if c.gap:
            continue
        text = make_sample_text(
            make_rng(seed, et, c.index, "text"), et, quoted=True if c.index == 0 else None
        )
        scene_rng = make_rng(seed, et, c.index, "scene")
        n_frames = draw_frame_count(scene_rng, irregular=c.in_corpus and corpus_pos == 1)
        scene = make_scene_spec(scene_rng, preset.width, preset.height, n_frames)
        plans.append(SamplePlan(c, text, scene))
        corpus_pos += c.in_corpus
    return EditTypePlan(et, seed, candidates, tuple(plans))
