"""Browser fixtures: Debian's chromium through Playwright, the app on a free port, loopback stand-ins."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

import pytest

from tests.e2e._app import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, AppServer, collect_csp_violations, free_port
from tests.e2e.standin_targets import ExfilListener, ScriptedStandIn

REQUIRE = os.environ.get("PLAYGROUND_REQUIRE_BROWSER") == "1"


def _no_browser(reason: str):
    # CI (.ci/run) sets PLAYGROUND_REQUIRE_BROWSER=1: there a missing browser is a failure, not a skip
    if REQUIRE:
        pytest.fail(f"{reason} (PLAYGROUND_REQUIRE_BROWSER=1, so this is an error)", pytrace=False)
    pytest.skip(f"{reason}; install it with `apt-get install chromium` to run the browser tests")


@pytest.fixture(scope="package")
def browser():
    """One chromium for the whole run (Debian's, by path: Playwright's download cannot run here)."""
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        _no_browser(f"no chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _no_browser("the playwright package is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="package")
def canaries() -> dict[str, str]:
    """A distinct fake key for every provider's key setting; none may ever be seen anywhere."""
    tag = secrets.token_hex(6)
    return {
        "GITHUB_TOKEN": f"ghp_CANARYgithub{tag}",
        "AZURE_AI_API_KEY": f"CANARYazure{tag}",
        "NVIDIA_API_KEY": f"nvapi-CANARYnim{tag}",
        "OPENAI_API_KEY": f"sk-CANARYopenai{tag}",
    }


@pytest.fixture(scope="package")
def exfil():
    """A loopback listener that must never receive a request (markdown-image exfiltration)."""
    with ExfilListener() as srv:
        yield srv


@pytest.fixture(scope="package")
def standin(canaries, exfil):
    """The OpenAI-compatible stand-in behind `openai:<model>`; each model name scripts one behaviour."""
    with ScriptedStandIn(echo_key=canaries["OPENAI_API_KEY"]) as srv:
        srv.exfil_url = exfil.root
        yield srv


@pytest.fixture(scope="package")
def app_home(tmp_path_factory) -> Path:
    """The app's own data folder (database, models, secrets.toml), scanned for keys afterwards."""
    return tmp_path_factory.mktemp("e2e-app")


@pytest.fixture(scope="package")
def app(browser, embedded_paths, standin, canaries, app_home):
    """`streamlit run app.py` with a canary key for every provider; stopped whatever happens."""
    env = dict(os.environ)
    data = app_home / "data"
    secrets_file = app_home / "secrets.toml"
    # one key comes from secrets.toml, the rest from the environment: both paths are scanned
    secrets_file.write_text(f'NVIDIA_API_KEY = "{canaries["NVIDIA_API_KEY"]}"\n')
    env.update({
        "PHI_PLAYGROUND_DATA": str(data),
        "PHI_PLAYGROUND_DB": str(data / "playground.db"),
        "PHI_PLAYGROUND_MODELS": str(app_home / "models"),
        "PHI_PLAYGROUND_SECRETS": str(secrets_file),
        "GITHUB_TOKEN": canaries["GITHUB_TOKEN"],
        "AZURE_AI_API_KEY": canaries["AZURE_AI_API_KEY"],
        "OPENAI_API_KEY": canaries["OPENAI_API_KEY"],
        "OPENAI_BASE_URL": standin.url,
        # an Azure deployment whose server is down: nothing listens on this port
        "AZURE_AI_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        "AZURE_AI_DEPLOYMENTS": "phi-down",
        "OLLAMA_HOST": f"http://127.0.0.1:{free_port()}",
        "PYTHONUNBUFFERED": "1",
    })
    env.pop("NVIDIA_API_KEY", None)
    # screenshots and logs from an earlier run would be mistaken for this one's
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    server = AppServer(env, ARTIFACTS / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(browser, app, request):
    """A fresh browser context (its own Streamlit session) with dialogs recorded, screenshot at the end."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    context.set_default_timeout(60_000)
    pg = context.new_page()
    pg.dialogs = []
    # every URL the page fetched by itself, to check none leaves the app's own origin
    pg.requests = []
    pg.on("request", lambda r: pg.requests.append(r.url))
    # the app's own features must work under its Content-Security-Policy: checked after the test
    collect_csp_violations(context, pg)

    def on_dialog(d):
        pg.dialogs.append(d.message)
        d.dismiss()

    pg.on("dialog", on_dialog)
    try:
        yield pg
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        try:
            pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        except Exception:  # a crashed page must not hide the test's own failure
            pass
        context.close()
    # a test that provokes a violation on purpose takes it with take_csp_violations()
    assert pg.csp_violations == [], f"the page broke its Content-Security-Policy: {pg.csp_violations}"
