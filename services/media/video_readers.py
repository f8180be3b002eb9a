"""Frame readers for services/media/video.py: OpenCV's FFmpeg backend first, PyAV for what it cannot decode."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from services.media import images as media
from services.errors import MediaError

# frames handed on are at most this many pixels on their long side
FRAME_MAX_SIDE = media.DEFAULT_MAX_SIDE


def _shrink(rgb):
    import cv2

    h, w = rgb.shape[:2]
    if max(h, w) <= FRAME_MAX_SIDE:
        return rgb
    s = FRAME_MAX_SIDE / max(h, w)
    return cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


class CvReader:
    """OpenCV's FFmpeg backend: fast, but its properties are only 'as is' (opencv#5686)."""

    decoder = "opencv"

    def __init__(self, path: str):
        import cv2

        self.cv2, self.path = cv2, path
        self.cap = self.open_capture(cv2, path)
        if not self.cap.isOpened():
            raise MediaError("OpenCV cannot open it")
        # AV1 (and others without a decoder) open fine yet every read fails (opencv#29722)
        if not self.cap.grab():
            self.cap.release()
            raise MediaError("OpenCV opens it but cannot decode a frame")
        self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        fourcc = int(self.cap.get(cv2.CAP_PROP_FOURCC) or 0)
        self.codec = fourcc.to_bytes(4, "little").decode("ascii", "replace").strip("\x00 ") or "?"
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.width = int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        self.height = int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)

    @staticmethod
    def open_capture(cv2, path: str):
        """The capture every read goes through (a seam: tests give one that cannot decode)."""
        return cv2.VideoCapture(path, cv2.CAP_FFMPEG)

    def _rgb(self, bgr):
        return _shrink(self.cv2.cvtColor(bgr, self.cv2.COLOR_BGR2RGB))

    def sequential(self) -> Iterator[tuple[int, Callable]]:
        """(index, decode) for every frame from the start; decode() only when a frame is wanted."""
        self.cap.set(self.cv2.CAP_PROP_POS_FRAMES, 0)
        i = 0
        # grab() still decodes, but skips the colour conversion and the copy (runtime-facts §8)
        while self.cap.grab():
            yield i, lambda: self._retrieve()
            i += 1

    def _retrieve(self):
        ok, bgr = self.cap.retrieve()
        return self._rgb(bgr) if ok else None

    def at(self, index: int):
        """The frame at index by seeking, or None when the read fails."""
        self.cap.set(self.cv2.CAP_PROP_POS_FRAMES, int(index))
        ok, bgr = self.cap.read()
        return self._rgb(bgr) if ok else None

    def close(self) -> None:
        self.cap.release()


class AvReader:
    """PyAV: its wheels bundle FFmpeg with dav1d, so it decodes what OpenCV's build cannot (AV1)."""

    decoder = "pyav"

    def __init__(self, path: str):
        import av

        self.av = av
        try:
            self.container = av.open(path)
        except av.FFmpegError as exc:
            raise MediaError(f"FFmpeg cannot read it ({exc.strerror or 'invalid data'})") from exc
        if not self.container.streams.video:
            self.container.close()
            raise MediaError("it holds no video stream")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        rate = self.stream.average_rate or self.stream.guessed_rate or 0
        self.fps = float(rate)
        codec = self.stream.codec_context.codec
        # the format (av1), not the decoder library (libdav1d)
        self.codec = getattr(codec, "canonical_name", "") or self.stream.codec_context.name
        self.width, self.height = self.stream.codec_context.width, self.stream.codec_context.height
        duration = (self.container.duration or 0) / 1e6
        self.count = int(self.stream.frames or round(duration * self.fps))

    def sequential(self) -> Iterator[tuple[int, Callable]]:
        self.container.seek(0)
        try:
            for i, frame in enumerate(self.container.decode(self.stream)):
                yield i, lambda f=frame: _shrink(f.to_ndarray(format="rgb24"))
        except self.av.FFmpegError:
            return  # a damaged tail ends the pass; what was read is kept

    def at(self, index: int):
        if self.fps <= 0:
            return None
        target = index / self.fps
        try:
            self.container.seek(int(target / self.stream.time_base), stream=self.stream, backward=True)
            for frame in self.container.decode(self.stream):
                if frame.time is None or frame.time + 0.5 / self.fps >= target:
                    return _shrink(frame.to_ndarray(format="rgb24"))
        except self.av.FFmpegError:
            return None
        return None

    def close(self) -> None:
        self.container.close()
