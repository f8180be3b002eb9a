"""chat and compare under --response-format/--schema: bad input refused before anything is sent or stored,
schema_valid (and the first error) in --json, the wire field each request carries.

The server is the loopback OpenAI stand-in (tests/standins), so no model is loaded here.
"""

import json

import pytest

from services.__main__ import main
from services.conversations.store import open_store
from services.structured.schema_input import MAX_SCHEMA_TEXT_BYTES
from tests.standins.openai_sse import OpenAIStandIn, Reply

PERSON = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"]}
VALID = '{"name": "Ada", "age": 36}'
INVALID = '{"name": "Ada", "age": "thirty-six"}'


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """A fresh store and no keys, for every test."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GITHUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PHI_PLAYGROUND_SECRETS", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("PHI_PLAYGROUND_DB", str(tmp_path / "playground.db"))


@pytest.fixture
def srv(monkeypatch):
    """The stand-in answers by model: m-valid with a valid person, m-invalid with a wrong age type,
    m-cut with a person cut short by the token limit (finish_reason "length")."""
    def answers(body):
        if body.get("model") == "m-cut":
            return Reply.text(VALID[:12], finish_reason="length")
        return Reply.text(INVALID if body.get("model") == "m-invalid" else VALID)

    with OpenAIStandIn(models=("m-valid", "m-invalid", "m-cut"), answers=answers) as s:
        monkeypatch.setenv("OPENAI_BASE_URL", s.url)
        yield s


def schema_file(tmp_path, content, name="schema.json"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return str(path)


def bad_inputs(tmp_path):
    """(flags, words in the sentence) for each kind of bad --response-format/--schema input."""
    return [
        (["--schema", str(tmp_path / "missing.json")], "Cannot read the schema file"),
        (["--schema", str(tmp_path)], "Cannot read the schema file"),
        (["--schema", schema_file(tmp_path, '{"type": "object",', "bad1.json")], "is not valid JSON"),
        (["--schema", schema_file(tmp_path, "", "bad2.json")], "is empty"),
        (["--schema", schema_file(tmp_path, "[1, 2]", "bad3.json")], "must be a JSON object"),
        (["--schema", schema_file(tmp_path, '{"type": "strng"}', "bad4.json")], "not a valid JSON Schema"),
        (["--schema", schema_file(tmp_path, b"\xff\xfe{}", "bad5.json")], "not UTF-8"),
        (["--schema", schema_file(tmp_path, b" " * (MAX_SCHEMA_TEXT_BYTES + 10) + b"{}", "bad6.json")],
         "larger than"),
        (["--response-format", "text", "--schema", schema_file(tmp_path, json.dumps(PERSON), "bad7.json")],
         "--schema goes with --response-format json_schema"),
        (["--response-format", "json_object", "--schema",
          schema_file(tmp_path, json.dumps(PERSON), "bad8.json")],
         "--schema goes with --response-format json_schema"),
        (["--response-format", "json_schema"], "needs a schema"),
    ]


def one_sentence(err: str) -> str:
    """The single stderr line, without its prefix; asserts it is one sentence."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    sentence = lines[0].removeprefix("error: ")
    assert sentence.endswith(".") and "Traceback" not in sentence
    return sentence


@pytest.mark.parametrize("case", range(11))
def test_bad_schema_input_on_chat_is_one_sentence_nothing_sent_or_stored(case, srv, tmp_path, capsys):
    flags, words = bad_inputs(tmp_path)[case]
    rc = main(["chat", "--target", "openai:m-valid", "--json", *flags, "Who is Ada?"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert words in one_sentence(err)
    assert srv.chat_requests == []
    assert open_store().list_conversations() == []


@pytest.mark.parametrize("case", range(11))
def test_bad_schema_input_on_compare_is_one_sentence_nothing_sent(case, srv, tmp_path, capsys):
    flags, words = bad_inputs(tmp_path)[case]
    rc = main(["compare", "--target", "openai:m-valid", "--target", "openai:m-invalid", "--json", *flags,
               "Who is Ada?"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert words in one_sentence(err)
    assert srv.chat_requests == []


def test_show_code_refuses_a_bad_schema_too(srv, tmp_path, capsys):
    rc = main(["chat", "--target", "openai:m-valid", "--show-code", "--schema", schema_file(tmp_path, "{"), "Hi"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and "is not valid JSON" in one_sentence(err)


def test_rerun_refuses_a_response_format_flag(tmp_path, capsys):
    # the run file holds each target's own format; the flag would be dropped without a word
    run_file = schema_file(tmp_path, "{}", "run.json")
    assert main(["compare", "--rerun", run_file, "--response-format", "json_object"]) == 2
    assert "leave out --response-format and --schema" in one_sentence(capsys.readouterr().err)


def test_chat_json_reports_valid_and_invalid_answers_with_the_first_error(srv, tmp_path, capsys):
    path = schema_file(tmp_path, json.dumps(PERSON))
    assert main(["chat", "--target", "openai:m-valid", "--schema", path, "--json", "Who is Ada?"]) == 0
    good = json.loads(capsys.readouterr().out)
    assert good["text"] == VALID and good["schema_valid"] is True and "schema_error" not in good
    assert main(["chat", "--target", "openai:m-invalid", "--schema", path, "--json", "Who is Ada?"]) == 0
    bad = json.loads(capsys.readouterr().out)
    assert bad["schema_valid"] is False
    assert bad["schema_error"] == "age: 'thirty-six' is not of type 'integer'"
    sent = srv.chat_requests[0].json["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["schema"] == PERSON


def test_chat_text_mode_says_how_the_answer_checked_out(srv, tmp_path, capsys):
    path = schema_file(tmp_path, json.dumps(PERSON))
    assert main(["chat", "--target", "openai:m-invalid", "--schema", path, "Who is Ada?"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == INVALID
    assert "schema: invalid (age: 'thirty-six' is not of type 'integer')" in err.splitlines()


def test_json_cut_short_by_the_token_limit_says_so_and_what_to_change(srv, tmp_path, capsys):
    path = schema_file(tmp_path, json.dumps(PERSON))
    assert main(["chat", "--target", "openai:m-cut", "--schema", path, "--max-tokens", "7", "--json", "Who?"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["finish_reason"] == "length" and result["schema_valid"] is False
    assert result["schema_error"] == ("The answer reached the 7-token limit before its JSON was complete; "
                                      "raise Max tokens.")


@pytest.mark.parametrize("flags,wire,valid", [
    ([], None, None),
    (["--response-format", "text"], None, None),
    (["--response-format", "json_object"], {"type": "json_object"}, True),
], ids=["default", "text", "json_object"])
def test_chat_sends_the_format_and_reports_schema_valid(flags, wire, valid, srv, capsys):
    assert main(["chat", "--target", "openai:m-valid", "--json", *flags, "Who is Ada?"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["schema_valid"] is valid and "schema_error" not in result
    assert srv.chat_requests[0].json.get("response_format") == wire


def test_continued_conversation_keeps_its_schema_unless_told_otherwise(srv, tmp_path, capsys):
    path = schema_file(tmp_path, json.dumps(PERSON))
    assert main(["chat", "--target", "openai:m-valid", "--schema", path, "--json", "Who is Ada?"]) == 0
    conv = json.loads(capsys.readouterr().out)["conversation_id"]
    results = []
    # no flag, then the kind alone: the stored schema is used both times; then plain text
    for flags in ([], ["--response-format", "json_schema"], ["--response-format", "text"]):
        assert main(["chat", "--conversation", conv, "--json", *flags, "And Grace?"]) == 0
        results.append(json.loads(capsys.readouterr().out))
    assert [r["schema_valid"] for r in results] == [True, True, None]
    formats = [r.json.get("response_format") for r in srv.chat_requests]
    assert [f and f["json_schema"]["schema"] for f in formats[:3]] == [PERSON] * 3
    assert formats[3] is None


def test_compare_json_has_schema_valid_per_result_and_the_first_error(srv, tmp_path, capsys):
    path = schema_file(tmp_path, json.dumps(PERSON))
    rc = main(["compare", "--target", "openai:m-valid", "--target", "openai:m-invalid", "--schema", path,
               "--json", "Who is Ada?"])
    assert rc == 0
    good, bad = json.loads(capsys.readouterr().out)["results"]
    assert (good["target"], good["schema_valid"]) == ("openai:m-valid", True) and "schema_error" not in good
    assert (bad["target"], bad["schema_valid"]) == ("openai:m-invalid", False)
    assert bad["schema_error"] == "age: 'thirty-six' is not of type 'integer'"
    assert all(r.json["response_format"]["json_schema"]["schema"] == PERSON for r in srv.chat_requests)


def test_compare_table_shows_validity_per_target(srv, tmp_path, capsys):
    path = schema_file(tmp_path, json.dumps(PERSON))
    assert main(["compare", "--target", "openai:m-valid", "--target", "openai:m-invalid", "--schema", path,
                 "Who is Ada?"]) == 0
    out = capsys.readouterr().out
    assert "=== openai:m-valid ===\n" + VALID + "\nschema: valid\n" in out
    assert "=== openai:m-invalid ===\n" + INVALID + "\nschema: invalid (age: " in out


@pytest.fixture
def vision_folder(tmp_path):
    """An ONNX Phi-3-vision folder as far as capabilities can tell (no weights: nothing is loaded)."""
    folder = tmp_path / "phi3v"
    folder.mkdir()
    (folder / "genai_config.json").write_text(json.dumps({"model": {"type": "phi3v", "context_length": 4096}}))
    return folder


def test_a_target_that_cannot_constrain_says_so(vision_folder, capsys):
    target = f"onnx:{vision_folder}"
    assert main(["chat", "--target", target, "--response-format", "json_object", "--json", "Describe it."]) == 2
    sentence = one_sentence(capsys.readouterr().err)
    assert sentence == (f"{target} cannot constrain answers to JSON; choose the text response format or "
                        "another target.")


def test_compare_column_that_cannot_constrain_fails_alone(vision_folder, srv, capsys):
    target = f"onnx:{vision_folder}"
    rc = main(["compare", "--target", target, "--target", "openai:m-valid", "--response-format", "json_object",
               "--json", "Who is Ada?"])
    assert rc == 0
    refused, answered = json.loads(capsys.readouterr().out)["results"]
    assert refused == {"target": target, "error": f"{target} cannot constrain answers to JSON; choose the text "
                                                  "response format or another target."}
    assert answered["schema_valid"] is True
