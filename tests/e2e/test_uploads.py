"""Uploads through the browser: bombs, lies about type, empty and oversized files get a sentence, not a crash."""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

import pytest

from tests.e2e._app import ROOT, assert_no_traceback, go_to, main_text, open_app, uploader, uploader_box, wait_idle
from tests.fixtures.media_files import EXECUTABLE, png_header_only_bomb, text_image

pytestmark = pytest.mark.e2e


def _errors(page) -> str:
    return "\n".join(page.get_by_test_id("stAlert").all_inner_texts())


def test_hostile_uploads_get_a_sentence_and_the_page_keeps_working(page, app, app_home):
    open_app(page, app)
    go_to(page, "Vision")
    escape = f"e2e-escape-{secrets.token_hex(4)}.png"
    uploader(page, "Images").set_input_files([
        # 20000 x 20000 pixels (400 MP) in a few tens of KB: a decompression bomb
        {"name": "bomb.png", "mimeType": "image/png", "buffer": png_header_only_bomb(20000, 20000)},
        # a Windows program named like a picture: refused by content, not by name
        {"name": "evil.png", "mimeType": "image/png", "buffer": EXECUTABLE},
        {"name": "empty.png", "mimeType": "image/png", "buffer": b""},
        # a good image whose name tries to climb out of any folder it might be saved in
        {"name": f"../../{escape}", "mimeType": "image/png", "buffer": text_image("OPEN")},
    ])
    wait_idle(page)
    errors = _errors(page)
    assert "bomb.png" in errors and "megapixel" in errors, errors
    assert "evil.png is a program" in errors and "not an image" in errors, errors
    assert "empty.png is empty (0 bytes)" in errors, errors
    assert "Images (1)" in main_text(page)  # the good one still works
    # a picture handed in as the video: the video uploader sniffs it too
    uploader(page, "Video").set_input_files([
        {"name": "clip.mp4", "mimeType": "video/mp4", "buffer": text_image("NOT A VIDEO")}])
    wait_idle(page)
    errors = _errors(page)
    assert "clip.mp4 is a PNG image, not a video" in errors, errors
    # over the images' cap (20 MB): refused before it is even sent, with the limit named
    big = text_image("BIG") + b"\x00" * (21 * 1024 * 1024)
    uploader(page, "Images").set_input_files([{"name": "big.png", "mimeType": "image/png", "buffer": big}])
    wait_idle(page)
    refusal = uploader_box(page, "Images").inner_text()
    assert "big.png" in refusal and "must be 20.0MB or smaller" in refusal, refusal
    assert_no_traceback(page)
    assert page.dialogs == []
    # the page still works: the good image is there and a question can be asked about it
    assert page.get_by_test_id("stImage").count() >= 1
    assert page.get_by_test_id("stChatInput").locator("textarea").is_enabled()
    # the upload's name was never used as a path
    for folder in (ROOT, ROOT.parent, Path(tempfile.gettempdir()), app_home):
        assert not list(folder.glob(escape)) and not list(folder.glob(f"*/{escape}"))
