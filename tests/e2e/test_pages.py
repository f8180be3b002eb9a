"""Vision, Compare and MoE in a real browser: uploads, frame strip, two metrics cards, one preset run."""

from __future__ import annotations

import pytest

from tests.e2e._app import (
    ARTIFACTS,
    AppServer,
    assert_no_traceback,
    chat,
    go_to,
    main_text,
    open_app,
    open_params,
    screenshot,
    set_number,
    uploader,
    wait_idle,
)
from tests.fixtures.media_files import scene_video, text_image

pytestmark = pytest.mark.e2e


def wait_metric(page, label: str, count: int, timeout_ms: int = 240_000) -> None:
    """Wait until `count` metrics labelled `label` are on the page, then until it settles."""
    page.wait_for_function(
        """([label, n]) => [...document.querySelectorAll("[data-testid='stMetricLabel']")]
                             .filter(e => e.innerText.trim() === label).length >= n""",
        arg=[label, count], timeout=timeout_ms)
    wait_idle(page)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> bytes:
    return scene_video(tmp_path_factory.mktemp("e2e-media") / "clip.mp4").read_bytes()


def test_vision_two_images_and_a_video_get_a_frame_strip_and_an_answer(page, app, clip):
    open_app(page, app)
    go_to(page, "Vision")
    open_params(page)
    set_number(page, "Max tokens", 24)
    uploader(page, "Images").set_input_files([
        {"name": "sign.png", "mimeType": "image/png", "buffer": text_image("STOP")},
        {"name": "door.png", "mimeType": "image/png", "buffer": text_image("EXIT", bg=(0, 120, 0))},
    ])
    wait_idle(page)
    uploader(page, "Video").set_input_files([{"name": "clip.mp4", "mimeType": "video/mp4", "buffer": clip}])
    page.get_by_text("Frames used", exact=False).first.wait_for(timeout=120_000)
    wait_idle(page)
    text = main_text(page)
    assert "Images (2)" in text and "Frames used" in text
    assert "clip.mp4:" in text and "10 fps" in text  # the video's facts above its strip
    # the strip: every image and frame numbered as the model sees it, frames with timestamps
    captions = page.get_by_test_id("stImageCaption").all_inner_texts()
    assert any(c.startswith("#1 · sign.png") for c in captions), captions
    assert any(c.startswith("#3 · 0:") for c in captions), captions
    chat(page, "What words are written on the images?")
    page.wait_for_function(
        """() => { const m = document.querySelectorAll("[data-testid='stChatMessage']");
                   return m.length >= 2 && m[m.length - 1].innerText.includes('total '); }""",
        timeout=240_000)
    wait_idle(page)
    answer = page.get_by_test_id("stChatMessage").last.inner_text()
    assert "tok/s" in answer or "TTFT" in answer
    assert_no_traceback(page)
    screenshot(page, "vision")


def test_a_vision_conversation_is_listed_and_reopens_with_its_image(page, app):
    open_app(page, app)
    go_to(page, "Vision")
    open_params(page)
    set_number(page, "Max tokens", 16)
    uploader(page, "Images").set_input_files([
        {"name": "exit-sign.png", "mimeType": "image/png", "buffer": text_image("EXIT", bg=(0, 120, 0))}])
    wait_idle(page)
    chat(page, "Which word is on the sign?")
    page.wait_for_function(
        """() => { const m = document.querySelectorAll("[data-testid='stChatMessage']");
                   return m.length >= 2 && m[m.length - 1].innerText.includes('total '); }""",
        timeout=240_000)
    wait_idle(page)
    sidebar = page.get_by_test_id("stSidebar")
    assert "🖼️ Which word is on the sign?" in sidebar.inner_text()
    # listed on the Chat page too; a click there opens it on the Vision page with its image and turns
    go_to(page, "Chat")
    sidebar.get_by_role("button", name="🖼️ Which word is on the sign?").click()
    page.get_by_text("Images (1)").wait_for(timeout=60_000)
    wait_idle(page)
    assert "/vision" in page.url and "c=" in page.url
    # the strip (and, for the OCR target, what it read) show the stored image
    captions = page.get_by_test_id("stImageCaption").all_inner_texts()
    assert any(c.startswith("#1 · exit-sign.png") for c in captions), captions
    messages = page.get_by_test_id("stChatMessage").all_inner_texts()
    assert len(messages) == 2 and "Which word is on the sign?" in messages[0] and "total " in messages[1]
    # a follow-up asks about the same image without uploading it again
    assert page.get_by_test_id("stChatInput").locator("textarea").is_enabled()
    assert_no_traceback(page)
    screenshot(page, "vision-reopened")


def test_compare_two_targets_show_two_metrics_cards(page, app):
    open_app(page, app)
    go_to(page, "Compare")
    chips = page.get_by_test_id("stSidebar").get_by_test_id("stMultiSelect").inner_text()
    # the default preset: one embedded model on two runtimes
    assert "onnx:smollm2-135m-instruct" in chips and "transformers:smollm2-135m-instruct" in chips
    open_params(page)
    set_number(page, "Max tokens", 16)
    page.get_by_label("Prompt", exact=True).fill("Name one planet.")
    page.get_by_role("button", name="▶ Compare").click()
    wait_metric(page, "TTFT", 2)
    assert page.get_by_test_id("stMetricLabel").filter(has_text="Tokens/s").count() == 2
    text = main_text(page)
    assert "onnx:smollm2-135m-instruct" in text and "transformers:smollm2-135m-instruct" in text
    assert_no_traceback(page)
    screenshot(page, "compare")


def test_moe_page_runs_one_preset(page, app):
    open_app(page, app)
    go_to(page, "MoE reasoning")
    open_params(page)
    set_number(page, "Max tokens", 64)
    page.get_by_role("button", name="Run", exact=True).click()
    wait_metric(page, "Final answer", 1)
    assert page.get_by_test_id("stMetricLabel").filter(has_text="Agreement").count() == 1
    assert "Sample 1:" in main_text(page)
    assert_no_traceback(page)
    screenshot(page, "moe")


def test_a_page_opened_by_its_url_on_a_fresh_server_keeps_the_app_menu(page, app):
    # its own server: with a folder named pages/ beside app.py, Streamlit ran the page alone in its
    # legacy mode until some session had run app.py; the pages live in app_pages/ for that reason
    fresh = AppServer(dict(app.env), ARTIFACTS / "server-fresh.log").start()
    try:
        open_app(page, fresh, "vision")
        nav = page.get_by_test_id("stSidebarNav").inner_text()
        assert "Chat" in nav and "MoE reasoning" in nav, nav
        assert "Phi Playground" in page.get_by_test_id("stSidebar").inner_text()
    finally:
        fresh.stop()
