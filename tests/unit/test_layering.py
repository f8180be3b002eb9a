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


def test_secrets_file_is_ignored():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".streamlit/secrets.toml" in ignored
    tracked = subprocess.run(["git", "ls-files", ".streamlit/secrets.toml"], cwd=ROOT, capture_output=True, text=True)
    assert tracked.stdout.strip() == ""
