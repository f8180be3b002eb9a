"""The architecture's rules, checked on the source: pages render, services decide."""

import ast
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_SDKS = {"onnxruntime_genai", "onnxruntime", "transformers", "torch", "openai", "ollama", "llama_cpp",
                "cv2", "av", "rapidocr_onnxruntime", "huggingface_hub"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def py_files(*folders):
    return [p for f in folders for p in sorted((ROOT / f).rglob("*.py"))]


@pytest.mark.parametrize("path", py_files("services"), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_streamlit_under_services(path):
    assert "streamlit" not in imported_roots(path)


@pytest.mark.parametrize("path", py_files("app_pages", "ui") + [ROOT / "app.py"], ids=lambda p: str(p.relative_to(ROOT)))
def test_no_runtime_sdk_in_pages_or_ui(path):
    assert not imported_roots(path) & RUNTIME_SDKS


@pytest.mark.parametrize("path", py_files("app_pages", "ui", "services") + [ROOT / "app.py"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_html_is_never_rendered_unsafely(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "unsafe_allow_html":
            assert isinstance(node.value, ast.Constant) and node.value.value is False, f"{path}:{node.value.lineno}"


def download_button_calls(path: Path) -> list[int]:
    """Lines that call Streamlit's download_button (as st.…, st.sidebar.… or a column's …)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute) and node.func.attr == "download_button"]


@pytest.mark.parametrize("path", py_files("app_pages", "ui") + [ROOT / "app.py"], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_download_goes_through_file_download(path):
    # a download that reruns the page can lose the file the browser is about to fetch
    if path.name != "file_download.py":
        assert download_button_calls(path) == []


def test_download_check_sees_each_form(tmp_path):
    sample = tmp_path / "page.py"
    sample.write_text("st.download_button('a', b'')\nst.sidebar.download_button('a', b'')\nc1.download_button('a', b'')\n")
    assert download_button_calls(sample) == [1, 2, 3]


def test_secrets_file_is_ignored():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".streamlit/secrets.toml" in ignored
    tracked = subprocess.run(["git", "ls-files", ".streamlit/secrets.toml"], cwd=ROOT, capture_output=True, text=True)
    assert tracked.stdout.strip() == ""


def changes_sys_path(path: Path) -> list[int]:
    """Lines that mutate sys.path (insert, append, extend, assignment)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        target = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
        if isinstance(target, ast.Attribute) and target.attr == "path" and \
                isinstance(target.value, ast.Name) and target.value.id == "sys":
            lines.append(node.lineno)
    return sorted(lines)


@pytest.mark.parametrize("path", py_files("app_pages", "ui", "services", "bench", "web") + [ROOT / "app.py"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_sys_path_edits_outside_tests(path):
    # bench/ and services/ are packages run from the project root (python -m ...)
    assert changes_sys_path(path) == []


def test_sys_path_check_sees_an_edit(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import sys\nsys.path.insert(0, 'x')\nsys.path += ['y']\nsys.path = []\n")
    assert changes_sys_path(probe) == [2, 3, 4]


@pytest.mark.parametrize("path", py_files("services", "app_pages", "ui", "web") + [ROOT / "app.py"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_the_app_never_imports_the_tools(path):
    # bench/ and tests/ build on the app; an edge the other way would tie the app to its tools
    assert not imported_roots(path) & {"bench", "tests"}


PROJECT_ROOTS = ("services", "ui", "app_pages", "web")


def reaches_into_modules(source: str) -> list[str]:
    """Where this source imports another project module's private name, or reads one off an imported module."""
    tree = ast.parse(source)
    modules: set[str] = set()  # local names bound to project modules
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] in PROJECT_ROOTS:
            for alias in node.names:
                if alias.name.startswith("_"):
                    found.append(f"{node.lineno}: from {node.module} import {alias.name}")
                modules.add(alias.asname or alias.name)  # may be a module or a name; only modules have privates read
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PROJECT_ROOTS:
                    modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            while isinstance(owner, ast.Attribute):
                owner = owner.value
            if isinstance(owner, ast.Name) and owner.id in modules:
                found.append(f"{node.lineno}: {owner.id}...{node.attr}")
    return found


@pytest.mark.parametrize("path", py_files(*PROJECT_ROOTS) + [ROOT / "app.py"], ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_reads_another_modules_private_names(path):
    # a private name may change without notice; what other modules need is given a public name
    assert reaches_into_modules(path.read_text()) == []


def test_private_reach_check_sees_each_form():
    bad = ("from services import providers\nfrom ui.target_picker import _targets\nimport services.chat\n"
           "providers._azure_base('x')\nservices.chat._check()\n")
    assert len(reaches_into_modules(bad)) == 3
    good = "from services import providers\nproviders.azure_base('x')\nself._x = 1\n"
    assert reaches_into_modules(good) == []
