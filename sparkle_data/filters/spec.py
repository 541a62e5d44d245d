"""Subset specs: a filter plus everything needed to rebuild exactly the same subset.

A :class:`SubsetSpec` records where the data came from (root, Hub repo and revision), the
population, the filter (as a dict), the seed and per-edit-type limit, the counts per edit type
and a sha256 of the selected ids, and the sparkle-data version. It is saved as YAML or JSON::

    spec = SubsetSpec.create(catalog, PAPER & field("subtheme").isin(["urban"]), name="urban")
    spec.save("urban.subset.yaml")
    ids = SubsetSpec.load("urban.subset.yaml").select(catalog)   # same ids, or an error

Selection is deterministic: population rows, filter, then (with ``limit_per_theme``) the ``k``
ids of each edit type with the smallest ``sha256(f"{seed}:{sample_id}")``, returned sorted.
This sampling does not depend on numpy's generators, on the row order, or on the other ids
(adding ids to a catalog never changes which of the old ones a seed picks, unless a new id
ranks among the first ``k``).

``created`` is informational: it is not part of equality or of :attr:`SubsetSpec.fingerprint`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sparkle_data._version import __version__
from sparkle_data.filters._errors import FilterError, SubsetMismatchError
from sparkle_data.filters.expr import Filter
from sparkle_data.filters.field import table_of
from sparkle_data.filters.funnel import POPULATIONS, Population, population_mask
from sparkle_data.filters.parse import filter_from_dict
from sparkle_data.io.atomic import atomic_write_text
from sparkle_data.layout import parse_sample_id

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SPEC_FORMAT",
    "SPEC_VERSION",
    "SourceRef",
    "SubsetSpec",
    "ids_sha256",
    "subset_ids",
]

SPEC_FORMAT: Final = "sparkle-data/subset"
SPEC_VERSION: Final = 1
_HF_RE: Final = re.compile(r"hf://datasets/([^/@]+/[^/@]+)(?:@([^/]+))?(?:/.*)?")
_SHA_RE: Final = re.compile(r"[0-9a-f]{64}")


def ids_sha256(ids: tuple[str, ...] | list[str]) -> str:
    """sha256 of the ids, sorted, one per line (each line ends with ``\\n``)."""
    text = "".join(f"{i}\n" for i in sorted(ids))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a catalog came from: its root, and for Hub roots the repo and revision."""

    root: str | None = None
    repo: str | None = None
    revision: str | None = None

    @classmethod
    def from_root(cls, root: str | os.PathLike[str], revision: str | None = None) -> SourceRef:
        """Parse ``hf://datasets/{repo}@{revision}``; other roots are kept as given."""
        text = os.fspath(root)
        m = _HF_RE.fullmatch(text)
        if m is None:
            return cls(text, None, revision)
        return cls(text, m.group(1), revision if revision is not None else m.group(2))

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "repo": self.repo, "revision": self.revision}

    @classmethod
    def from_dict(cls, data: Any) -> SourceRef:
        if not isinstance(data, Mapping) or set(data) - {"root", "repo", "revision"}:
            raise FilterError.invalid(
                "subset source", data, rule="must be a mapping with root, repo, revision"
            )
        values = [data.get(k) for k in ("root", "repo", "revision")]
        for v in values:
            if v is not None and not isinstance(v, str):
                raise FilterError.invalid("subset source", data, rule="values must be strings")
        return cls(*values)


def _edit_types(table: pd.DataFrame) -> list[str]:
    if "edit_type" in table.columns:
        return [str(v) for v in table["edit_type"].astype(object)]
    return [parse_sample_id(str(i)).edit_type for i in table.index]


def _rank(seed: int, sample_id: str) -> bytes:
    return hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()


def subset_ids(
    source: Any,
    filter: Filter | None = None,
    *,
    population: Population = "corpus",
    seed: int = 0,
    limit_per_theme: int | None = None,
) -> tuple[str, ...]:
    """The sorted ids a spec with these settings selects (see the module doc)."""
    table = table_of(source)
    rows = table[population_mask(table, population)]
    if filter is not None:
        rows = rows[filter.truth(rows).true]
    ids = [str(i) for i in rows.index]
    if limit_per_theme is not None:
        by_type: dict[str, list[str]] = {}
        for sid, et in zip(ids, _edit_types(rows), strict=True):
            by_type.setdefault(et, []).append(sid)
        ids = [
            sid
            for group in by_type.values()
            for sid in sorted(group, key=lambda s: _rank(seed, s))[:limit_per_theme]
        ]
    return tuple(sorted(ids))


def _counts(source: Any, ids: tuple[str, ...]) -> dict[str, int]:
    table = table_of(source)
    types = _edit_types(table.loc[list(ids)]) if ids else []
    out: dict[str, int] = {}
    for et in types:
        out[et] = out.get(et, 0) + 1
    return dict(sorted(out.items()))


def _check_int(name: str, value: Any, minimum: int, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FilterError.invalid(name, value, rule=f"must be an int >= {minimum}")


@dataclass(frozen=True)
class SubsetSpec:
    """A reproducible subset of a catalog; see the module doc."""

    filter: Filter | None
    source: SourceRef = SourceRef()
    population: Population = "corpus"
    seed: int = 0
    limit_per_theme: int | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    """Selected ids per edit type when the spec was made (empty: not recorded)."""
    ids_sha256: str | None = None
    """sha256 of the selected ids (see :func:`ids_sha256`); ``None``: not recorded."""
    sparkle_data_version: str = __version__
    name: str | None = None
    description: str | None = None
    created: str | None = field(default=None, compare=False)
    """ISO 8601 time of creation; informational, not part of the identity."""

    def __post_init__(self) -> None:
        if self.filter is not None and not isinstance(self.filter, Filter):
            raise FilterError.invalid("subset filter", self.filter, rule="must be a Filter")
        if not isinstance(self.source, SourceRef):
            raise FilterError.invalid("subset source", self.source, rule="must be a SourceRef")
        if self.population not in POPULATIONS:
            raise FilterError.invalid(
                "subset population", self.population, rule=f"must be one of {POPULATIONS}"
            )
        _check_int("seed", self.seed, 0)
        _check_int("limit_per_theme", self.limit_per_theme, 1, optional=True)
        if not isinstance(self.counts, Mapping) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
            for k, v in self.counts.items()
        ):
            raise FilterError.invalid(
                "subset counts", self.counts, rule="must map edit types to ints >= 0"
            )
        object.__setattr__(self, "counts", dict(sorted(self.counts.items())))
        if self.ids_sha256 is not None and not (
            isinstance(self.ids_sha256, str) and _SHA_RE.fullmatch(self.ids_sha256)
        ):
            raise FilterError.invalid("ids_sha256", self.ids_sha256, rule="must be 64 hex digits")
        for name in ("sparkle_data_version", "name", "description", "created"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, str):
                raise FilterError.invalid(name, v, rule="must be a string")

    # ------------------------------------------------------------------ build and select
    @classmethod
    def create(
        cls,
        source: Any,
        filter: Filter | str | Mapping[str, Any] | None = None,
        *,
        population: Population = "corpus",
        seed: int = 0,
        limit_per_theme: int | None = None,
        source_ref: SourceRef | str | None = None,
        revision: str | None = None,
        name: str | None = None,
        description: str | None = None,
        created: str | bool | None = True,
    ) -> SubsetSpec:
        """Select on a Catalog (or table) and record counts and the ids' sha256.

        ``filter`` may be an expression string or a filter dict. The source is the catalog's
        root unless ``source_ref`` is given; ``revision`` names the Hub revision of a local
        download.
        ``created=True`` stamps the current UTC time, a string is kept, ``None`` leaves it out.
        """
        f = filter if filter is None or isinstance(filter, Filter) else filter_from_dict(filter)
        if isinstance(source_ref, SourceRef):
            ref = source_ref
        elif source_ref is not None:
            ref = SourceRef.from_root(source_ref, revision)
        else:
            root = getattr(source, "root", None)
            ref = (
                SourceRef.from_root(root, revision)
                if isinstance(root, str)
                else SourceRef(None, None, revision)
            )
        if created is True:
            stamp: str | None = datetime.now(timezone.utc).isoformat(timespec="seconds")
        else:
            stamp = created or None
        probe = cls(f, ref, population, seed, limit_per_theme, name=name, description=description)
        ids = probe.select(source, verify=False)
        return cls(
            f,
            ref,
            population,
            seed,
            limit_per_theme,
            counts=_counts(source, ids),
            ids_sha256=ids_sha256(ids),
            name=name,
            description=description,
            created=stamp,
        )

    def select(self, source: Any, *, verify: bool = True) -> tuple[str, ...]:
        """The selected ids, sorted. With ``verify`` (default), raise
        :class:`SubsetMismatchError` when they differ from the recorded counts or sha256.
        """
        ids = subset_ids(
            source,
            self.filter,
            population=self.population,
            seed=self.seed,
            limit_per_theme=self.limit_per_theme,
        )
        if verify:
            self.verify(source, ids)
        return ids

    def subset(self, source: Any, *, verify: bool = True) -> pd.DataFrame:
        """The catalog rows of :meth:`select`."""
        table = table_of(source)
        rows: pd.DataFrame = table.loc[list(self.select(table, verify=verify))]
        return rows

    def verify(self, source: Any, ids: tuple[str, ...] | None = None) -> None:
        """Raise :class:`SubsetMismatchError` if ``source`` gives other ids than recorded."""
        if ids is None:
            ids = self.select(source, verify=False)
        if self.ids_sha256 is None and not self.counts:
            return
        counts = _counts(source, ids)
        digest = ids_sha256(ids)
        if (self.counts and counts != dict(self.counts)) or (
            self.ids_sha256 is not None and digest != self.ids_sha256
        ):
            label = f" {self.name!r}" if self.name else ""
            raise SubsetMismatchError(
                f"Invalid subset{label}: selects {len(ids)} ids {counts} (sha256 {digest[:12]}) "
                f"but the spec recorded {sum(self.counts.values())} ids {dict(self.counts)} "
                f"(sha256 {(self.ids_sha256 or '?')[:12]}). The catalog differs from the one "
                f"the spec was made on (root {self.source.root!r}, revision "
                f"{self.source.revision!r}). Pass verify=False to select anyway."
            )

    # ------------------------------------------------------------------ identity
    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def identity(self) -> dict[str, Any]:
        """:meth:`to_dict` without ``created``."""
        d = self.to_dict()
        del d["created"]
        return d

    @property
    def fingerprint(self) -> str:
        """sha256 of the canonical JSON of :meth:`identity`."""
        text = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": SPEC_FORMAT,
            "format_version": SPEC_VERSION,
            "name": self.name,
            "description": self.description,
            "source": self.source.to_dict(),
            "population": self.population,
            "filter": None if self.filter is None else self.filter.to_dict(),
            "filter_text": None if self.filter is None else self.filter.describe(),
            "seed": self.seed,
            "limit_per_theme": self.limit_per_theme,
            "counts": dict(self.counts),
            "total": self.total,
            "ids_sha256": self.ids_sha256,
            "sparkle_data_version": self.sparkle_data_version,
            "created": self.created,
        }

    @classmethod
    def from_dict(cls, data: Any) -> SubsetSpec:
        """Rebuild from :meth:`to_dict` output (``filter_text`` and ``total`` are derived)."""
        if not isinstance(data, Mapping):
            raise FilterError.invalid("subset spec", data, rule="must be a mapping")
        if data.get("format") != SPEC_FORMAT:
            raise FilterError.invalid(
                "subset spec format", data.get("format"), rule=f"must be {SPEC_FORMAT!r}"
            )
        if data.get("format_version") != SPEC_VERSION:
            raise FilterError.invalid(
                "subset spec format_version",
                data.get("format_version"),
                rule=f"this sparkle-data reads version {SPEC_VERSION}",
            )
        known = set(cls(None).to_dict())
        extra = sorted(set(data) - known)
        if extra:
            raise FilterError.invalid(
                "subset spec", sorted(data), rule=f"unexpected key(s) {', '.join(extra)}"
            )
        raw = data.get("filter")
        spec = cls(
            filter=None if raw is None else filter_from_dict(raw),
            source=SourceRef.from_dict(data.get("source") or {}),
            population=data.get("population", "corpus"),
            seed=data.get("seed", 0),
            limit_per_theme=data.get("limit_per_theme"),
            counts=data.get("counts") or {},
            ids_sha256=data.get("ids_sha256"),
            sparkle_data_version=data.get("sparkle_data_version", __version__),
            name=data.get("name"),
            description=data.get("description"),
            created=data.get("created"),
        )
        total = data.get("total")
        if total is not None and total != spec.total:
            raise FilterError.invalid(
                "subset spec total", total, rule=f"counts add up to {spec.total}"
            )
        return spec

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> SubsetSpec:
        return cls.from_dict(json.loads(text))

    def to_yaml(self) -> str:
        yaml = _yaml()
        text: str = yaml.safe_dump(
            self.to_dict(), sort_keys=False, allow_unicode=True, default_flow_style=False
        )
        return text

    @classmethod
    def from_yaml(cls, text: str) -> SubsetSpec:
        return cls.from_dict(_yaml().safe_load(text))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically as YAML (``.yaml``/``.yml``) or JSON (``.json``)."""
        p = Path(path)
        text = self.to_json() if _kind(p) == "json" else self.to_yaml()
        atomic_write_text(p, text)
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SubsetSpec:
        p = Path(path)
        text = p.read_text(encoding="utf-8")
        return cls.from_json(text) if _kind(p) == "json" else cls.from_yaml(text)


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    raise FilterError.invalid(
        "subset spec path", str(path), rule="must end in .yaml, .yml or .json"
    )


def _yaml() -> Any:
    try:
        import yaml
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("YAML subset specs need PyYAML: pip install pyyaml") from e
    return yaml
