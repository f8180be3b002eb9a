"""A tiny random LLaVA (native image-text-to-text) through the transformers backend with 2 images."""

from pathlib import Path

import pytest

from services.media import images as media
from services.backends import get_backend
from services.chat import start_chat
from services.errors import BackendUnavailable
from services.types import GenerationParams, Message
from tests.fixtures.media_files import plain_image
from tests.fixtures.tiny_models import build_tokenizer

pytestmark = pytest.mark.integration

TEMPLATE = (
    "{% for message in messages %}{{'<|' + message['role'] + '|>\\n'}}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<image>\\n' }}{% elif part['type'] == 'text' %}{{ part['text'] }}"
    "{% endif %}{% endfor %}{% endif %}{{'<|end|>\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)
IMAGE = 32
PATCH = 8
TOKENS_PER_IMAGE = (IMAGE // PATCH) ** 2


def build_tiny_llava(folder: Path) -> Path:
    """LlavaForConditionalGeneration (CLIP vision tower + Llama text model), about 0.2M parameters."""
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    tok = build_tokenizer(folder)
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    tok.chat_template = TEMPLATE
    ids = tok.convert_tokens_to_ids
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": IMAGE}, crop_size={"height": IMAGE, "width": IMAGE}),
        tokenizer=tok, patch_size=PATCH, vision_feature_select_strategy="default", chat_template=TEMPLATE,
        image_token="<image>", num_additional_image_tokens=1,
    )
    cfg = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                       image_size=IMAGE, patch_size=PATCH, projection_dim=32),
        text_config=LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
                                bos_token_id=ids("<s>"), eos_token_id=ids("<|end|>"), pad_token_id=ids("<|endoftext|>")),
        image_token_id=ids("<image>"), vision_feature_select_strategy="default", vision_feature_layer=-1,
    )
    torch.manual_seed(0)
    LlavaForConditionalGeneration(cfg).eval().save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory) -> str:
    return str(build_tiny_llava(tmp_path_factory.mktemp("tiny-llava")))


def _parts():
    red = media.prepare_image("red.png", plain_image((64, 48), (255, 0, 0))).part
    blue = media.prepare_image("blue.jpg", plain_image((40, 40), (0, 0, 255), fmt="JPEG")).part
    return red, blue


def test_two_images_through_the_transformers_backend(tiny_llava):
    caps = get_backend("transformers").capabilities(tiny_llava)
    assert caps.images and caps.max_images >= 2 and caps.context_length == 512
    msg = Message("user", "What colours are these?", _parts())
    stream = start_chat(f"transformers:{tiny_llava}", [msg], GenerationParams(temperature=0, max_tokens=5)).finish()
    assert stream.finish_reason in ("length", "stop")
    assert stream.metrics.completion_tokens and stream.metrics.completion_tokens <= 5
    # each <image> became its image tokens: the prompt holds both images
    assert stream.metrics.prompt_tokens > 2 * TOKENS_PER_IMAGE


def test_image_tokens_are_counted_per_image(tiny_llava):
    backend = get_backend("transformers")
    red, blue = _parts()
    one = backend.count_tokens(tiny_llava, (Message("user", "Q", (red,)),))
    two = backend.count_tokens(tiny_llava, (Message("user", "Q", (red, blue)),))
    assert two - one == TOKENS_PER_IMAGE + 1  # the image tokens and the newline after <image>


def test_follow_up_without_new_images_still_runs(tiny_llava):
    msgs = [Message("user", "Colours?", _parts()), Message("assistant", "red and blue"), Message("user", "Sure?")]
    stream = start_chat(f"transformers:{tiny_llava}", msgs, GenerationParams(temperature=0, max_tokens=3)).finish()
    assert stream.metrics.prompt_tokens > 2 * TOKENS_PER_IMAGE


def test_phi35_vision_is_refused_with_the_reason_and_the_way_out():
    msg = Message("user", "What is this?", _parts()[:1])
    with pytest.raises(BackendUnavailable) as info:
        start_chat("transformers:microsoft/Phi-3.5-vision-instruct", [msg])
    text = info.value.user_message()
    assert "remote code" in text and "transformers" in text
    assert "onnx:" in text and "nim:microsoft/phi-3.5-vision-instruct" in text
