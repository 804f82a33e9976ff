"""The dependency rules of glassboard, checked on the source with `ast` (top-level and function-level imports).

(a) layers point one way: schema -> models, store, rating -> bench, judge, audit, arena -> report -> cli;
(b) no import cycles between modules; (c) only glassboard.cli imports typer or rich.
A package's `__init__` re-exporting its own submodules is not counted as a cycle (its imports are left out of (b)).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

SRC = Path(__file__).resolve().parents[1] / "src"
LAYERS = {"schema": 0, "models": 1, "store": 1, "rating": 1, "bench": 2, "judge": 2, "audit": 2, "arena": 2,
          "report": 3, "cli": 4}
UI_LIBRARIES = ("typer", "rich")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module, dotted (for `from x import y`: x.y when that is a module, else x)
    line: int


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((SRC / "glassboard").rglob("*.py"))}


def _imports(modules: dict[str, Path]) -> list[Import]:
    out = []
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                out += [Import(name, alias.name, node.lineno) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base]) if base else ".".join(up)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    out.append(Import(name, sub if sub in modules else base, node.lineno))
    return out


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "glassboard" or len(parts) < 2:
        return None
    return LAYERS.get(parts[1])


def test_layers_point_one_way() -> None:
    modules = _modules()
    unknown = sorted({m.split(".")[1] for m in modules if m.count(".") and _layer(m) is None})
    assert not unknown, f"packages without a layer (add them to LAYERS): {unknown}"
    wrong = [
        f"{i.module} (line {i.line}) imports {i.target}"
        for i in _imports(modules)
        if (src := _layer(i.module)) is not None and (dst := _layer(i.target)) is not None and dst > src
    ]
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_no_import_cycles_between_modules() -> None:
    modules = _modules()
    names = list(modules)
    index = {n: i for i, n in enumerate(names)}
    edges = {(index[i.module], index[i.target]) for i in _imports(modules) if i.target in index
             and i.target != i.module and not modules[i.module].name == "__init__.py"}
    src, dst = zip(*edges, strict=True) if edges else ((), ())
    graph = csr_matrix(([1] * len(src), (src, dst)), shape=(len(names), len(names)))
    n_parts, labels = connected_components(graph, directed=True, connection="strong")
    cycles = [sorted(names[i] for i in range(len(names)) if labels[i] == c) for c in range(n_parts)]
    cycles = [c for c in cycles if len(c) > 1]
    assert not cycles, "import cycles (each line: modules that import each other in a loop):\n" + "\n".join(
        ", ".join(c) for c in cycles
    )


def test_only_the_cli_imports_typer_or_rich() -> None:
    modules = _modules()
    wrong = [
        f"{i.module} (line {i.line}) imports {i.target}"
        for i in _imports(modules)
        if i.target.split(".")[0] in UI_LIBRARIES and not i.module.startswith("glassboard.cli")
    ]
    assert not wrong, "typer/rich outside glassboard.cli:\n" + "\n".join(wrong)


# Exceptions used only as control flow inside one module: raised and caught there, never seen by a caller.
INTERNAL_EXCEPTIONS = {
    "glassboard.arena.streaming._SideFailed",  # one side of a battle failed; turned into the battle's failed status
    "glassboard.rating.columnar._Fallback",  # the fast Parquet path does not apply; the row reader takes over
    "glassboard.arena.server._HeadTooLarge",  # stops httptools' parser; the protocol answers 431 itself
}


def test_every_exception_class_derives_from_glassboard_error() -> None:
    """A caller catches GlassboardError and prints its message; only the private ones listed above are exempt."""
    import importlib
    import inspect

    from glassboard.schema import GlassboardError

    found, wrong = set(), []
    for name in _modules():
        if name.endswith("__main__") or ".migrations." in name:
            continue
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == name \
                    and not issubclass(obj, Warning):  # warnings (RatingWarning) are not errors
                qualified = f"{name}.{attr}"
                found.add(qualified)
                if qualified in INTERNAL_EXCEPTIONS:
                    assert attr.startswith("_"), f"{qualified}: an internal exception is private (leading _)"
                elif not issubclass(obj, GlassboardError):
                    wrong.append(qualified)
    assert not wrong, f"exception classes outside the GlassboardError tree: {wrong}"
    gone = INTERNAL_EXCEPTIONS - found
    assert not gone, f"listed internal exceptions that no longer exist: {gone}"
    assert {"glassboard.schema.RecordError", "glassboard.rating.errors.RatingError"} <= found
