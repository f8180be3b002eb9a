"""Run files: media kept with their hashes, bad files refused with a reason, same images re-sent on re-run.

HTTP targets are served by the loopback OpenAI SSE stand-in (tests/standins), so no model loads.
"""

import base64
import json

import pytest

from services import config

from services.compare import runfile
from services.compare.run import CompareSpec, run_compare
from services.errors import BadRequest, MediaError
from services.types import GenerationParams, ImagePart
from tests.fixtures.media_files import plain_image
from tests.standins.openai_sse import OpenAIStandIn, Reply

VISION = "openai:phi-3.5-vision-instruct"
TEXT = "openai:m-text"


@pytest.fixture
def png() -> ImagePart:
    return ImagePart(plain_image(), "image/png", "red.png")


def test_round_trip_keeps_prompt_params_targets_and_media(png):
    params = [GenerationParams(temperature=0, max_tokens=5, seed=3), GenerationParams(top_p=0.5, stop=("x",))]
    spec = CompareSpec.build("What colour?", [VISION, TEXT], params, system="Be brief.", images=[png],
                             concurrent_local=True)
    run = runfile.build_run(spec, votes=[{"target_a": VISION, "target_b": TEXT, "outcome": "tie"}])
    assert run["media"][0]["sha256"] == runfile.sha256(png.data)
    assert run["media"][0]["bytes"] == len(png.data)
    loaded = runfile.loads(runfile.dumps(run).encode("utf-8"))
    again = runfile.spec_from_run(loaded)
    assert again == spec
    assert loaded["votes"][0]["outcome"] == "tie"


def test_damaged_or_foreign_files_are_refused_with_a_reason(png):
    good = runfile.build_run(CompareSpec.build("Hi", [VISION, TEXT], images=[png]))

    def broken(**changes):
        run = json.loads(runfile.dumps(good))
        for key, value in changes.items():
            run[key] = value
        return json.dumps(run)

    with pytest.raises(BadRequest, match="not JSON"):
        runfile.loads("{nope")
    with pytest.raises(BadRequest, match='"format" must be'):
        runfile.loads(broken(format="something-else"))
    with pytest.raises(BadRequest, match="newer than this app reads"):
        runfile.loads(broken(version=99))
    with pytest.raises(BadRequest, match="targets needs at least 1 item"):
        runfile.loads(broken(targets=[]))
    with pytest.raises(BadRequest, match=r"votes\[0\].outcome must be one of a, b, tie, both_bad"):
        runfile.loads(broken(votes=[{"outcome": "left"}]))
    with pytest.raises(BadRequest, match=r"targets\[0\].params has an unknown field 'colour'"):
        runfile.spec_from_run(runfile.loads(broken(targets=[{"target": VISION, "params": {"colour": 1}},
                                                            {"target": TEXT}])))
    with pytest.raises(BadRequest, match="not UTF-8"):
        runfile.loads(b"\xff\xfe{}")

    media = good["media"][0]
    tampered = dict(media, data_base64=base64.b64encode(plain_image(colour=(0, 0, 255))).decode())
    with pytest.raises(MediaError, match="does not match its sha256"):
        runfile.spec_from_run(runfile.loads(broken(media=[tampered])))
    program = b"MZ" + b"\0" * 100
    exe = dict(media, data_base64=base64.b64encode(program).decode(), sha256=runfile.sha256(program),
               mime="image/png")
    with pytest.raises(MediaError, match="a program"):
        runfile.spec_from_run(runfile.loads(broken(media=[exe])))
    with pytest.raises(MediaError, match="not valid base64"):
        runfile.spec_from_run(runfile.loads(broken(media=[dict(media, data_base64="%%%")])))


def test_images_go_to_the_vision_target_and_text_targets_say_they_got_none(png):
    with OpenAIStandIn(models=("phi-3.5-vision-instruct", "m-text")) as srv, \
            config.session({"OPENAI_BASE_URL": srv.url}):
        run = run_compare(CompareSpec.build("What colour?", [VISION, TEXT], images=[png]))
        bodies = {r.json["model"]: json.dumps(r.json) for r in srv.chat_requests}
    assert all(r.ok for r in run.results)
    encoded = base64.b64encode(png.data).decode()
    assert encoded in bodies["phi-3.5-vision-instruct"]
    assert encoded not in bodies["m-text"] and "What colour?" in bodies["m-text"]
    assert run.results[0].notices == ()
    assert "reads text only" in run.results[1].notices[0]


def test_cli_export_and_rerun_send_the_same_image(tmp_path, capsys):
    from services.__main__ import main

    image_file = tmp_path / "photo-with-a-name.png"
    image_file.write_bytes(plain_image(size=(40, 30), colour=(0, 128, 0)))
    run_file = tmp_path / "run.json"
    with OpenAIStandIn(models=("phi-3.5-vision-instruct", "m-text")) as srv, \
            config.session({"OPENAI_BASE_URL": srv.url}):
        rc = main(["compare", "What colour?", "--target", VISION, "--target", TEXT, "--image", str(image_file),
                   "--max-tokens", "20", "--export", str(run_file), "--json"])
        first = json.loads(capsys.readouterr().out)
        assert rc == 0
        assert main(["compare", "--rerun", str(run_file), "--json"]) == 0
        second = json.loads(capsys.readouterr().out)
        sent = [json.dumps(r.json) for r in srv.chat_requests if r.json["model"] == "phi-3.5-vision-instruct"]
    saved = json.loads(run_file.read_text())
    assert [t["target"] for t in saved["targets"]] == [VISION, TEXT]
    assert saved["prompt"] == "What colour?" and saved["targets"][0]["params"]["max_tokens"] == 20
    (media,) = saved["media"]
    assert media["label"] == "photo-with-a-name.png"
    assert len(sent) == 2 and media["data_base64"] in sent[0] and media["data_base64"] in sent[1]
    assert [r["target"] for r in second["results"]] == [r["target"] for r in first["results"]]
    assert second["results"][0]["text"] == first["results"][0]["text"]


def test_a_key_never_reaches_the_run_file_or_the_json(tmp_path, capsys):
    from services.__main__ import main

    canary = "sk-CANARYcompare0123456789"
    echo = Reply.error(401, f"Incorrect API key provided: {canary}")
    run_file = tmp_path / "run.json"
    with OpenAIStandIn(models=("m-a", "m-b"), default=echo) as srv, \
            config.session({"OPENAI_BASE_URL": srv.url, "OPENAI_API_KEY": canary}):
        rc = main(["compare", "Hi", "--target", "openai:m-a", "--target", "openai:m-b",
                   "--export", str(run_file), "--json"])
        # the key did go to its own server, as a header
        assert all(canary in r.headers.get("authorization", "") for r in srv.chat_requests)
    captured = capsys.readouterr()
    assert rc == 1  # nothing answered
    assert all("error" in r for r in json.loads(captured.out)["results"])
    for text in (captured.out, captured.err, run_file.read_text()):
        assert canary not in text


def test_cli_video_frames_go_to_the_vision_target_and_into_the_run_file(tmp_path, capsys):
    from services.__main__ import main
    from tests.fixtures.media_files import scene_video

    clip = scene_video(tmp_path / "clip.mp4")
    run_file = tmp_path / "run.json"
    with OpenAIStandIn(models=("phi-3.5-vision-instruct", "m-text")) as srv, \
            config.session({"OPENAI_BASE_URL": srv.url}):
        assert main(["compare", "What happens?", "--target", VISION, "--target", TEXT, "--video", str(clip),
                     "--frames", "3", "--export", str(run_file), "--json"]) == 0
        vision_body = next(r.json for r in srv.chat_requests if r.json["model"] == "phi-3.5-vision-instruct")
    capsys.readouterr()
    media = json.loads(run_file.read_text())["media"]
    assert len(media) == 3
    stamps = [m["timestamp_s"] for m in media]
    assert stamps == sorted(stamps) and stamps[0] < 1.0 < stamps[-1]
    sent = json.dumps(vision_body)
    assert all(m["data_base64"] in sent for m in media)
    assert all(m["sha256"] == runfile.sha256(base64.b64decode(m["data_base64"])) for m in media)
