"""GenerationParams validation and target parsing."""

import pytest

from services.errors import BadRequest
from services.types import GenerationParams, Message, Target


@pytest.mark.parametrize(
    "field,value",
    [
        ("temperature", -0.1), ("temperature", 2.5), ("temperature", float("nan")), ("temperature", "hot"),
        ("top_p", 0), ("top_p", 1.01), ("top_k", -1), ("top_k", 2.5),
        ("max_tokens", 0), ("max_tokens", -5), ("max_tokens", 10**9),
        ("repetition_penalty", 0), ("seed", -1), ("seed", True),
    ],
)
def test_bad_values_name_the_field(field, value):
    with pytest.raises(BadRequest) as err:
        GenerationParams(**{field: value})
    assert field in str(err.value)


def test_defaults_and_frozen():
    p = GenerationParams()
    assert p.max_tokens > 0 and 0 < p.top_p <= 1
    with pytest.raises(Exception):
        p.temperature = 1.0  # frozen


def test_greedy_and_stop_normalised():
    p = GenerationParams(temperature=0, stop=["###"])
    assert p.greedy and p.stop == ("###",)
    assert GenerationParams(stop="END").stop == ("END",)
    with pytest.raises(BadRequest, match="stop"):
        GenerationParams(stop=("",))


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(BadRequest, match="Unknown parameter frequency_penalty"):
        GenerationParams.from_dict({"frequency_penalty": 1})
    p = GenerationParams.from_dict({"temperature": 0, "stop": ["a"]})
    assert GenerationParams.from_dict(p.to_dict()) == p


@pytest.mark.parametrize(
    "text,backend,model",
    [
        ("onnx:smollm2-135m-instruct", "onnx", "smollm2-135m-instruct"),
        ("ollama:phi3:mini", "ollama", "phi3:mini"),
        ("github:microsoft/phi-3.5-mini-instruct", "github", "microsoft/phi-3.5-mini-instruct"),
        (" Transformers : /models/x ", "transformers", "/models/x"),
    ],
)
def test_target_parse(text, backend, model):
    t = Target.parse(text)
    assert (t.backend, t.model) == (backend, model)
    assert str(t) == f"{backend}:{model}"


@pytest.mark.parametrize("text", ["onnx", ":model", "onnx:", "", None])
def test_target_parse_rejects(text):
    with pytest.raises(BadRequest, match="backend"):
        Target.parse(text)


def test_message_role_checked():
    with pytest.raises(BadRequest, match="role"):
        Message("robot", "hi")
