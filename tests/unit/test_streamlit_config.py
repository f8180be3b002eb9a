"""Streamlit's options as the app runs them: XSRF on, CORS on, upload cap, no error details for users."""

from __future__ import annotations

import tomllib

import pytest

from tests.conftest import ROOT


@pytest.fixture
def options(monkeypatch):
    """Streamlit's own parser over .streamlit/config.toml (it reads the file from the working dir)."""
    from streamlit import config

    monkeypatch.chdir(ROOT)
    for var in [v for v in __import__("os").environ if v.startswith("STREAMLIT_")]:
        monkeypatch.delenv(var)  # env overrides would hide what the file says
    config.get_config_options(force_reparse=True)
    yield config.get_option
    config.get_config_options(force_reparse=True)


def test_security_options_hold(options):
    assert options("server.enableXsrfProtection") is True
    assert options("server.enableCORS") is True
    # a person sees a sentence, never a traceback or an exception message
    assert options("client.showErrorDetails") == "none"
    assert options("browser.gatherUsageStats") is False
    # tables offer no CSV download of their own: Streamlit's writes formula cells as they are
    assert options("client.disableDataExport") is True


def test_private_by_default(options):
    # loopback only unless the owner asks for more (app.py then demands PHI_PLAYGROUND_TOKEN)
    assert options("server.address") == "127.0.0.1"
    # app.py prints the address itself, after the bind rule: Streamlit's own lines would list a Network URL
    assert options("logger.hideWelcomeMessage") is True


def test_upload_caps_are_consistent(options):
    from services.media import images as media

    server_mb = options("server.maxUploadSize")
    assert server_mb == 50
    assert media.SERVER_MAX_UPLOAD_MB == server_mb
    # the app's own caps sit at or below the server's, so the app's message is the one people see
    assert media.MAX_IMAGE_BYTES <= server_mb * media.MB
    assert media.MAX_VIDEO_BYTES <= server_mb * media.MB
    assert options("server.maxMessageSize") >= server_mb


def test_config_file_is_what_streamlit_reads():
    # the values above come from the file, not from Streamlit's defaults
    raw = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert raw["server"]["maxUploadSize"] == 50
    assert raw["client"]["showErrorDetails"] == "none"
    assert (ROOT / ".gitignore").read_text().count(".streamlit/secrets.toml") == 1
