"""JSON answers on every runtime: the embedded model under a schema on each local runtime, and the wire field
the servers receive.

Local runtimes (ONNX Runtime GenAI's own llguidance, llama.cpp's GBNF, an llguidance mask for transformers)
answer from the embedded model; each is loaded once for this module. Ollama and the OpenAI-compatible
providers are the loopback stand-ins in tests/standins (no Ollama or cloud endpoint can run here).
"""

import json

import jsonschema
import pytest

from services.backends import get_backend
from services.backends.ollama_backend import OllamaBackend
from services.backends.openai_backend import OpenAICompatBackend
from services.chat import start_chat
from services.errors import BadRequest
from services.streaming import Answer, AnswerOutcome
from services.types import (SCHEMA_MAX_DEPTH, ChatRequest, GenerationParams, Message, ResponseFormat, Target,
                            Token)
from tests.standins.ollama_ndjson import OllamaStandIn
from tests.standins.openai_sse import OpenAIStandIn, Reply

pytestmark = pytest.mark.integration

EMBEDDED = "smollm2-135m-instruct"
SYSTEM = Message("system", "You are a helpful assistant.")
PERSON = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"]}
CITY = {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"]}
ASK_PERSON = Message("user", "Ada is 36 years old. Answer as JSON with her name and age.")
ASK_CITY = Message("user", "What is the capital of France? Answer as JSON with city and country.")
# greedy, and sampling at 0.8 with a seed (repeatable where the runtime honours seeds)
SAMPLING = {"greedy": {"temperature": 0}, "t0.8": {"temperature": 0.8, "seed": 7}}
KEY = "test-key"


@pytest.fixture(autouse=True)
def no_keys(monkeypatch, tmp_path):
    """The stand-ins get the key given here, never one from the environment or a secrets file."""
    for name in ("OLLAMA_HOST", "OLLAMA_API_KEY", "GITHUB_TOKEN", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PHI_PLAYGROUND_SECRETS", str(tmp_path / "absent.toml"))


@pytest.fixture(scope="module", params=["onnx", "llamacpp", "transformers"])
def runtime(request, embedded_paths):
    """One local runtime with the embedded model loaded, for every test of this module that names it."""
    backend = get_backend(request.param)
    backend.prepare(EMBEDDED)
    yield request.param
    for resident in backend.loaded():  # the next runtime's turn: free this one's memory
        backend.unload(resident.key)


def ask(runtime: str, question: Message, fmt, max_tokens: int = 60, **sampling) -> AnswerOutcome:
    """The answer read to the end; a failure is raised."""
    params = GenerationParams(max_tokens=max_tokens, response_format=fmt, **sampling)
    answer = start_chat(f"{runtime}:{EMBEDDED}", [SYSTEM, question], params)
    answer.text()
    return answer.outcome


def validated(stream: AnswerOutcome, schema: dict) -> dict:
    """The answer as JSON, checked with jsonschema here and by the metrics."""
    assert stream.finish_reason == "stop", f"cut off: {stream.text!r}"
    value = json.loads(stream.text)
    jsonschema.validate(value, schema)
    assert stream.metrics.schema_valid is True and stream.metrics.schema_error == ""
    return value


@pytest.mark.parametrize("sampling", SAMPLING.values(), ids=SAMPLING.keys())
def test_small_schema_answer_validates(runtime, sampling):
    value = validated(ask(runtime, ASK_PERSON, {"kind": "json_schema", "schema": PERSON}, **sampling), PERSON)
    assert value["name"].strip()


@pytest.mark.parametrize("sampling", SAMPLING.values(), ids=SAMPLING.keys())
def test_city_and_country_answer_validates(runtime, sampling):
    value = validated(ask(runtime, ASK_CITY, {"kind": "json_schema", "schema": CITY}, **sampling), CITY)
    if sampling["temperature"] == 0:
        assert value["city"] == "Paris"


def test_json_object_gives_an_object(runtime):
    # llama.cpp's JSON grammar allows newlines and indents, which this model spends tokens on: room for them
    stream = ask(runtime, ASK_PERSON, "json_object", max_tokens=120, temperature=0)
    assert isinstance(validated(stream, {"type": "object"}), dict)


def test_json_answers_stream_piece_by_piece(runtime):
    # compact JSON has no spaces: a streamer that waits for one would hand the answer over only at the end
    stream = start_chat(f"{runtime}:{EMBEDDED}", [SYSTEM, ASK_CITY],
                        GenerationParams(temperature=0, max_tokens=60, response_format={"kind": "json_schema",
                                                                                        "schema": CITY}))
    pieces = [event.text for event in stream.events() if isinstance(event, Token)]
    out = stream.outcome
    assert len(pieces) >= 5 and "".join(pieces) == out.text
    assert out.metrics.decode_tokens_per_s and out.metrics.ttft_s < out.metrics.total_s


def deep(levels: int) -> dict:
    schema = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "array", "items": schema}
    return schema


def test_the_deepest_schema_the_app_accepts_is_within_reach_of_every_runtime(runtime):
    # the app's own bounds (services.types) stop a schema before any grammar engine meets it
    schema = deep(SCHEMA_MAX_DEPTH // 2 - 1)
    stream = ask(runtime, Message("user", "Give an empty list."), {"kind": "json_schema", "schema": schema},
                 max_tokens=16, temperature=0)
    assert stream.metrics.schema_valid is True, (stream.text, stream.metrics.schema_error)


# what each runtime's grammar engine cannot take, within the app's bounds: llama.cpp's C grammar parser refuses
# a string of 2,000 characters (it unrolls maxLength); llguidance compiles anything the bounds allow (probed:
# depth 31, 900 long enum values, minItems 3000), so for it the refusal is a schema no answer can satisfy
REFUSED = {
    "onnx": ({"type": "string", "minLength": 5, "maxLength": 2},
             "ONNX Runtime GenAI cannot use this schema: Unsatisfiable schema: minLength (5) is greater than "
             "maxLength (2)."),
    "llamacpp": ({"type": "object", "properties": {"note": {"type": "string", "maxLength": 2000}}},
                 "llama.cpp cannot use this schema: its grammar is too large (lower maxLength, maxItems or "
                 "minItems, or simplify the schema)."),
    "transformers": ({"type": "string", "minLength": 5, "maxLength": 2},
                     "transformers cannot use this schema: Unsatisfiable schema: minLength (5) is greater than "
                     "maxLength (2)."),
}


def test_a_schema_the_grammar_engine_cannot_take_is_one_sentence_naming_the_runtime(runtime):
    schema, sentence = REFUSED[runtime]
    with pytest.raises(BadRequest) as err:
        ask(runtime, ASK_PERSON, {"kind": "json_schema", "schema": schema}, temperature=0)
    assert err.value.user_message() == sentence
    # and the runtime still answers the next request
    validated(ask(runtime, ASK_PERSON, {"kind": "json_schema", "schema": PERSON}, temperature=0), PERSON)


def test_a_schema_naming_another_document_is_refused_without_fetching_it(runtime):
    remote = {"$ref": "https://example.invalid/person.json"}
    with pytest.raises(BadRequest) as err:
        ask(runtime, ASK_PERSON, {"kind": "json_schema", "schema": remote}, temperature=0)
    message = err.value.user_message()
    assert message.startswith(f"{REFUSED[runtime][1].split(' cannot')[0]} cannot use this schema: ")
    assert message.endswith(".") and "\n" not in message and "--allow-fetch" not in message


def server_request(target: str, fmt) -> ChatRequest:
    return ChatRequest(Target.parse(target), (SYSTEM, ASK_PERSON),
                       GenerationParams(temperature=0, max_tokens=40, response_format=fmt))


FORMATS = {
    "text": (None, None, None),
    "json_object": ("json_object", {"type": "json_object"}, "json"),
    "json_schema": ({"kind": "json_schema", "schema": {**PERSON, "title": "Person"}},
                    {"type": "json_schema", "json_schema": {"name": "Person", "schema": {**PERSON, "title": "Person"},
                                                            "strict": False}},
                    {**PERSON, "title": "Person"}),
}


@pytest.mark.parametrize("kind", FORMATS, ids=FORMATS.keys())
@pytest.mark.parametrize("provider", ["github", "azure", "nim", "openai"])
def test_openai_compatible_providers_receive_response_format(provider, kind):
    fmt, wire, _ = FORMATS[kind]
    with OpenAIStandIn(default=Reply.text('{"name": "Ada", "age": 36}')) as srv:
        backend = OpenAICompatBackend(provider, base_url=srv.url, api_key=KEY)
        stream = Answer(backend, server_request(f"{provider}:microsoft/phi-3.5-mini-instruct", fmt)).finish()
        (sent,) = srv.chat_requests
    assert sent.json.get("response_format") == wire
    assert "response_format" in sent.json or kind == "text"  # text sends no field at all
    assert stream.metrics.schema_valid is (None if kind == "text" else True)


@pytest.mark.parametrize("kind", FORMATS, ids=FORMATS.keys())
def test_ollama_receives_format(kind):
    fmt, _, wire = FORMATS[kind]
    with OllamaStandIn(models=("phi3.5:latest",), reply=('{"name": ', '"Ada", ', '"age": 36}')) as srv:
        stream = Answer(OllamaBackend(srv.root), server_request("ollama:phi3.5", fmt)).finish()
        (sent,) = srv.chat_requests
    assert sent.json.get("format") == wire
    assert "format" in sent.json or kind == "text"
    assert stream.metrics.schema_valid is (None if kind == "text" else True)


PERSON_FMT = ResponseFormat("json_schema", PERSON)
INVALID = {  # answer -> the first error the metrics carry
    '{"name": "Ada", "age": "36"}': "age: '36' is not of type 'integer'",
    '{"name": "Ada"}': "'age' is a required property",
    '{"name": "Ada", "age": 3': "The answer is not JSON",
}


@pytest.mark.parametrize("answer", INVALID, ids=["wrong-type", "missing-field", "cut-json"])
def test_an_invalid_answer_from_a_server_is_reported_with_its_error(answer):
    with OpenAIStandIn(default=Reply.text(answer)) as srv:
        backend = OpenAICompatBackend("openai", base_url=srv.url, api_key=KEY)
        openai = Answer(backend, server_request("openai:m", PERSON_FMT)).finish()
    with OllamaStandIn(models=("phi3.5:latest",), reply=(answer,)) as srv:
        ollama = Answer(OllamaBackend(srv.root), server_request("ollama:phi3.5", PERSON_FMT)).finish()
    for stream in (openai, ollama):
        assert stream.text == answer
        assert stream.metrics.schema_valid is False and INVALID[answer] in stream.metrics.schema_error
