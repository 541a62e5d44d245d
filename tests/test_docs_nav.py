"""Every docs page is reachable: in the mkdocs nav, linked from docs/index.md and from the
README's documentation list (a new page that nobody can find fails here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _pages() -> set[str]:
    return {p.name for p in DOCS.glob("*.md")}


def _nav_files(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [f for item in nav for f in _nav_files(item)]
    if isinstance(nav, dict):
        return [f for value in nav.values() for f in _nav_files(value)]
    return []


def _links(text: str, prefix: str = "") -> set[str]:
    return set(re.findall(rf"\]\({re.escape(prefix)}([\w.-]+\.md)(?:#[\w-]*)?\)", text))


def test_every_page_is_in_the_nav() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = _nav_files(config["nav"])
    assert len(nav) == len(set(nav)), "a page is twice in the nav"
    assert set(nav) <= _pages(), set(nav) - _pages()
    assert _pages() <= set(nav), f"not in mkdocs.yml nav: {sorted(_pages() - set(nav))}"


def test_every_page_is_linked_from_the_index() -> None:
    linked = _links((DOCS / "index.md").read_text(encoding="utf-8"))
    missing = _pages() - {"index.md"} - linked
    assert not missing, f"not linked from docs/index.md: {sorted(missing)}"


def test_every_page_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = _pages() - {"index.md"} - _links(readme, "docs/")
    assert not missing, f"not linked from README.md: {sorted(missing)}"
    assert readme.index("docs/quickstart.md") < readme.index("## Set-up"), "quick start first"
