"""Run the real app (`streamlit run app.py`) on a free port and drive it with Playwright helpers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM = os.environ.get("PLAYGROUND_CHROMIUM", "/usr/bin/chromium")
# the flags a sandboxed CI container needs, and nothing that phones home
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
# one run of a page can include loading a model on a loaded 2-core machine
RUN_TIMEOUT_MS = 180_000
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """`streamlit run app.py` in its own process group, its output in a log file; always stopped."""

    def __init__(self, env: dict[str, str], log_path: Path, *, address: str | None = "127.0.0.1"):
        self.env = env
        self.log_path = log_path
        # None: no flag, so the address comes from .streamlit/config.toml as for a person running the app
        self.address = address
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def token(self) -> str | None:
        """The access token the server demands, if its environment sets one."""
        return self.env.get("PHI_PLAYGROUND_TOKEN") or None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 120) -> AppServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")
        # the flags Streamlit's own e2e suite uses (runtime-facts.md section 7)
        cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
               "--server.headless", "true", "--server.port", str(self.port),
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
        if self.address is not None:
            cmd += ["--server.address", self.address]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                health = urllib.request.Request(self.url + "/_stcore/health")
                if self.token:
                    health.add_header("Authorization", f"Bearer {self.token}")
                with urllib.request.urlopen(health, timeout=2) as r:
                    if r.read().strip() == b"ok":
                        return self
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"streamlit did not become healthy in {timeout_s} s:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        """Stop our own process group: SIGTERM, then SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = os.getpgid(self.proc.pid)
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def rss_mb(self) -> float:
        """Resident memory of the server process now, in MB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def mappings_of(self, path: Path) -> int:
        """How many memory mappings of this file the server holds (one og.Model maps its weights once)."""
        target = str(path)
        with open(f"/proc/{self.proc.pid}/maps") as f:
            return sum(1 for line in f if line.rstrip().endswith(target))


# ---------- Content-Security-Policy violations ----------

# every violation the page reports, also from documents loaded later (an init script runs in each)
CSP_LISTENER = """document.addEventListener('securitypolicyviolation', e => window.__playgroundCsp && window.__playgroundCsp(
    `${e.effectiveDirective} blocked ${e.blockedURI || '(inline)'} in ${e.sourceFile || e.documentURI}`), true);"""


def collect_csp_violations(context, page) -> None:
    """Record CSP violations of every document in `context` on `page.csp_violations` (events and console)."""
    page.csp_violations = []
    context.expose_function("__playgroundCsp", lambda text: page.csp_violations.append(f"event: {text}"))
    context.add_init_script(CSP_LISTENER)
    page.on("console", lambda m: page.csp_violations.append(f"console: {m.text[:300]}")
            if "Content Security Policy" in m.text else None)


def take_csp_violations(page) -> list[str]:
    """The violations recorded so far, cleared: a test that provokes some takes them, the rest must be none."""
    taken, page.csp_violations[:] = list(page.csp_violations), []
    return taken


# ---------- driving a page ----------

SETTLED = """() => {
    const app = document.querySelector("[data-testid='stApp']");
    return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
        && app.getAttribute('data-test-connection-state') === 'CONNECTED'
        && !document.querySelector("[data-testid='stSkeleton'], [data-testid='stStatusWidgetRunningIcon'],"
                                   + " [data-testid='stStatusWidgetRunningManIcon'], [data-stale='true']");
}"""


def wait_idle(page, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Wait until the script run the last action triggered has finished and the page has settled."""
    # a run may not have started yet when this is called, and a page that calls st.rerun() is
    # briefly idle between two runs: wait until it has stayed settled for a while
    page.wait_for_timeout(300)
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        left = max(int((deadline - time.monotonic()) * 1000), 1000)
        page.wait_for_function(SETTLED, timeout=left, polling=100)
        page.wait_for_timeout(500)
        if page.evaluate(SETTLED):
            return


def open_app(page, server: AppServer, path: str = "") -> None:
    """Load a page of the app and wait for its first run."""
    page.goto(f"{server.url}/{path}", wait_until="domcontentloaded")
    # every page starts with a title; before the first run the app is idle but empty
    page.wait_for_selector("[data-testid='stMainBlockContainer'] h1", timeout=RUN_TIMEOUT_MS)
    wait_idle(page)


def go_to(page, title: str) -> None:
    """Switch page through the sidebar navigation, as a person does."""
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    wait_idle(page)


def set_number(page, label: str, value, *, within=None) -> None:
    """Type into a number or text input found by its label, and commit it with Enter."""
    scope = within or page
    box = scope.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def slider_to_min(page, label: str) -> None:
    """Move a slider to its lowest value with the keyboard (Home), as a person can."""
    box = page.get_by_test_id("stSlider").filter(
        has=page.get_by_test_id("stWidgetLabel").get_by_text(label, exact=True))
    thumb = box.get_by_role("slider")
    thumb.focus()
    thumb.press("Home")
    wait_idle(page)


def open_params(page) -> None:
    """Open the sidebar's Parameters expander (closed by default)."""
    exp = page.get_by_test_id("stSidebar").get_by_test_id("stExpander").filter(has_text="Parameters").first
    details = exp.locator("details")
    if details.get_attribute("open") is None:
        exp.locator("summary").click()
        page.wait_for_timeout(200)


def pick(page, label: str, option: str, *, within=None) -> None:
    """Choose an option in a selectbox found by its label, typing to filter as a person would."""
    scope = within or page
    box = scope.get_by_role("combobox", name=label).first
    box.click()
    page.keyboard.type(option)
    page.get_by_role("option").filter(has_text=option).first.click()
    wait_idle(page)


def pick_target(page, target: str) -> None:
    """Choose a target in the sidebar's target picker."""
    pick(page, "Target", target, within=page.get_by_test_id("stSidebar"))


def add_to_multiselect(page, field, option: str) -> None:
    """Type `option` into a multiselect's combobox and pick it, retried when a rerun redrew the box."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):
        field.click()
        field.fill(option)
        try:
            page.get_by_role("option").filter(has_text=option).first.click(timeout=15_000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            wait_idle(page)
            if attempt == 2:
                raise


def download(page, button, wait_ms: int = 20_000):
    """Click a download button and return the Download; clicked once more if no download began.

    Seen twice on the 2-core machine (once in a full run, once in a group of browser files): the click
    returned and no download began in 60 s, while the same test passed alone, also under CPU load. A
    second click fetches the same file (downloads do not rerun the script), so the check still needs a
    real download of the right file; the warning records the miss.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(2):
        try:
            with page.expect_download(timeout=wait_ms) as dl:
                button.click()
            return dl.value
        except PlaywrightTimeout:
            if attempt:
                raise
            asked = [u for u in page.requests if "/media/" in u]
            # shown in the run's warnings summary, so a first click that misses stays visible
            warnings.warn(f"no download after the first click on {button}; file requests so far: {asked[-3:]}",
                          stacklevel=2)
            wait_idle(page)


def uploader_box(page, label: str):
    """The file uploader widget labelled `label`."""
    return page.get_by_test_id("stFileUploader").filter(
        has=page.get_by_test_id("stWidgetLabel").get_by_text(label, exact=True))


def uploader(page, label: str):
    """The file input of the uploader labelled `label`."""
    return uploader_box(page, label).get_by_test_id("stFileUploaderDropzoneInput")


def chat(page, text: str, *, input_testid: str = "stChatInput") -> None:
    """Type a question in the chat input and send it with Enter."""
    area = page.get_by_test_id(input_testid).locator("textarea")
    area.fill(text)
    area.press("Enter")


def wait_answer(page, done: str = "Regenerate", timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Wait until a streamed answer is finished and stored: no typing cursor, no Stop, `done` shown.

    The script-state flag alone is not enough: a page that calls st.rerun() reports idle for a
    moment (a second on a busy machine) before the rerun renders.
    """
    page.wait_for_function(
        """done => {
            const buttons = [...document.querySelectorAll('button')].map(b => b.innerText);
            return !document.body.innerText.includes('\u258c')
                && !buttons.some(t => t.includes('⏹'))
                && buttons.some(t => t.includes(done));
        }""", arg=done, timeout=timeout_ms)
    wait_idle(page, timeout_ms)


def watch_text(page, selector: str) -> None:
    """Record every distinct text the last element matching selector shows (to see streaming)."""
    page.evaluate("""sel => {
        window.__seen = [];
        const note = () => {
            const all = document.querySelectorAll(sel);
            const t = all.length ? all[all.length - 1].innerText : '';
            if (t && window.__seen[window.__seen.length - 1] !== t) window.__seen.push(t);
        };
        window.__obs && window.__obs.disconnect();
        window.__obs = new MutationObserver(note);
        window.__obs.observe(document.body, {subtree: true, childList: true, characterData: true});
    }""", selector)


def seen_texts(page) -> list[str]:
    return page.evaluate("() => window.__seen || []")


def main_text(page) -> str:
    """What a person reads in the main area."""
    return page.get_by_test_id("stMainBlockContainer").inner_text()


def assert_no_traceback(page) -> None:
    """No exception box, no Python traceback, no stray object dump anywhere on the page."""
    assert page.get_by_test_id("stException").count() == 0
    # st.help output means a bare expression in a page was written out by Streamlit's "magic"
    assert page.get_by_test_id("stHelp").count() == 0, "a page wrote an object out by Streamlit magic"
    body = page.locator("body").inner_text()
    assert "Traceback (most recent call last)" not in body
    assert not re.search(r'File ".*\.py", line \d+', body)


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/e2e/ (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
