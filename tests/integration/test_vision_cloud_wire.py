"""What a cloud vision target receives on the wire: image_url data URIs in order, frame times labelled.

The server is the OpenAI-compatible stand-in in tests/standins/openai_sse.py (a loopback stand-in:
no cloud is reachable from tests); this checks the request body our prompt builder produced.
"""

import base64

import pytest

from services import config, media, video
from services.chat import start_chat
from services.types import GenerationParams
from services.vision import question_message
from tests.fixtures.media_files import scene_video, text_image
from tests.standins.openai_sse import OpenAIStandIn, Reply

pytestmark = pytest.mark.integration
MODEL = "microsoft/phi-3.5-vision-instruct"


def test_photo_and_frames_reach_an_openai_compatible_vision_model(tmp_path):
    photo = media.prepare_image("sign.png", text_image("STOP")).part
    frames = video.sample(scene_video(tmp_path / "s.mp4").read_bytes(), strategy="scene").parts()
    message = question_message("What happens after the sign?", [photo], frames)
    with OpenAIStandIn(models=(MODEL,), default=Reply.text("A red sign, then three scenes.")) as srv, \
            config.session({"OPENAI_BASE_URL": srv.url}):
        stream = start_chat(f"openai:{MODEL}", [message], GenerationParams(max_tokens=20)).run()
        body = srv.chat_requests[0].json
    assert stream.text == "A red sign, then three scenes."
    content = body["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["text", "image_url"] * 4 + ["text"]
    assert [p["text"] for p in content if p["type"] == "text"] == [
        "Image 1:", "Image 2 (video frame at 0:00.0):", "Image 3 (video frame at 0:02.0):",
        "Image 4 (video frame at 0:04.0):", "What happens after the sign?"]
    urls = [p["image_url"]["url"] for p in content if p["type"] == "image_url"]
    assert urls[0] == "data:image/png;base64," + base64.b64encode(photo.data).decode()
    assert all(u.startswith("data:image/jpeg;base64,") for u in urls[1:])
