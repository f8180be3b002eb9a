"""Image intake: content sniffing, caps that agree with Streamlit's, bombs refused before decoding, EXIF, RGB."""

import io

import pytest
from PIL import Image

from services.media import images as media
from services.errors import MediaError
from tests.fixtures.media_files import EXECUTABLE, plain_image, png_header_only_bomb, text_image


@pytest.mark.parametrize("fmt,kind", [("PNG", "png"), ("JPEG", "jpeg"), ("WEBP", "webp"), ("BMP", "bmp"),
                                      ("GIF", "gif")])
def test_each_format_is_identified_by_content_and_prepared(fmt, kind):
    data = plain_image((300, 200), fmt=fmt)
    assert media.sniff(data) == kind
    prepared = media.prepare_image("whatever.name", data)
    assert (prepared.width, prepared.height) == (300, 200)
    assert prepared.source_format == fmt
    out = Image.open(io.BytesIO(prepared.part.data))
    assert out.mode == "RGB" and out.size == (300, 200)


def test_a_png_named_like_a_video_is_still_a_png():
    # the name plays no part: only the bytes decide
    prepared = media.prepare_image("holiday.mp4", plain_image(fmt="PNG"))
    assert prepared.source_format == "PNG"
    assert prepared.part.label == "holiday.mp4"


def test_executable_named_jpg_is_refused_by_content():
    with pytest.raises(MediaError, match=r"evil\.jpg is a program \(executable\), not an image"):
        media.prepare_image("evil.jpg", EXECUTABLE)


def test_a_video_given_as_an_image_says_so():
    with pytest.raises(MediaError, match="video, not an image"):
        media.prepare_image("x.png", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)


def test_zero_byte_file_is_refused():
    with pytest.raises(MediaError, match=r"empty \(0 bytes\)"):
        media.prepare_image("empty.png", b"")


def test_file_one_byte_over_the_cap_is_refused_naming_the_cap():
    data = plain_image() + b"\x00" * (media.MAX_IMAGE_BYTES + 1 - len(plain_image()))
    assert len(data) == media.MAX_IMAGE_BYTES + 1
    with pytest.raises(MediaError, match=r"over the 20\.0 MB limit"):
        media.prepare_image("big.png", data)


def test_app_caps_agree_with_streamlit_server_max_upload_size():
    server_mb = media.config_upload_cap_mb()
    assert server_mb == media.SERVER_MAX_UPLOAD_MB
    assert media.MAX_IMAGE_BYTES <= server_mb * media.MB
    assert media.MAX_VIDEO_BYTES <= server_mb * media.MB


def test_twice_the_pixel_cap_is_refused_before_decoding():
    # 2x our cap: Pillow alone would decode this without complaint
    side = int((2 * media.MAX_PIXELS) ** 0.5) + 1
    bomb = png_header_only_bomb(side, side)
    assert len(bomb) < 200_000  # tiny on disk, huge in memory
    with pytest.raises(MediaError, match=r"over the 40-megapixel limit"):
        media.prepare_image("bomb.png", bomb)


def test_twice_pillows_own_limit_is_refused_with_the_cap_named():
    w = 20_000
    h = int(2 * Image.MAX_IMAGE_PIXELS / w) + 10
    with pytest.raises(MediaError, match="megapixel"):
        media.prepare_image("pillow-bomb.png", png_header_only_bomb(w, h))


def test_truncated_jpeg_gets_a_friendly_error():
    data = text_image(fmt="JPEG")
    with pytest.raises(MediaError, match="truncated or damaged|cannot be read"):
        media.prepare_image("cut.jpg", data[: len(data) // 3])


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (200, 100), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    prepared = media.prepare_image("phone.jpg", buf.getvalue())
    assert (prepared.width, prepared.height) == (100, 200)
    assert media.image_size(buf.getvalue()) == (100, 200)


def test_transparency_is_flattened_to_rgb_on_white():
    data = plain_image((20, 20), colour=(0, 0, 0, 0), mode="RGBA")
    out = Image.open(io.BytesIO(media.prepare_image("clear.png", data).part.data))
    assert out.mode == "RGB" and out.getpixel((5, 5)) == (255, 255, 255)


def test_large_images_are_resized_to_the_target_side_and_photos_stay_jpeg():
    prepared = media.prepare_image("wide.jpg", plain_image((4000, 1000), fmt="JPEG"), max_side=1000)
    assert (prepared.width, prepared.height) == (1000, 250)
    assert prepared.part.mime == "image/jpeg"
    assert prepared.original_size == (4000, 1000)


def test_label_never_carries_a_path():
    prepared = media.prepare_image("../../etc/passwd/a.png", plain_image())
    assert prepared.part.label == "a.png"


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animated_images_give_their_first_frame(fmt):
    frames = [Image.new("RGB", (40, 30), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format=fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = Image.open(io.BytesIO(media.prepare_image("anim", buf.getvalue()).part.data))
    r, g, b = out.getpixel((20, 15))
    assert r > 200 and b < 60
