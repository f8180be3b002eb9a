"""Image intake: identify by content, refuse bombs before decoding, orient, RGB, resize, re-encode."""

from __future__ import annotations

import io
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path

from services.errors import MediaError
from services.types import ImagePart

MB = 1024 * 1024
# Streamlit refuses uploads above server.maxUploadSize (.streamlit/config.toml, 50 MB); our caps
# stay at or below it so a file the browser accepted is never refused for a different size
SERVER_MAX_UPLOAD_MB = 50
MAX_IMAGE_BYTES = 20 * MB
MAX_VIDEO_BYTES = 50 * MB
# the name endings the uploaders offer; the bytes decide what a file is, never its name
IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "bmp", "gif")
VIDEO_EXTENSIONS = ("mp4", "mov", "m4v", "webm", "mkv", "avi")
# refuse before decoding: 40 MP is below Pillow's own 89 MP warning and far above any photo
MAX_PIXELS = 40_000_000
# formats we read, by content (Pillow's format names); GIF and WebP give their first frame
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")
# longest side sent to a model unless the target asks for less
DEFAULT_MAX_SIDE = 1344
JPEG_QUALITY = 88


@dataclass(frozen=True)
class PreparedImage:
    """An image checked and re-encoded for transport, with its facts for the UI."""

    part: ImagePart
    width: int
    height: int
    source_format: str
    original_size: tuple[int, int]


def config_upload_cap_mb(path: Path | None = None) -> int:
    """server.maxUploadSize from .streamlit/config.toml (Streamlit's default 200 when unset)."""
    path = path or Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml"
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return 200
    return int(data.get("server", {}).get("maxUploadSize", 200))


def _human(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB else f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} bytes"


def sniff(data: bytes) -> str:
    """What the bytes are, from their first bytes: png, jpeg, webp, bmp, gif, mp4, webm, avi, ... or unknown."""
    head = data[:64]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"BM"):
        return "bmp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "mpeg"
    if head.startswith(b"MZ") or head.startswith(b"\x7fELF") or head[:4] in (b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):
        return "executable"
    if head.startswith(b"#!"):
        return "script"
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    return "unknown"


IMAGE_KINDS = {"png", "jpeg", "webp", "bmp", "gif"}
VIDEO_KINDS = {"mp4", "webm", "avi", "mpeg"}
KIND_NAMES = {"executable": "a program (executable)", "script": "a script", "pdf": "a PDF document",
              "zip": "a ZIP archive", "unknown": "not a file type we recognise"}


def kind_name(kind: str) -> str:
    """A phrase for an error message: 'a PNG image', 'an MP4 video', 'a program (executable)'."""
    if kind in IMAGE_KINDS:
        return f"a {kind.upper()} image"
    if kind in VIDEO_KINDS:
        return f"a {kind.upper()} video" if kind == "webm" else f"an {kind.upper()} video"
    return KIND_NAMES.get(kind, kind)


def check_size(name: str, data: bytes, cap: int) -> None:
    """Refuse empty files and files over the cap, naming both sizes."""
    if not data:
        raise MediaError(f"{name} is empty (0 bytes); pick the file again.")
    if len(data) > cap:
        raise MediaError(f"{name} is {_human(len(data))}, over the {_human(cap)} limit for this kind of file.")


def _open_checked(name: str, data: bytes, max_pixels: int):
    from PIL import Image, UnidentifiedImageError

    kind = sniff(data)
    if kind not in IMAGE_KINDS:
        if kind in VIDEO_KINDS:
            raise MediaError(f"{name} is {kind_name(kind)}, not an image; add it as the video instead.")
        raise MediaError(f"{name} is {kind_name(kind)}, not an image. Images can be PNG, JPEG, WebP, BMP or GIF.")
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 1x and 2x its own limit; a warning is a refusal here
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MediaError(f"{name} is too large in pixels: the limit is {max_pixels / 1e6:.0f} megapixels.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise MediaError(f"{name} looks like {kind_name(kind)} but cannot be read: it may be damaged.") from exc
    # Image.open only read the header: refuse by the declared size before any pixel is decoded
    w, h = img.size
    if w * h > max_pixels:
        raise MediaError(f"{name} is {w}x{h} = {w * h / 1e6:.0f} megapixels, over the "
                         f"{max_pixels / 1e6:.0f}-megapixel limit. Scale it down first.")
    if w <= 0 or h <= 0:
        raise MediaError(f"{name} has no pixels ({w}x{h}).")
    return img


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the header alone, after EXIF orientation; MediaError if unreadable."""
    img = _open_checked("The image", data, MAX_PIXELS)
    w, h = img.size
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block must not make a good image unusable
        orientation = 1
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def to_rgb(img):
    """RGB with transparency flattened onto white (models expect 3 channels)."""
    from PIL import Image

    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return img.convert("RGB")


def fit(img, max_side: int):
    """Shrink so the longest side is at most max_side (never enlarge)."""
    from PIL import Image

    w, h = img.size
    if max(w, h) <= max_side:
        return img
    scale = max_side / max(w, h)
    return img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)


def encode(img, fmt: str = "JPEG") -> tuple[bytes, str]:
    """Re-encode an RGB image; returns (bytes, mime). PNG keeps text sharp, JPEG keeps it small."""
    buf = io.BytesIO()
    if fmt == "PNG":
        img.save(buf, format="PNG", optimize=False)
        return buf.getvalue(), "image/png"
    img.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue(), "image/jpeg"


def prepare_image(name: str, data: bytes, *, max_side: int = DEFAULT_MAX_SIDE, fmt: str | None = None,
                  max_bytes: int = MAX_IMAGE_BYTES, max_pixels: int = MAX_PIXELS) -> PreparedImage:
    """Check an uploaded image by content and make it ready to send; MediaError names any problem.

    `name` is only used in messages, never as a path.
    """
    from PIL import ImageOps

    check_size(name, data, max_bytes)
    img = _open_checked(name, data, max_pixels)
    source_format = img.format or "?"
    original = img.size
    try:
        img.seek(0)  # GIF / animated WebP: the first frame
        img.load()
        img = ImageOps.exif_transpose(img) or img
    except (OSError, ValueError, SyntaxError) as exc:
        raise MediaError(f"{name} is {kind_name(sniff(data))} but its pixels cannot be decoded: "
                         "the file is truncated or damaged.") from exc
    img = fit(to_rgb(img), max_side)
    # lossless sources stay PNG so small text survives for OCR; photos go as JPEG
    out_fmt = fmt or ("JPEG" if source_format == "JPEG" else "PNG")
    payload, mime = encode(img, out_fmt)
    return PreparedImage(ImagePart(payload, mime, label=_label(name)), img.width, img.height,
                         source_format, original)


def array_to_part(rgb, *, timestamp_s: float | None = None, label: str = "",
                  max_side: int = DEFAULT_MAX_SIDE, fmt: str = "JPEG") -> ImagePart:
    """An RGB numpy frame as an ImagePart (video frames go as JPEG)."""
    from PIL import Image

    img = fit(Image.fromarray(rgb), max_side)
    payload, mime = encode(img, fmt)
    return ImagePart(payload, mime, label=label, timestamp_s=timestamp_s)


def shrink_to_bytes(part: ImagePart, max_bytes: int) -> ImagePart:
    """The same image as a JPEG of at most max_bytes (for endpoints that limit inline images)."""
    if len(part.data) <= max_bytes:
        return part
    img = decode_part(part)
    side = max(img.size)
    for _ in range(10):
        payload, mime = encode(fit(img, side), "JPEG")
        if len(payload) <= max_bytes:
            return ImagePart(payload, mime, label=part.label, timestamp_s=part.timestamp_s)
        side = max(32, int(side * 0.75))
    raise MediaError(f"{part.label or 'An image'} cannot be made smaller than {_human(max_bytes)} for this endpoint.")


def decode_part(part: ImagePart):
    """An ImagePart back to an RGB PIL image (for OCR and the transformers processor)."""
    img = _open_checked(part.label or "The image", part.data, MAX_PIXELS)
    img.load()
    return to_rgb(img)


def _label(name: str) -> str:
    # shown in the UI and prompts only: keep the last path component, printable, short
    base = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    clean = "".join(ch for ch in base if ch.isprintable())
    return clean[:80] or "image"
