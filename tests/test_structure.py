"""The package's import graph: no cycles, no private names across modules, layers go down.

The graph is built from the source with :mod:`ast`, so it sees every import a module can run:
module-level ones, function-local ones (``def f(): from x import y``), ``TYPE_CHECKING`` blocks,
relative imports, ``from package import submodule``, and the lazy re-exports of package
``__init__`` files (the ``lazy_exports(__name__, {...})`` tables of ``sparkle_data._lazy``).

Edges go from a module to the module it names. Importing ``a.b.c`` also runs ``a/__init__`` and
``a/b/__init__`` first; those implicit parent imports are *not* edges: a package ``__init__`` is
the package's facade (it re-exports its submodules), and a submodule that wants a sibling names
the sibling's own module (``from sparkle_data.io.atomic import ...``), never its package facade.
So a facade that re-exports its submodules, eagerly or lazily, forms no cycle, while a submodule
that imports through its own package's facade (``from sparkle_data.catalog import Catalog``
inside ``catalog/probe.py``) does, and is reported.

Rules (the preamble's "Layers import only downward"):

* no strongly connected component with more than one module, counting every import that runs
  (function-local ones included). Imports under ``if TYPE_CHECKING:`` never run (annotations
  are strings under ``from __future__ import annotations``), so they make no cycle; they are
  still checked by the two rules below;
* a name starting with ``_`` is never imported from another module (``__version__``-style dunder
  names are public);
* a private module (``_x.py``, or anything under a ``_x/`` package) may be imported only by
  modules inside the package that holds it;
* layers, encoded in :data:`LAYERS`, import only their own layer or lower ones.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "sparkle_data"
PACKAGE = "sparkle_data"

#: The layer order, lowest first. A module belongs to the layer of its first component below
#: ``sparkle_data`` (``sparkle_data.io.fs`` -> ``io``); a layer may import itself and anything
#: listed before it. ``testing`` may import anything below ``cli``. The root package
#: ``sparkle_data`` (its ``__init__``) is the public facade: only ``cli`` may import it (for
#: ``__version__``), and it may import anything below ``cli``.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("base", frozenset({"_version", "_lazy", "errors", "policy"})),
    ("layout", frozenset({"layout"})),
    ("io", frozenset({"io"})),
    ("readers", frozenset({"readers"})),
    ("sampling", frozenset({"sampling"})),
    ("catalog", frozenset({"catalog", "join"})),
    ("consumers", frozenset({"dataset", "hf", "filters", "export"})),
    ("regen", frozenset({"regen"})),
    ("testing", frozenset({"testing"})),
    ("facade", frozenset({""})),
    ("cli", frozenset({"cli", "integrations", "view", "sparkle_bench"})),
)

#: Layer names a module may import, beyond its own and the lower ones.
LAYER_EXTRA: dict[str, frozenset[str]] = {}


@dataclass(frozen=True)
class Import:
    """One edge: ``source`` imports ``target`` (and, for ``from`` imports, ``name``)."""

    source: str
    target: str
    name: str | None
    line: int
    local: bool
    typing_only: bool = False

    def where(self) -> str:
        scope = "function-local" if self.local else "module-level"
        if self.typing_only:
            scope += ", TYPE_CHECKING"
        return f"{self.source}:{self.line} ({scope})"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, modules: dict[str, Path]) -> None:
        self.module = module
        self.is_package = is_package
        self.modules = modules
        self.depth = 0
        self.typing = 0
        self.out: list[Import] = []
        self.assigned: dict[str, ast.expr] = {}

    def _add(self, target: str, name: str | None, line: int) -> None:
        self.out.append(Import(self.module, target, name, line, self.depth > 0, self.typing > 0))

    def _scoped(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._scoped(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._scoped(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._scoped(node)

    def visit_If(self, node: ast.If) -> None:
        if ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            self.typing += 1
            for stmt in node.body:
                self.visit(stmt)
            self.typing -= 1
            for stmt in node.orelse:
                self.visit(stmt)
        else:
            self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name):
                self.assigned[target.id] = node.value
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if isinstance(node.target, ast.Name) and node.value is not None:
            self.assigned[node.target.id] = node.value
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] == PACKAGE:
                self._add(alias.name, None, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = _resolve_relative(self.module, self.is_package, node.level, node.module)
        else:
            base = node.module or ""
        if base.split(".")[0] != PACKAGE:
            return
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            if sub in self.modules:  # ``from package import submodule``
                self._add(sub, None, node.lineno)
            else:
                self._add(base, alias.name, node.lineno)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if called == "lazy_exports":
            table = lazy_table(node, self.assigned)
            where = f"{self.module}:{node.lineno}"
            assert table is not None, f"{where}: lazy_exports needs a literal dict"
            for name, home in table.items():
                self._add(f"{self.module}.{home}", name, node.lineno)
        self.generic_visit(node)


def lazy_table(node: ast.Call, assigned: dict[str, ast.expr]) -> dict[str, str] | None:
    """The ``{name: module}`` table of a ``lazy_exports(__name__, table)`` call, if literal."""
    if len(node.args) < 2:
        return None
    table = node.args[1]
    if isinstance(table, ast.Name):
        table = assigned.get(table.id, table)
    try:
        return _literal_table(table)
    except ValueError:
        return None


def _literal_table(node: ast.expr) -> dict[str, str]:
    """A literal dict, also with ``**dict.fromkeys((names...), "module")`` entries."""
    if not isinstance(node, ast.Dict):
        raise ValueError("not a dict display")
    table: dict[str, str] = {}
    for key, value in zip(node.keys, node.values, strict=True):
        if key is not None:
            table[ast.literal_eval(key)] = ast.literal_eval(value)
        elif isinstance(value, ast.Call) and ast.unparse(value.func) == "dict.fromkeys":
            names, home = (ast.literal_eval(arg) for arg in value.args)
            table.update(dict.fromkeys(names, home))
        else:
            table.update(_literal_table(value))
    return table


def collect_imports(modules: dict[str, Path] | None = None) -> list[Import]:
    modules = all_modules() if modules is None else modules
    edges: list[Import] = []
    for name, path in modules.items():
        collector = _Collector(name, path.name == "__init__.py", modules)
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        edges.extend(collector.out)
    return edges


def _target_module(target: str, modules: dict[str, Path]) -> str | None:
    """The module an import names, or ``None`` for a name the package does not have."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def module_graph(edges: list[Import], modules: dict[str, Path]) -> dict[str, set[str]]:
    """Runtime edges: imports under ``if TYPE_CHECKING:`` never run, so they form no cycle."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for edge in edges:
        if edge.typing_only:
            continue
        target = _target_module(edge.target, modules)
        if target is not None and target != edge.source:
            graph[edge.source].add(target)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative); components with more than one module, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_violations(edges: list[Import], modules: dict[str, Path]) -> list[str]:
    problems = []
    for edge in edges:
        target = _target_module(edge.target, modules)
        if target is None or target == edge.source:
            continue
        if edge.name is not None and _is_private(edge.name):
            problems.append(f"{edge.where()}: private name {target}.{edge.name}")
        parts = target.split(".")
        for depth, part in enumerate(parts):
            if not _is_private(part):
                continue
            owner = ".".join(parts[:depth])  # the package holding the private module
            if not (edge.source == owner or edge.source.startswith(owner + ".")):
                problems.append(f"{edge.where()}: private module {target} outside {owner}")
            break
    return sorted(set(problems))


def layer_of(module: str) -> str:
    first = module.split(".")[1] if "." in module else ""
    for layer, members in LAYERS:
        if first in members:
            return layer
    raise AssertionError(f"{module}: top-level name {first!r} is in no layer of LAYERS")


def layer_violations(edges: list[Import], modules: dict[str, Path]) -> list[str]:
    rank = {layer: i for i, (layer, _) in enumerate(LAYERS)}
    problems = []
    for edge in edges:
        target = _target_module(edge.target, modules)
        if target is None or target == edge.source:
            continue
        src, dst = layer_of(edge.source), layer_of(target)
        if rank[dst] <= rank[src] or dst in LAYER_EXTRA.get(src, frozenset()):
            continue
        problems.append(f"{edge.where()}: {src} imports {dst} ({target})")
    return sorted(set(problems))


def describe_cycle(component: list[str], graph: dict[str, set[str]], edges: list[Import]) -> str:
    members = set(component)
    lines = [" <-> ".join(component)]
    for edge in edges:
        target = _target_module(edge.target, {m: Path() for m in graph})
        if edge.typing_only:
            continue
        if edge.source in members and target in members and target != edge.source:
            lines.append(f"    {edge.where()} -> {target}")
    return "\n".join(dict.fromkeys(lines))


@pytest.fixture(scope="module")
def graph_data() -> tuple[dict[str, Path], list[Import], dict[str, set[str]]]:
    modules = all_modules()
    edges = collect_imports(modules)
    return modules, edges, module_graph(edges, modules)


def test_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    src = tmp_path / "sparkle_data"
    (src / "pkg").mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "pkg" / "__init__.py").write_text(
        "from sparkle_data._lazy import lazy_exports\n"
        "__getattr__, __dir__ = lazy_exports(__name__, {'B': 'b', 'Z': 'sub.z'})\n"
    )
    (src / "pkg" / "a.py").write_text(
        "from . import b\nfrom .b import _hidden\n"
        "def f():\n    import sparkle_data.pkg.sub.z\n    from sparkle_data.pkg import c\n"
    )
    (src / "pkg" / "b.py").write_text("_hidden = 1\nB = 2\n")
    (src / "pkg" / "c.py").write_text("from ..pkg.a import f\n")
    (src / "pkg" / "sub").mkdir()
    (src / "pkg" / "sub" / "z.py").write_text("")
    (src / "_lazy.py").write_text("")
    modules = {
        ".".join(p.relative_to(tmp_path).with_suffix("").parts).removesuffix(".__init__"): p
        for p in src.rglob("*.py")
    }
    edges = collect_imports(modules)
    graph = module_graph(edges, modules)
    assert graph["sparkle_data.pkg.a"] == {
        "sparkle_data.pkg.b",
        "sparkle_data.pkg.sub.z",
        "sparkle_data.pkg.c",
    }
    assert graph["sparkle_data.pkg"] == {
        "sparkle_data._lazy",
        "sparkle_data.pkg.b",
        "sparkle_data.pkg.sub.z",
    }
    assert strongly_connected(graph) == [["sparkle_data.pkg.a", "sparkle_data.pkg.c"]]
    assert [p.split(": ", 1)[1] for p in private_violations(edges, modules)] == [
        "private name sparkle_data.pkg.b._hidden"
    ]
    local = [e for e in edges if e.local]
    assert {e.target for e in local} == {"sparkle_data.pkg.sub.z", "sparkle_data.pkg.c"}


GraphData = tuple[dict[str, Path], list[Import], dict[str, set[str]]]


def test_no_import_cycles(graph_data: GraphData) -> None:
    _, edges, graph = graph_data
    cycles = strongly_connected(graph)
    report = "\n".join(describe_cycle(c, graph, edges) for c in cycles)
    assert not cycles, f"{len(cycles)} import cycle(s):\n{report}"


def test_no_private_names_across_modules(
    graph_data: tuple[dict[str, Path], list[Import], dict[str, set[str]]],
) -> None:
    modules, edges, _ = graph_data
    problems = private_violations(edges, modules)
    assert not problems, f"{len(problems)} private import(s):\n" + "\n".join(problems)


def test_layers_import_only_downward(
    graph_data: tuple[dict[str, Path], list[Import], dict[str, set[str]]],
) -> None:
    modules, edges, _ = graph_data
    problems = layer_violations(edges, modules)
    assert not problems, f"{len(problems)} upward import(s):\n" + "\n".join(problems)


def test_every_module_has_a_layer(
    graph_data: tuple[dict[str, Path], list[Import], dict[str, set[str]]],
) -> None:
    modules, _, _ = graph_data
    for module in modules:
        layer_of(module)


def _lazy_package_facts(path: Path) -> tuple[dict[str, str], dict[str, str], set[str]]:
    """(lazy table, TYPE_CHECKING imports as name -> module, ``__all__``) of one ``__init__``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assigned: dict[str, ast.expr] = {}
    table: dict[str, str] = {}
    typed: dict[str, str] = {}
    exported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    assigned[target.id] = node.value
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            assigned[node.target.id] = node.value
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lazy_exports":
            table = lazy_table(node, assigned) or {}
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom) and stmt.module:
                    typed.update({a.asname or a.name: stmt.module for a in stmt.names})
    if "__all__" in assigned:
        exported = set(ast.literal_eval(assigned["__all__"]))
    return table, typed, exported


def test_lazy_exports_match_type_checking_and_all() -> None:
    """Each lazy table, its ``TYPE_CHECKING`` imports and ``__all__`` name the same things."""
    problems = []
    lazy_packages = 0
    for module, path in all_modules().items():
        if path.name != "__init__.py" or "lazy_exports" not in path.read_text(encoding="utf-8"):
            continue
        lazy_packages += 1
        table, typed, exported = _lazy_package_facts(path)
        expected = {name: f"{module}.{home}" for name, home in table.items()}
        if expected != typed:
            missing = sorted(set(expected) - set(typed))
            extra = sorted(set(typed) - set(expected))
            moved = sorted(n for n in set(expected) & set(typed) if expected[n] != typed[n])
            problems.append(
                f"{module}: TYPE_CHECKING differs from lazy table: missing {missing}, "
                f"extra {extra}, other module {moved}"
            )
        if not set(table) <= exported:
            problems.append(f"{module}: lazy names not in __all__: {sorted(set(table) - exported)}")
    assert lazy_packages >= 6
    assert not problems, "\n".join(problems)
