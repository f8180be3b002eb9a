"""Reading text in images and frames with RapidOCR (its ONNX models ship inside the wheel): the lines, where
they sit, the main colours, and a copy with boxes drawn; one engine and one cache for the process."""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass

from services.errors import BackendUnavailable, MediaError
from services.media import images as media
from services.types import ImagePart

# OCR lines below this confidence are more often noise than text
MIN_CONFIDENCE = 0.5
CACHE_SIZE = 128
# the annotated copy shown to people: big enough to read the boxes, small enough to send to a page
ANNOTATED_MAX_SIDE = 800
# yellow on a dark outline: visible on light and dark images alike
BOX_COLOUR, OUTLINE_COLOUR = (255, 220, 0), (0, 0, 0)
COLOURS = {
    "black": (0, 0, 0), "white": (255, 255, 255), "grey": (128, 128, 128), "red": (200, 30, 30),
    "green": (30, 160, 60), "blue": (30, 60, 200), "yellow": (230, 210, 40), "orange": (240, 140, 20),
    "purple": (130, 50, 160), "pink": (240, 150, 190), "brown": (120, 70, 30), "cyan": (40, 200, 220),
}


def engine_class():
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError as exc:
        raise BackendUnavailable("RapidOCR is not installed.", hint="Run: pip install rapidocr_onnxruntime") from exc
    return RapidOCR


def _where(cx: float, cy: float) -> str:
    """Row and column in thirds, spelled out: a small model links a chart's label to the value above it."""
    row = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else "middle"
    col = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else "centre"
    return f"{row} {col}"


def dominant_colours(img, top: int = 2) -> list[str]:
    """Names of the colours covering most of the image (each at least 15%)."""
    import numpy as np

    px = np.asarray(img.convert("RGB").resize((32, 32))).reshape(-1, 3).astype(float)
    names = list(COLOURS)
    ref = np.array([COLOURS[n] for n in names], dtype=float)
    nearest = ((px[:, None, :] - ref[None, :, :]) ** 2).sum(-1).argmin(1)
    counts = np.bincount(nearest, minlength=len(names)) / len(nearest)
    order = counts.argsort()[::-1]
    return [names[i] for i in order[:top] if counts[i] >= 0.15] or [names[order[0]]]


@dataclass(frozen=True)
class OcrLine:
    """One line of text RapidOCR found: the text, where it sits, its corner points in pixels, its score."""

    text: str
    where: str
    box: tuple[tuple[float, float], ...]
    score: float


@dataclass(frozen=True)
class Reading:
    """What was read from one image: its size, main colours and text lines in reading order."""

    width: int
    height: int
    colours: tuple[str, ...]
    lines: tuple[OcrLine, ...]

    def text(self) -> str:
        """The lines as the model gets them: each quoted, with its position."""
        return "\n".join(f'"{ln.text}" ({ln.where})' for ln in self.lines) or "(no text found)"

    def prompt_text(self) -> str:
        """Text first (what the question is usually about), then the colours."""
        return f"{self.text()}\nColours: mostly {' and '.join(self.colours)}"

    def to_dict(self) -> dict:
        """Plain data for JSON (the CLI) and the page."""
        return {"width": self.width, "height": self.height, "colours": list(self.colours),
                "text": self.text(),
                "lines": [{"text": ln.text, "where": ln.where, "score": round(ln.score, 3),
                           "box": [[round(x, 1), round(y, 1)] for x, y in ln.box]} for ln in self.lines]}


def annotate(img, reading: Reading) -> bytes:
    """PNG of the image with each read line's box drawn and numbered, so a person sees what was read."""
    from PIL import ImageDraw

    out = img.convert("RGB")
    scale = min(1.0, ANNOTATED_MAX_SIDE / max(out.size))
    if scale < 1.0:
        out = out.resize((max(1, round(out.width * scale)), max(1, round(out.height * scale))))
    draw = ImageDraw.Draw(out)
    width = max(2, round(max(out.size) / 300))
    for number, ln in enumerate(reading.lines, 1):
        pts = [(x * scale, y * scale) for x, y in ln.box]
        draw.line(pts + pts[:1], fill=OUTLINE_COLOUR, width=width + 2)
        draw.line(pts + pts[:1], fill=BOX_COLOUR, width=width)
        x0, y0 = min(p[0] for p in pts), min(p[1] for p in pts)
        draw.text((x0 + 2, max(0, y0 - 14)), str(number), fill=BOX_COLOUR, stroke_width=2, stroke_fill=OUTLINE_COLOUR)
    buf = io.BytesIO()
    out.save(buf, format="PNG")
    return buf.getvalue()


class OcrReader:
    """The RapidOCR engine, created on first use, and the readings of recent images (by content)."""

    def __init__(self):
        self._engine = None
        self._engine_lock = threading.Lock()
        self._cache: OrderedDict[str, Reading] = OrderedDict()
        self._cache_lock = threading.Lock()

    def engine(self):
        """The RapidOCR engine, created once."""
        with self._engine_lock:
            if self._engine is None:
                self._engine = engine_class()()
            return self._engine

    def read(self, part: ImagePart) -> str:
        """Text lines (with positions) and main colours for one image, as a model gets them."""
        return self.reading(part).prompt_text()

    def annotated(self, part: ImagePart) -> tuple[Reading, bytes]:
        """The reading and a PNG of the image with the boxes of what was read."""
        reading = self.reading(part)
        return reading, annotate(media.decode_part(part), reading)

    def reading(self, part: ImagePart) -> Reading:
        """Run RapidOCR on one image (cached by content) and keep the confident lines in reading order."""
        key = hashlib.sha256(part.data).hexdigest()
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        import numpy as np

        img = media.decode_part(part)
        rgb = np.asarray(img)
        with self._engine_lock:
            if self._engine is None:
                self._engine = engine_class()()
            try:
                # RapidOCR follows OpenCV's channel order
                result, _elapsed = self._engine(np.ascontiguousarray(rgb[:, :, ::-1]))
            except Exception as exc:  # its errors are plain exceptions from onnxruntime or cv2
                raise MediaError(f"Text could not be read from {part.label or 'an image'}: {exc}") from exc
        w, h = img.size
        lines = []
        for box, text, score in result or []:
            if float(score) < MIN_CONFIDENCE or not str(text).strip():
                continue
            xs, ys = [p[0] for p in box], [p[1] for p in box]
            cx, cy = sum(xs) / len(xs) / w, sum(ys) / len(ys) / h
            line = OcrLine(str(text).strip(), _where(cx, cy), tuple((float(x), float(y)) for x, y in box),
                           float(score))
            lines.append((round(cy * 20), cx, line))
        # reading order: rows top to bottom, then left to right
        ordered = tuple(ln for _r, _c, ln in sorted(lines, key=lambda t: (t[0], t[1])))
        out = Reading(w, h, tuple(dominant_colours(img)), ordered)
        with self._cache_lock:
            self._cache[key] = out
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return out


# the process's one reader: the page, the CLI and the ocr: target share its engine and cache
reader = OcrReader()
