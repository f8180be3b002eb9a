"""The download quota counts what running downloads will still write (against the hub stand-in)."""

from __future__ import annotations

import time

import pytest

from services.models import download as model_download

from services.models import manager as model_manager
from services.models.local import Variant
from tests.standins.hf_hub_standin import HubStandIn

pytestmark = pytest.mark.integration

MB = 1_000_000
A = Variant(model="quota-a", variant="gguf", runtime="gguf", repo="test-org/quota-a", file="a.gguf",
            label="Quota A", download_gb=0.006)
B = Variant(model="quota-b", variant="gguf", runtime="gguf", repo="test-org/quota-b", file="b.gguf",
            label="Quota B", download_gb=0.006)


@pytest.fixture()
def hub(tmp_path, monkeypatch):
    """Two 6 MB repos served slowly, and a 10 MB quota: either fits, both do not."""
    monkeypatch.setenv("PHI_PLAYGROUND_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("PHI_PLAYGROUND_MODELS_MAX_GB", "0.010")
    repos = {A.repo: {"a.gguf": b"GGUF" + b"\0" * (6 * MB)}, B.repo: {"b.gguf": b"GGUF" + b"\1" * (6 * MB)}}
    with HubStandIn(repos) as standin:
        standin.bytes_per_s = 0.5 * MB  # a dozen seconds for one file: the second pull starts meanwhile
        monkeypatch.setenv("HF_ENDPOINT", standin.url)
        yield standin


def test_two_pulls_started_together_cannot_overrun_the_quota(hub):
    job_a = model_manager.start_pull(A)
    try:
        deadline = time.monotonic() + 60
        while job_a.latest.stage != "downloading" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert job_a.latest.stage == "downloading", job_a.latest
        # A has written little yet; without counting its rest, B's 6 MB would seem to fit in 10 MB
        assert model_download.still_to_write() > 4 * MB
        job_b = model_manager.start_pull(B)
        assert job_b.wait(60)
        assert job_b.latest.stage == "failed"
        assert isinstance(job_b.error, model_manager.NotEnoughSpace)
        assert "counting downloads still running" in job_b.error.user_message()
        assert not model_download.partial_dir(B).exists()  # refused before any byte was written
        available, _limit = model_manager.space_available()
        assert available < 6 * MB
    finally:
        job_a.cancel()
        assert job_a.wait(30)
    # a download that ended holds no space it did not write
    assert model_download.still_to_write() == 0
    for job in (job_a, model_manager.jobs()[-1]):
        model_manager.forget(job)
