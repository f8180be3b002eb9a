"""Uploads cost their parse once, are bounded before they are read, and their names never become paths."""

from __future__ import annotations

import json

import pytest

from services.errors import BadRequest, MediaError
from services.evaluate.problem_set import MAX_FILE_BYTES, MAX_PROBLEMS, parse_problems
from tests.fixtures.media_files import text_image
from ui import upload_cache
from ui.chat_attachments import prepare_files
from ui.file_download import MAX_NAME_CHARS, safe_file_name
from ui.upload_cache import parse_once


class Counted:
    """A parse function that counts its calls (and refuses what it is told to)."""

    def __init__(self, refuse: bool = False):
        self.calls, self.refuse = 0, refuse

    def __call__(self, data: bytes):
        self.calls += 1
        if self.refuse:
            raise BadRequest(f"{len(data)} bytes refused.")
        return {"size": len(data)}


def test_a_file_is_parsed_once_however_often_the_page_reruns():
    state, parse = {}, Counted()
    for _ in range(5):
        assert parse_once("rows", b"a,b\n1,2\n", parse, store=state) == {"size": 8}
    assert parse.calls == 1
    parse_once("rows", b"other bytes", parse, store=state)  # another file: parsed
    parse_once("prompt", b"a,b\n1,2\n", parse, store=state)  # the same bytes read another way: parsed
    assert parse.calls == 3


def test_a_refusal_is_kept_too():
    state, parse = {}, Counted(refuse=True)
    for _ in range(3):
        with pytest.raises(BadRequest, match="5 bytes refused"):
            parse_once("rows", b"12345", parse, store=state)
    assert parse.calls == 1


def test_the_kept_outcomes_are_bounded():
    state, parse = {}, Counted()
    for n in range(upload_cache.MAX_ENTRIES * 3):
        parse_once("rows", str(n).encode(), parse, store=state)
    assert len(state[upload_cache.STATE_KEY]) == upload_cache.MAX_ENTRIES


def test_a_problem_set_is_bounded_before_and_while_it_is_read():
    with pytest.raises(BadRequest, match="larger than 2 MB"):
        parse_problems(b"{}\n" * (MAX_FILE_BYTES // 3 + 1))
    # 660,000 empty objects in under 2 MB: the first line is the refusal, nothing else is read
    with pytest.raises(BadRequest, match="line 1: 'id' must be non-empty"):
        parse_problems(b"{}\n" * 660_000)
    line = {"category": "math", "difficulty": "easy", "question": "q?", "answer": "1", "answer_type": "number"}
    many = "\n".join(json.dumps({"id": f"p{n}", **line}) for n in range(MAX_PROBLEMS + 1))
    with pytest.raises(BadRequest, match=f"more than {MAX_PROBLEMS} problems"):
        parse_problems(many)


@pytest.mark.parametrize("name,saved", [
    ("../../x", "x"), ("..\\..\\evil.bat", "evil.bat"), ("/etc/passwd", "passwd"), (".bashrc", "bashrc"),
    ('a"b;c\r\nd.yml', "a_b;c__d.yml"), ("CON:<>|?*.csv", "CON______.csv"), ("", "download"), ("..", "download"),
    ("eval-2024.csv", "eval-2024.csv"), ("my prompt (1).prompt.yml", "my prompt (1).prompt.yml"),
])
def test_a_download_name_is_a_plain_file_name(name, saved):
    assert safe_file_name(name) == saved


def test_a_long_download_name_keeps_its_extension():
    name = safe_file_name("x" * 500 + ".prompt.yml")
    assert len(name) <= MAX_NAME_CHARS and name.endswith(".yml")


class Upload:
    """What an uploader hands the page: a name and the bytes, read on request (counted)."""

    def __init__(self, name: str, data: bytes):
        self.name, self.data, self.reads = name, data, 0

    def getvalue(self) -> bytes:
        self.reads += 1
        return self.data


def test_too_many_images_are_refused_before_any_is_decoded():
    files = [Upload(f"{n}.png", text_image(str(n))) for n in range(3)]
    parts, problems = prepare_files(files, max_images=2)
    assert parts == () and problems == ["This target takes at most 2 images per request; 3 were attached."]
    assert sum(f.reads for f in files) == 0
    parts, problems = prepare_files(files[:2], max_images=2)
    assert len(parts) == 2 and problems == []



def test_an_image_refused_once_is_refused_again_as_the_same_error():
    from services.media.images import prepare_image

    state = {}
    for _ in range(2):
        with pytest.raises(MediaError, match="x.png"):
            parse_once("compare image", b"GIF89a not really", lambda raw: prepare_image("x.png", raw).part, store=state)
    assert len(state[upload_cache.STATE_KEY]) == 1
