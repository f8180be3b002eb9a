"""README.md and docs/*.md point at things that exist: links, anchors, CLI commands and flags, paths.

Read from the text alone: the CLIs are checked against their argparse parsers (built, never run),
bench modules against their source; no model is loaded.
"""

from __future__ import annotations

import argparse
import ast
import re
from functools import cache
from pathlib import Path

import pytest

from bench.cli import build_parser as bench_parser
from bench.phi.cli import build_parser as bench_phi_parser
from services.__main__ import build_parser as services_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# folders whose paths the docs name in backticks; each such path must exist
PATH_ROOTS = ("services/", "ui/", "app_pages/", "web/", "bench/", "tests/", "assets/", "docs/", ".streamlit/", ".ci/")
# files a person makes on their own machine, named in the docs but never in the repository
USER_FILES = {".streamlit/secrets.toml"}

FENCE = re.compile(r"^(`{3,}|~{3,})([^\n`]*)\n(.*?)^\1[ \t]*$", re.M | re.S)
INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.S)
LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(\S+)", re.M)
HTML_SRC = re.compile(r"<(?:img|a)\b[^>]*?\b(?:src|href)=\"([^\"]+)\"", re.I)
HTML_ID = re.compile(r"<a\b[^>]*?\b(?:id|name)=\"([^\"]+)\"", re.I)
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$", re.M)
COMMAND = re.compile(r"python -m (services|bench(?:\.[A-Za-z_]\w*)?)\b([^\n]*)")
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
SHELL_LANGS = {"bash", "sh", "shell", "console"}


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def fences(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block."""
    return [(m.group(2).strip().lower(), m.group(3)) for m in FENCE.finditer(text)]


def prose(text: str) -> str:
    """The text with code blocks and code spans removed: where links and headings live."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def inline_code(text: str) -> list[str]:
    return [m.group(2) for m in INLINE_CODE.finditer(FENCE.sub("", text))]


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: inline markup dropped, lower case, punctuation gone, spaces to -."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links and images keep their text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    text = re.sub(r"(\*+|(?<!\w)_+|_+(?!\w))", "", text)  # emphasis markers, not snake_case
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every anchor a page has: its headings' slugs (numbered on repeats, as GitHub does) and html ids."""
    text = path.read_text(encoding="utf-8")
    seen: dict[str, int] = {}
    out = set(HTML_ID.findall(text))
    for m in HEADING.finditer(prose(text)):
        slug = github_slug(m.group(2))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return frozenset(out)


def links(path: Path) -> list[str]:
    text = prose(path.read_text(encoding="utf-8"))
    return LINK.findall(text) + REF_DEF.findall(text) + HTML_SRC.findall(text)


@pytest.mark.parametrize("path", DOCS, ids=rel)
def test_relative_links_resolve(path):
    broken = []
    for target in links(path):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target}: no file {file_part}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {rel(dest)}")
    assert not broken, f"{rel(path)} has broken links:\n" + "\n".join(broken)


def commands(text: str) -> list[str]:
    """Every `python -m services|bench...` line in shell code blocks and code spans, comments cut off."""
    pieces = [body.replace("\\\n", " ") for lang, body in fences(text) if lang in SHELL_LANGS]
    pieces += [span.replace("\n", " ") for span in inline_code(text)]
    found = []
    for piece in pieces:
        for line in piece.splitlines():
            line = re.split(r"\s#\s|\s#$|&&|;", line)[0]
            found += [m.group(0) for m in COMMAND.finditer(line)]
    return found


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings}


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next((dict(a.choices) for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})


@cache
def services_commands() -> dict[str, set[str]]:
    """Each `python -m services` command with every flag it or its own subcommands take."""
    table = {}
    for name, sub in _subparsers(services_parser()).items():
        flags = _options(sub)
        for child in _subparsers(sub).values():
            flags |= _options(child)
        table[name] = flags
    return table


@cache
def bench_module_flags(module: str) -> set[str] | None:
    """The flags a `python -m bench.X` module reads (add_argument, or a test on sys.argv); None if no such module."""
    path = ROOT / "bench" / f"{module}.py"
    if not path.is_file():
        return None
    flags = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
            flags |= {a.value for a in node.args if isinstance(a, ast.Constant) and str(a.value).startswith("-")}
        elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant) and isinstance(node.ops[0], ast.In):
            if str(node.left.value).startswith("--"):
                flags.add(node.left.value)
    return flags | {"-h", "--help"}


def command_problem(command: str) -> str | None:
    """Why a documented command would not parse, or None."""
    m = COMMAND.match(command)
    program, rest = m.group(1), m.group(2)
    flags = set(FLAG.findall(rest))
    if program == "services":
        words = rest.split()
        if not words:  # the program itself, named in a sentence
            return None
        name, known = words[0], services_commands()
        if name not in known:
            return f"no subcommand {name!r} (known: {', '.join(sorted(known))})"
        allowed = known[name]
    elif program == "bench" and rest.split()[:1] == ["phi"]:
        allowed = _options(bench_phi_parser())
    elif program == "bench":
        allowed = _options(bench_parser())
    else:
        allowed = bench_module_flags(program.split(".", 1)[1])
        if allowed is None:
            return f"no module {program}"
    unknown = sorted(flags - allowed)
    return f"unknown flags {unknown}" if unknown else None


@pytest.mark.parametrize("path", DOCS, ids=rel)
def test_named_commands_exist(path):
    bad = [f"{c.strip()}: {why}" for c in commands(path.read_text(encoding="utf-8")) if (why := command_problem(c))]
    assert not bad, f"{rel(path)} names commands the CLIs do not have:\n" + "\n".join(bad)


def named_paths(text: str) -> set[str]:
    """Project paths (services/..., tests/..., ...) and test file names named in code spans and blocks."""
    words = [w for span in inline_code(text) for w in span.split()]
    words += [w for _, body in fences(text) for w in body.split()]
    names = set()
    for word in words:
        word = word.strip("()[],;:'\"").split("::")[0].removesuffix("'s")
        if word.startswith(PATH_ROOTS) or re.fullmatch(r"test_\w+\.py", word):
            names.add(word)
    return names


@cache
def project_test_files() -> frozenset[str]:
    return frozenset(p.name for p in (ROOT / "tests").rglob("test_*.py"))


@pytest.mark.parametrize("path", DOCS, ids=rel)
def test_named_paths_exist(path):
    missing = []
    for name in sorted(named_paths(path.read_text(encoding="utf-8")) - USER_FILES):
        if "/" not in name:
            found = name in project_test_files()
        elif "*" in name:
            found = any(ROOT.glob(name))
        else:
            found = (ROOT / name).exists()
        if not found:
            missing.append(name)
    assert not missing, f"{rel(path)} names paths that do not exist: {missing}"


def test_the_checks_catch_what_they_should():
    """The checkers themselves: a wrong subcommand, flag, module or anchor is found; GitHub's slugs."""
    assert command_problem("python -m services chatt hi")
    assert command_problem("python -m services chat hi --no-such-flag")
    assert command_problem("python -m bench.nothing_here")
    assert command_problem("python -m bench --quick --json FILE") is None
    assert command_problem("python -m bench phi --quick --layers 1") is None
    assert command_problem("python -m bench phi --nothing")
    assert command_problem("python -m services models pull ID --variant V") is None
    assert github_slug("Targets, cloud endpoints, Ollama and llama.cpp") == "targets-cloud-endpoints-ollama-and-llamacpp"
    assert github_slug("Code for the `current` request") == "code-for-the-current-request"
    assert github_slug("🧾 Code panel") == "-code-panel"
    assert "quality" in anchors(ROOT / "docs" / "performance.md")


def test_readme_reads_in_five_minutes():
    """A newcomer's page: the rest belongs in docs/ (the house rule's limit is 300 lines)."""
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 300
