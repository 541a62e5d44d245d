"""Scale-out: the same bytes from serial, threaded and Ray runs of every export."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sparkle_data.catalog import Catalog, build_catalog
from sparkle_data.export import export_kiwi, export_sparkle, export_wds
from sparkle_data.testing import SampleTreeSummary

EXPORTS: dict[str, Callable[..., Any]] = {
    "wds": lambda c, i, o, **kw: export_wds(c, i, o, max_shard_bytes=150_000, **kw),
    "kiwi": lambda c, i, o, **kw: export_kiwi(c, i, o, trim_4k1=True, stage3=True, **kw),
    "sparkle": lambda c, i, o, **kw: export_sparkle(c, i, o, shard_bytes=80_000, **kw),
}


@pytest.fixture(scope="module")
def catalog(sample_tree: SampleTreeSummary) -> Catalog:
    return build_catalog(sample_tree.root, cache=False)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("kind", sorted(EXPORTS))
def test_serial_and_threaded_runs_are_byte_identical(
    kind: str, catalog: Catalog, tmp_path: Path
) -> None:
    ids = [str(i) for i in catalog.corpus().index]
    export = EXPORTS[kind]
    serial = export(catalog, ids, tmp_path / "serial", workers=1, progress=False)
    threads = export(catalog, ids, tmp_path / "threads", workers=4, progress=False)
    assert serial.units == threads.units > 1
    assert tree(serial.out) == tree(threads.out)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(EXPORTS))
def test_ray_runs_are_byte_identical(
    kind: str, catalog: Catalog, tmp_path: Path, ray_cluster: None
) -> None:
    ids = [str(i) for i in catalog.corpus().index]
    export = EXPORTS[kind]
    local = export(catalog, ids, tmp_path / "local", workers=1, progress=False)
    on_ray = export(catalog, ids, tmp_path / "ray", engine="ray", workers=2, progress=False)
    assert on_ray.units == local.units
    assert on_ray.written == local.units
    assert tree(local.out) == tree(on_ray.out)
