"""The lock file: every direct dependency pinned within its range, every pin hashed, and installed as locked."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
RECOMPILE = ("pip-compile --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url "
             "--no-emit-find-links -o requirements.lock requirements.txt")
# one pinned entry: "name==version \" at the start of a line (pip-compile's layout)
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def _lock() -> dict[str, tuple[str, int]]:
    """{canonical name: (version, number of hashes)} read from requirements.lock."""
    pins: dict[str, tuple[str, int]] = {}
    current = None
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            pins[current] = (match.group(2), 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
        elif line and not line.startswith((" ", "#")):
            raise AssertionError(f"requirements.lock has a line pip-compile does not write: {line!r}")
    return pins


def _direct() -> list[Requirement]:
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [Requirement(line) for line in (ln.split("#")[0].strip() for ln in lines) if line]


def test_every_direct_dependency_is_pinned_within_its_range():
    pins = _lock()
    for req in _direct():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is in requirements.txt but not in the lock: run {RECOMPILE}"
        version = pins[name][0]
        assert req.specifier.contains(Version(version), prereleases=True), (
            f"the lock pins {req.name}=={version}, outside {req}: run {RECOMPILE}")


def test_every_pin_is_exact_and_hashed():
    pins = _lock()
    assert len(pins) > 50
    unhashed = sorted(name for name, (_v, hashes) in pins.items() if hashes == 0)
    assert not unhashed, f"pins without a hash: {unhashed}"


def test_the_environment_is_the_lock():
    # the suite proves what it ran on: a package at another version than the lock is named here
    differ = []
    for name, (version, _h) in sorted(_lock().items()):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            differ.append(f"{name} (locked {version}, not installed)")
            continue
        if Version(installed) != Version(version):
            differ.append(f"{name} (locked {version}, installed {installed})")
    assert not differ, ("installed packages differ from requirements.lock; install with "
                        "pip install -r requirements.lock: " + ", ".join(differ))
