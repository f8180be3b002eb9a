"""Model manager against the hub stand-in: pull with progress, resume, cancel, rm, offline, no space."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.models import local as local_models

from services.models import manager as model_manager
from services.chat import start_chat
from services.errors import BadRequest
from services.models.local import Variant
from services.targets import list_targets
from services.types import GenerationParams, Message
from tests.readable import readable
from tests.standins.hf_hub_standin import HubStandIn

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
REPO = "test-org/tiny-phi3-onnx"
SUB = "cpu_and_mobile/cpu-int4-rtn-block-32-acc-level-4"
DATA = f"{SUB}/model.onnx.data"
VARIANT = Variant(model="tiny-phi3", variant="onnx-cpu-int4", runtime="onnx", repo=REPO, subfolder=SUB,
                  label="Tiny Phi-3, ONNX int4, CPU", download_gb=0.013, memory_gb=0.1)


@pytest.fixture(scope="session")
def tiny_onnx(tiny_phi3, tmp_path_factory) -> Path:
    """The tiny Phi-3 built into an int4 ONNX Runtime GenAI folder (once per session)."""
    out = tmp_path_factory.mktemp("tiny-phi3-onnx") / "model"
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(tiny_phi3), "-o", str(out),
         "-p", "int4", "-e", "cpu", "-c", str(out.parent / "cache"), "--extra_options", "hf_token=false"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    # pad the weights file past huggingface_hub's 10 MiB write chunk, so a cut mid-file can resume
    # from a byte offset; ONNX reads external data by offset and length, so the tail is never read
    with open(out / "model.onnx.data", "ab") as fh:
        fh.write(b"\0" * (12 * MiB - (out / "model.onnx.data").stat().st_size))
    return out


@pytest.fixture()
def repo_files(tiny_onnx) -> dict[str, bytes]:
    """The repo as the stand-in serves it: our subfolder, plus files a pull must not fetch."""
    files = {f"{SUB}/{p.name}": p.read_bytes() for p in tiny_onnx.iterdir() if p.is_file()}
    files["README.md"] = b"# tiny phi-3 onnx\n"
    files["cuda/cuda-fp16/model.onnx"] = b"not for the cpu" * 100
    return files


@pytest.fixture()
def hub(repo_files, tmp_path, monkeypatch):
    """The stand-in hub on loopback, with HF_ENDPOINT and a throwaway models folder pointing at it."""
    monkeypatch.setenv("PHI_PLAYGROUND_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("PHI_PLAYGROUND_MODELS_MAX_GB", raising=False)
    with HubStandIn({REPO: repo_files}) as standin:
        monkeypatch.setenv("HF_ENDPOINT", standin.url)
        yield standin


def test_pull_reports_progress_survives_a_cut_and_answers(hub, repo_files):
    hub.cut_once[DATA] = 11 * MiB
    hub.bytes_per_s = 8e6
    events = []
    model = model_manager.pull(VARIANT, on_event=events.append)

    assert model.target == "onnx:tiny-phi3"
    assert events[0].stage == "planning" and events[-1].stage == "done"
    moving = [e for e in events if e.stage == "downloading"]
    total = sum(len(b) for p, b in repo_files.items() if p.startswith(SUB))
    assert len(moving) >= 2 and moving[-1].done_bytes == moving[-1].total_bytes == total
    assert [e.done_bytes for e in moving] == sorted(e.done_bytes for e in moving)
    assert any(e.speed_bps and e.speed_bps > 0 and e.eta_s is not None for e in moving)
    assert re.fullmatch(r"[\d.]+ [KM]?B of 12\.6 MB, [\d.]+ [KM]?B/s, about .+ left",
                        next(e for e in moving if e.speed_bps).describe())

    # the dropped connection was resumed from a byte offset, not restarted
    gets = hub.file_gets("model.onnx.data")
    assert len(gets) == 2 and gets[0].range is None
    assert gets[1].range.startswith("bytes=") and int(gets[1].range[6:].rstrip("-")) >= 10 * MiB
    assert (model.path / "model.onnx.data").read_bytes() == repo_files[DATA]
    # only the one subfolder came down
    assert all(SUB in r.path for r in hub.file_gets())

    # a target at once, answering through the onnx backend
    assert "onnx:tiny-phi3" in [t.target for t in list_targets()]
    stream = start_chat("onnx:tiny-phi3", [Message("user", "Hello")], GenerationParams(max_tokens=8, temperature=0)).finish()
    assert stream.metrics.completion_tokens and stream.finish_reason in ("stop", "length")


def test_cancel_then_pull_again_keeps_finished_files(hub, repo_files):
    hub.bytes_per_s = 2e6
    job = model_manager.start_pull(VARIANT)
    deadline = time.monotonic() + 60
    small = {Path(k).name: len(v) for k, v in repo_files.items() if k.startswith(SUB) and k != DATA}

    def small_files_done() -> bool:
        # the pull fetches several files at once, so wait until each small one is whole on disk
        # (not merely requested) before cancelling; a loaded machine must not change what is tested
        on_disk = {}
        for f in model_manager.partial_dir(VARIANT).rglob("*"):
            try:
                on_disk[f.name] = f.stat().st_size
            except OSError:  # an .incomplete file renamed between listing and stat
                pass
        return all(on_disk.get(name) == size for name, size in small.items())

    # cancel mid-file: small files done, the big one on its way
    while not (small_files_done() and hub.file_gets("model.onnx.data")) and time.monotonic() < deadline:
        time.sleep(0.1)
    job.cancel()
    assert job.wait(30) and job.latest.stage == "cancelled"
    assert "pull again to resume" in job.latest.message
    assert model_manager.partial_bytes(VARIANT) > 0
    assert local_models.find("onnx", "tiny-phi3") is None

    hub.bytes_per_s = None
    model = model_manager.pull(VARIANT)
    assert model.path.is_dir() and not model_manager.partial_dir(VARIANT).exists()
    # small files finished before the cancel were not fetched again
    assert len(hub.file_gets("tokenizer.json")) == 1
    assert len(hub.file_gets("model.onnx.data")) == 2


def test_rm_refuses_while_answering_then_frees_the_space(hub, tiny_onnx):
    # installed by hand, the way the offline hint describes
    dest = local_models.models_root() / "onnx" / "tiny-phi3"
    shutil.copytree(tiny_onnx, dest)
    size = local_models.size_of(dest)
    stream = start_chat("onnx:tiny-phi3", [Message("user", "Count")], GenerationParams(max_tokens=200, temperature=0))
    chunks = iter(stream)
    next(chunks)  # generating: the model's lock is held
    with pytest.raises(model_manager.ModelInUse) as err:
        model_manager.remove("onnx:tiny-phi3")
    assert "answering right now" in err.value.user_message()
    assert dest.is_dir()
    stream.close()

    model, freed = model_manager.remove("onnx:tiny-phi3")
    assert freed == size > 12 * MiB and not dest.exists()
    assert "onnx:tiny-phi3" not in [t.target for t in list_targets()]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_network_says_so_and_how_to_copy_by_hand(hub, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(model_manager.Offline) as err:
        model_manager.pull(VARIANT)
    text = err.value.user_message()
    assert err.value.message.count(". ") == 0 and "cannot be reached" in err.value.message
    assert "models add PATH" in text and SUB in text and str(local_models.models_root()) in text
    assert not model_manager.partial_dir(VARIANT).exists()

    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(model_manager.Offline, match="offline mode is on"):
        model_manager.pull(VARIANT)
    assert hub.requests == []


def test_a_repo_that_moved_is_named_with_where_to_fix_it(hub):
    moved = Variant(model="gone", variant="onnx-cpu-int4", runtime="onnx", repo="test-org/gone", subfolder=SUB)
    with pytest.raises(BadRequest) as err:
        model_manager.pull(moved)
    assert f"test-org/gone (revision main) has no {SUB}/* on {hub.url}" in err.value.user_message()
    assert "local_variants.toml" in err.value.user_message()


def test_not_enough_space_is_refused_before_any_byte(hub, monkeypatch):
    monkeypatch.setenv("PHI_PLAYGROUND_MODELS_MAX_GB", "0.001")
    with pytest.raises(model_manager.NotEnoughSpace) as err:
        model_manager.pull(VARIANT)
    msg = err.value.user_message()
    assert re.search(r"needs 12\.6 MB more but only (1\.0 MB|99\d\.\d KB) is available", msg)
    assert "PHI_PLAYGROUND_MODELS_MAX_GB" in msg
    assert hub.file_gets() == []
    root = local_models.models_root()
    assert [p for p in root.rglob("*") if p.is_file() and p.stat().st_size > 0] == []


def test_cli_pull_list_rm_and_add(hub, tmp_path, monkeypatch):
    extra = tmp_path / "variants.toml"
    extra.write_text(
        f'[[variant]]\nmodel = "tiny-phi3"\nvariant = "onnx-cpu-int4"\nruntime = "onnx"\n'
        f'repo = "{REPO}"\nsubfolder = "{SUB}"\nlabel = "Tiny Phi-3"\ndownload_gb = 0.013\nmemory_gb = 0.1\n'
    )
    monkeypatch.setenv("PHI_PLAYGROUND_VARIANTS", str(extra))

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "services", "models", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)

    pulled = cli("pull", "tiny-phi3", "--variant", "onnx-cpu-int4")
    assert pulled.returncode == 0, pulled.stderr
    assert "[downloading" in pulled.stderr and "[done 100%]" in pulled.stderr
    assert "installed onnx:tiny-phi3" in pulled.stdout

    import json

    listing = json.loads(cli("--json").stdout)
    assert [m["target"] for m in listing["installed"]] == ["onnx:tiny-phi3"]
    assert any(v["key"] == "tiny-phi3/onnx-cpu-int4" and v["installed"] for v in listing["variants"])

    removed = cli("rm", "onnx:tiny-phi3")
    assert removed.returncode == 0 and "freed 12.6 MB" in removed.stdout

    (tmp_path / "notes").mkdir()
    bad = cli("add", str(tmp_path / "notes"))
    assert bad.returncode == 2
    assert all(word in bad.stderr for word in ("genai_config.json", "config.json", ".gguf"))


def test_models_page_download_button_installs_a_target(hub, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    extra = tmp_path / "variants.toml"
    extra.write_text(f'[[variant]]\nmodel = "tiny-phi3"\nvariant = "onnx-cpu-int4"\nruntime = "onnx"\n'
                     f'repo = "{REPO}"\nsubfolder = "{SUB}"\nlabel = "Tiny Phi-3"\ndownload_gb = 0.013\n'
                     f'memory_gb = 0.1\n')
    monkeypatch.setenv("PHI_PLAYGROUND_VARIANTS", str(extra))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    at.switch_page("app_pages/models.py").run()
    assert not at.exception
    hub.bytes_per_s = 2e6
    at.button(key="models_pull_tiny-phi3/onnx-cpu-int4").click().run()
    job = next(j for j in model_manager.jobs() if j.variant.key == "tiny-phi3/onnx-cpu-int4")
    deadline = time.monotonic() + 60
    while (job.latest.done_bytes == 0 or not hub.file_gets("model.onnx.data")) and time.monotonic() < deadline:
        time.sleep(0.1)
    at.run()
    bar = at.get("progress")[0]
    assert "Tiny Phi-3: " in readable(bar.proto.text) and " of 12.6 MB" in readable(bar.proto.text)
    at.button(key="models_cancel_tiny-phi3/onnx-cpu-int4").click().run()
    assert job.wait(30) and job.latest.stage == "cancelled"
    at.run()
    assert any("pull again to resume" in i.value for i in at.info)

    hub.bytes_per_s = None
    resume = at.button(key="models_pull_tiny-phi3/onnx-cpu-int4")
    assert readable(resume.label).startswith("Resume (")
    resume.click().run()
    job = next(j for j in model_manager.jobs() if j.variant.key == "tiny-phi3/onnx-cpu-int4")
    assert job.wait(120) and job.latest.stage == "done", job.latest
    at.run()
    assert not at.exception
    assert any("Installed as onnx:tiny-phi3" in readable(s.value) for s in at.success)
    assert "onnx:tiny-phi3" in [c.value for c in at.code]
    model_manager.forget(job)


def test_gguf_pull_becomes_a_llamacpp_target(tmp_path, monkeypatch):
    # a GGUF header and padding: enough for install and listing (llama.cpp answering from a GGUF
    # is covered by the llama.cpp backend's own tests on the embedded model)
    files = {"phi-q4.gguf": b"GGUF" + b"\3\0\0\0" + b"\0" * 4096, "README.md": b"#"}
    v = Variant(model="phi", variant="gguf-q4", runtime="gguf", repo="test-org/phi-gguf", file="phi-q4.gguf")
    monkeypatch.setenv("PHI_PLAYGROUND_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    with HubStandIn({v.repo: files}) as standin:
        monkeypatch.setenv("HF_ENDPOINT", standin.url)
        model = model_manager.pull(v)
        assert [r.path.rsplit("/", 1)[-1] for r in standin.file_gets()] == ["phi-q4.gguf"]
    assert model.target == "llamacpp:phi-q4" and model.path.read_bytes() == files["phi-q4.gguf"]
    assert local_models.installed("gguf") == [("phi-q4", model.path)]
    assert "llamacpp:phi-q4" in [t.target for t in list_targets()]
    assert model_manager.remove("llamacpp:phi-q4")[1] == len(files["phi-q4.gguf"])


def test_safetensors_pull_answers_through_transformers(tiny_phi3, tmp_path, monkeypatch):
    files = {p.name: p.read_bytes() for p in tiny_phi3.iterdir() if p.is_file()}
    files["README.md"] = b"#"
    v = Variant(model="tiny-phi3-hf", variant="safetensors", runtime="transformers", repo="test-org/tiny-phi3",
                patterns=("*.json", "*.safetensors", "*.jinja"), label="Tiny Phi-3 HF")
    monkeypatch.setenv("PHI_PLAYGROUND_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    with HubStandIn({v.repo: files}) as standin:
        monkeypatch.setenv("HF_ENDPOINT", standin.url)
        model = model_manager.pull(v)
        assert not any(r.path.endswith("README.md") for r in standin.file_gets())
    assert model.target == "transformers:tiny-phi3-hf" and model.target in [t.target for t in list_targets()]
    stream = start_chat(model.target, [Message("user", "Hi")], GenerationParams(max_tokens=4, temperature=0)).finish()
    assert stream.metrics.completion_tokens and stream.finish_reason in ("stop", "length")
    _m, freed = model_manager.remove(model.target)  # idle: unloaded from its backend, then deleted
    assert freed == model.size and not model.path.exists()
