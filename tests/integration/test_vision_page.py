"""AppTest: the vision page with real uploads, bad files explained, frames shown, answers and follow-ups."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from tests.fixtures.media_files import EXECUTABLE, plain_image, scene_video, text_image
from tests.readable import readable

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> bytes:
    return scene_video(tmp_path_factory.mktemp("page") / "clip.mp4").read_bytes()


def page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    return at.switch_page("app_pages/vision.py").run()


def texts(elements) -> list[str]:
    return [readable(e.value) for e in elements]


def test_page_loads_and_names_the_offline_target_honestly():
    at = page()
    assert not at.exception
    assert any("Vision" in t for t in texts(at.title))
    assert any("reads the text" in i and "does not see" in i for i in texts(at.info))
    assert at.chat_input(key="vision_input").disabled  # nothing to ask about yet


def test_bad_files_are_explained_and_the_good_ones_still_work(embedded_paths, clip):
    at = page()
    at.slider(key="vision_frames").set_value(2)
    at.slider(key="vision_temperature").set_value(0.0)
    at.number_input(key="vision_max_tokens").set_value(30)
    at.file_uploader(key="vision_images").set_value([
        ("sign.png", text_image("STOP"), "image/png"),
        ("evil.jpg", EXECUTABLE, "image/jpeg"),
        ("empty.png", b"", "image/png"),
    ]).run()
    at.file_uploader(key="vision_video").set_value([("clip.mp4", clip, "video/mp4")]).run()
    assert not at.exception
    errors = texts(at.error)
    assert any("evil.jpg is a program (executable), not an image" in e for e in errors)
    assert any("empty.png is empty (0 bytes)" in e for e in errors)
    assert "Images (1)" in texts(at.subheader) and "Frames used (2)" in texts(at.subheader)
    captions = texts(at.caption)
    assert any("clip.mp4: 0:06.0 long, 10 fps, about 60 frames" in c for c in captions)
    assert any("Image-token estimate" in c for c in captions)

    at.chat_input(key="vision_input").set_value("What word is written on the sign?").run()
    assert not at.exception
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    answer = at.chat_message[1]
    # the words themselves are tested on the ocr: target directly; here the page streams and measures
    assert answer.markdown[0].value.strip()
    assert any("tok/s" in readable(c.value) for c in answer.caption)

    at.chat_input(key="vision_input").set_value("Say it again.").run()
    assert not at.exception
    assert [m.name for m in at.chat_message] == ["user", "assistant", "user", "assistant"]


def test_png_named_mp4_and_truncated_video_are_named(clip):
    at = page()
    at.file_uploader(key="vision_images").set_value([("ok.png", plain_image(), "image/png")]).run()
    at.file_uploader(key="vision_video").set_value([("movie.mp4", plain_image(), "video/mp4")]).run()
    assert not at.exception
    assert any("movie.mp4 is a PNG image, not a video" in e for e in texts(at.error))
    assert "Images (1)" in texts(at.subheader)
    at.file_uploader(key="vision_video").set_value([("cut.mp4", clip[: len(clip) // 2], "video/mp4")]).run()
    assert not at.exception
    assert any("cut.mp4: no frame could be read" in e for e in texts(at.error))
    assert not at.chat_input(key="vision_input").disabled  # the image alone can still be asked about


def test_chat_page_takes_images_for_vision_targets(embedded_paths):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    assert [c.key for c in at.chat_input] == ["chat_input"]  # a text target: no attachments
    at.selectbox(key="chat_target").set_value("ocr:smollm2-135m-instruct").run()
    at.slider(key="chat_temperature").set_value(0.0)
    at.number_input(key="chat_max_tokens").set_value(20)
    # a bad file: nothing is sent, the reason and the typed text are shown
    at.chat_input(key="chat_input_with_images").set_value("What is this?").upload(
        "photo.jpg", EXECUTABLE, "image/jpeg").run()
    assert not at.exception
    assert any("photo.jpg is a program (executable)" in e for e in texts(at.error))
    assert any(c.value == "What is this?" for c in at.code)
    assert len(at.chat_message) == 0
    at.chat_input(key="chat_input_with_images").set_value("What word is on the sign?").upload(
        "sign.png", text_image("STOP"), "image/png").run()
    assert not at.exception
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    assert at.chat_message[1].markdown[0].value.strip()


def test_page_shows_what_the_ocr_target_read_beside_each_image(embedded_paths):
    at = page()
    at.file_uploader(key="vision_images").set_value([("sign.png", text_image("STOP"), "image/png")]).run()
    assert not at.exception
    reads = [e for e in at.expander if "What the OCR target reads" in e.label]
    assert reads, [e.label for e in at.expander]
    assert [c.value for c in reads[0].code] == ['"STOP" (middle left)']
    assert any("mostly red" in readable(m.value) for m in reads[0].markdown)
    assert reads[0].get("image")  # the image with its boxes drawn
