"""What remote vision targets receive on the wire: OpenAI image_url data URIs, Ollama base64 bytes, frame times.

The servers are loopback stand-ins (tests/standins/openai_sse.py, tests/standins/ollama_ndjson.py):
no cloud and no Ollama are reachable from tests; these check the request bodies our prompt builders made.
"""

import base64

import pytest

from services import config

from services.media import images as media

from services.media import video
from services.chat import start_chat
from services.types import GenerationParams
from services.media.vision import question_message
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
        stream = start_chat(f"openai:{MODEL}", [message], GenerationParams(max_tokens=20)).finish()
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


def test_a_frame_reaches_ollama_llava_phi3_as_base64_bytes_with_its_time(tmp_path):
    from tests.standins.ollama_ndjson import OllamaStandIn

    frame = video.sample(scene_video(tmp_path / "s.mp4").read_bytes(), frames=3).parts()[1]
    message = question_message("What colour is it?", [], [frame])
    with OllamaStandIn(models=("llava-phi3:latest",), reply=("Green", ".")) as srv, \
            config.session({"OLLAMA_HOST": srv.root}):
        stream = start_chat("ollama:llava-phi3", [message], GenerationParams(max_tokens=20)).finish()
        sent = srv.chat_requests[0].json["messages"][-1]
    assert stream.text == "Green."
    assert sent["images"] == [base64.b64encode(frame.data).decode()]
    assert sent["content"] == "Video frames in time order: image 1 at 0:03.0.\nWhat colour is it?"
