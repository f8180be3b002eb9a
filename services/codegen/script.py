"""A generated script, the files that go beside it, and the pieces every script shares."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from services import config
from services.codegen.literals import literal


@dataclass(frozen=True)
class Script:
    """A runnable Python script for one request, and the files it reads (images) by name."""

    filename: str
    text: str
    runtime: str
    attachments: dict[str, bytes] = field(default_factory=dict)
    # what the script needs installed, one pip requirement each
    requirements: tuple[str, ...] = ()

    @property
    def download_name(self) -> str:
        """The script alone, or a zip holding the script and its images."""
        return self.filename if not self.attachments else self.filename.rsplit(".", 1)[0] + ".zip"

    def download_bytes(self) -> bytes:
        """The script's bytes, or a zip of the script and its attachments."""
        if not self.attachments:
            return self.text.encode("utf-8")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(self.filename, self.text)
            for name, data in self.attachments.items():
                zf.writestr(name, data)
        return buf.getvalue()

    @property
    def mime(self) -> str:
        """The download's media type."""
        return "application/zip" if self.attachments else "text/x-python"


def header(runtime: str, filename: str, requirements: tuple[str, ...], notes: tuple[str, ...] = ()) -> str:
    """The docstring that opens every script: fixed text only (user text goes in through literal())."""
    lines = [f'"""The playground\'s last request, run with {runtime}.', "",
             f"Needs: pip install {' '.join(requirements)}", f"Run:   python {filename}"]
    lines += [""] + list(notes) if notes else []
    lines += ['"""', "", "from __future__ import annotations", ""]
    return "\n".join(lines) + "\n"


# the app cuts an answer just before the first stop string (services/backends/base.py StopMatcher)
CUT_AT_STOP = '''

def cut_at_stop(text: str, stops) -> tuple[str, bool]:
    """The text before the first stop string, and whether one was found (as the playground cuts it)."""
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return (text[: min(found)], True) if found else (text, False)
'''

READ_FILE = '''

HERE = Path(__file__).resolve().parent


def read_file(name: str) -> bytes:
    """An image saved next to this script."""
    return (HERE / name).read_bytes()
'''

MAIN = '''

if __name__ == "__main__":
    main()
'''


def assign(name: str, value) -> str:
    """`NAME = <literal>` on its own line(s)."""
    return f"{name} = {literal(value)}\n"


def without_secrets(address: str) -> str:
    """The address with its user, password and every query value but api-version taken out."""
    try:
        parts = urlsplit(address)
        host = parts.netloc.rpartition("@")[2]
        query = "&".join(item for item in parts.query.split("&")
                         if item.partition("=")[0].lower() in config.PLAIN_QUERY) if parts.query else ""
        return urlunsplit((parts.scheme, host, parts.path, query, ""))
    except ValueError:
        return ""


def address_assignment(name: str, address: str, env_name: str) -> str:
    """`NAME = os.environ.get(ENV) or 'address'`; an address holding credentials (a user and password, an
    ?api-key=) is written without them, and a comment says they are read from the environment."""
    if not config.url_secrets(address):
        return f"{name} = os.environ.get({literal(env_name)}) or {literal(address)}\n"
    return (f"# the configured address holds credentials: they are read from ${env_name} (set it to the whole\n"
            f"# address), never written here\n"
            f"{name} = os.environ.get({literal(env_name)}) or {literal(without_secrets(address))}\n")
