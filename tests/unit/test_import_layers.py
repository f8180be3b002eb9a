"""Every project import in its place: at the top of its file, and never climbing from a lower layer to a higher one.

An import inside a function hides a dependency (two of them hid climbs); the backend registry's lazy
loads name SDK modules by string, so they are not imports here. A module may import its own layer and
the layers below it; the import-cycle test keeps one layer's packages from leaning on each other in a ring.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.unit.test_import_cycles import imported_names

ROOT = Path(__file__).resolve().parents[2]
PROJECT_ROOTS = ("services", "ui", "app_pages", "web", "app")
# lowest first; a module belongs to the layer of its longest listed prefix
LAYERS = (
    ("core", ("services", "services.errors", "services.types", "services.config", "services.scope",
              "services.cpu_cores", "services.credentials", "services.providers", "services.json_input",
              "services.ratelimit", "services.structured", "services.redaction", "services.csv_export")),
    ("models on disk, media", ("services.models", "services.media")),
    ("runtimes", ("services.backends", "services.targets", "services.provider_status", "services.models.manager",
                  "services.models.fit")),
    ("answers", ("services.streaming", "services.chat", "services.jobs")),
    ("features", ("services.conversations", "services.reasoning", "services.codegen")),
    ("grids of answers", ("services.compare", "services.evaluate")),
    ("commands", ("services.cli", "services.__main__")),
    ("widgets", ("ui",)),
    ("pages", ("app_pages", "app", "web")),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def app_files() -> list[Path]:
    files = [p for root in ("services", "ui", "app_pages", "web") for p in sorted((ROOT / root).rglob("*.py"))]
    return files + [ROOT / "app.py"]


def layer_of(module: str) -> int:
    """The index in LAYERS of the longest prefix that names this module (or its package)."""
    best, best_len = None, -1
    for n, (_name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = n, len(prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add its package to LAYERS")
    return best


def project_imports(source: str, module: str, is_package: bool) -> list[tuple[int, list[str], bool]]:
    """(line, the project names it imports, inside a function) for every import of a project module."""
    tree = ast.parse(source)
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            inside.update(id(sub) for sub in ast.walk(node) if sub is not node)
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        # `from services import config` names the module services.config (and the package itself)
        names = [n for n in imported_names(node, package) if n.split(".")[0] in PROJECT_ROOTS]
        if names:
            found.append((node.lineno, names, id(node) in inside))
    return found


def problems(path: Path) -> list[str]:
    module = module_name(path)
    own = layer_of(module)
    out = []
    for line, names, in_function in project_imports(path.read_text(encoding="utf-8"), module,
                                                    path.name == "__init__.py"):
        where = f"{path.relative_to(ROOT)}:{line}"
        top = max(names, key=layer_of)
        if layer_of(top) > own:
            out.append(f"{where}: {module} ({LAYERS[own][0]}) imports {top} ({LAYERS[layer_of(top)][0]}), a higher layer")
        if in_function:
            out.append(f"{where}: imports {top} inside a function; put it at the top of the file")
    return out


@pytest.mark.parametrize("path", app_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_project_imports_are_at_the_top_and_never_climb(path):
    assert problems(path) == []


def test_the_check_sees_a_hidden_import_and_a_climb(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    sample = tmp_path / "services" / "media" / "sample.py"
    sample.parent.mkdir(parents=True)
    sample.write_text("from services.types import Message\n"  # down: fine
                      "from services import chat\n"  # up: answers sit above media
                      "def f():\n    from services.media import images\n")  # hidden, though same layer
    found = problems(sample)
    assert len(found) == 2
    assert "services.chat (answers), a higher layer" in found[0]
    assert "inside a function" in found[1] and ":4:" in found[1]


def test_every_layer_names_a_real_module():
    modules = {module_name(p) for p in app_files()}
    for name, prefixes in LAYERS:
        for prefix in prefixes:
            assert any(m == prefix or m.startswith(prefix + ".") for m in modules), f"{name}: {prefix}"
