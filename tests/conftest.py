"""Shared fixtures: the embedded model (built once), tiny random models, isolated data dirs."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# user data (conversations, installed models) goes to a throwaway folder; the embedded model's
# converted cache stays in the normal cache dir so runs after the first are fast
_DATA = Path(tempfile.mkdtemp(prefix="phi-playground-tests-"))
# removed when the test process exits, whatever happened in it
atexit.register(shutil.rmtree, _DATA, ignore_errors=True)
os.environ.setdefault("PHI_PLAYGROUND_DATA", str(_DATA / "data"))
os.environ.setdefault("PHI_PLAYGROUND_MODELS", str(_DATA / "models"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def embedded_paths():
    """Both embedded caches, built on first use (about a minute on 2 cores, then instant)."""
    from services.models import embedded

    return embedded.provision()


@pytest.fixture(scope="session")
def tiny_phi3(tmp_path_factory) -> Path:
    """A random Phi3ForCausalLM folder with a Phi-3 chat template."""
    from tests.fixtures.tiny_models import build_tiny_phi3

    return build_tiny_phi3(tmp_path_factory.mktemp("tiny-phi3"))


@pytest.fixture(scope="session")
def tiny_phimoe(tmp_path_factory) -> Path:
    """A random PhimoeForCausalLM folder (2 layers, 4 experts, top-2)."""
    from tests.fixtures.tiny_models import build_tiny_phimoe

    return build_tiny_phimoe(tmp_path_factory.mktemp("tiny-phimoe"))


@pytest.fixture(scope="session")
def tiny_phimoe_slim(tmp_path_factory) -> Path:
    """A random Phimoe folder in Phi-tiny-MoE's layout (head_dim, biases, auto_map, old weight names)."""
    from tests.fixtures.tiny_models import build_tiny_phimoe_slim

    return build_tiny_phimoe_slim(tmp_path_factory.mktemp("tiny-phimoe-slim"))
