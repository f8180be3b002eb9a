"""Video: probe, sample frames uniformly, at a fixed rate or at scene changes; OpenCV first, PyAV fallback."""

from __future__ import annotations

import heapq
import math
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from services.media import images as media
from services.errors import BadRequest, MediaError
from services.types import ImagePart
from services.media import video_readers
from services.media.video_readers import AvReader, CvReader

# a damaged file is reported as one MediaError; without these OpenCV and its FFmpeg also print
# "moov atom not found" and "[ WARN:0] ... can't be used to capture by name" to stderr (a user's
# own settings win; the log level is read when cv2 is first imported, FFmpeg's on each open)
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

STRATEGIES = ("uniform", "fps", "scene")
# the most frames any strategy returns (each costs ~757 Phi-3.5-vision tokens at 4 crops)
MAX_FRAMES = 64
DEFAULT_FRAMES = 8
DEFAULT_RATE = 1.0
DEFAULT_THRESHOLD = 0.4
# below this, seeking beats decoding everything: each seek decodes about half a GOP
GOP_GUESS = 250
# a frame rate outside this range is a broken header, not a real video
MIN_FPS, MAX_FPS = 0.1, 1000.0
# scene detection compares about this many frames per second, not every frame
SCENE_ANALYSIS_FPS = 5.0
# and at most this many frames per clip: a long clip is compared at wider, even steps
MAX_SCENE_ANALYSED = 1000
# seeks that fail in a row before switching to one sequential pass
MAX_SEEK_FAILURES = 3
# frames are kept at most this large (the models resize further)
FRAME_MAX_SIDE = video_readers.FRAME_MAX_SIDE
# tried in this order: the first that opens the file and decodes a frame reads it
READERS = (CvReader, AvReader)

Progress = Callable[[float, str], None]


def _quiet(fraction: float, message: str) -> None:
    """Default progress callback: say nothing."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container says (frame_count is an estimate; decoder is opencv or pyav)."""

    duration_s: float
    fps: float
    frame_count: int
    width: int
    height: int
    codec: str
    container: str
    decoder: str


@dataclass(frozen=True)
class Frame:
    """One sampled frame: its index in the video, its time, and RGB pixels."""

    index: int
    timestamp_s: float
    rgb: object  # numpy array, height x width x 3

    def part(self, max_side: int = FRAME_MAX_SIDE) -> ImagePart:
        """This frame as an ImagePart with its timestamp."""
        return media.array_to_part(self.rgb, timestamp_s=round(self.timestamp_s, 3),
                                   label=f"frame {self.index}", max_side=max_side)


@dataclass
class SampleResult:
    """The frames chosen, how, and anything the person should know (a lying header, a cap)."""

    info: VideoInfo
    frames: list[Frame]
    strategy: str
    method: str
    notes: list[str] = field(default_factory=list)

    def parts(self, max_side: int = FRAME_MAX_SIDE) -> list[ImagePart]:
        """Every frame as an ImagePart, in time order."""
        return [f.part(max_side) for f in self.frames]

    def frames_json(self) -> list[dict]:
        """[{"index", "timestamp_s"}] as the CLI and exports show them."""
        return [{"index": f.index, "timestamp_s": round(f.timestamp_s, 3)} for f in self.frames]


@contextmanager
def _on_disk(source: bytes | Path, name: str):
    """A path FFmpeg can open: the given path, or the bytes in a private temp file with a random name."""
    if isinstance(source, (str, Path)):
        yield str(source)
        return
    kind = media.sniff(source)
    # the suffix comes from the content, never from the upload's name
    fd, path = tempfile.mkstemp(prefix="phi-video-", suffix="." + {"webm": "mkv"}.get(kind, kind))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(source)
        yield path
    finally:
        os.unlink(path)


def _check_bytes(source: bytes | Path, name: str) -> None:
    if isinstance(source, bytes):
        data = source
        media.check_size(name, data, media.MAX_VIDEO_BYTES)
    else:
        size = Path(source).stat().st_size
        if size == 0:
            raise MediaError(f"{name} is empty (0 bytes); pick the file again.")
        if size > media.MAX_VIDEO_BYTES:
            raise MediaError(f"{name} is {size / media.MB:.1f} MB, over the "
                             f"{media.MAX_VIDEO_BYTES // media.MB} MB limit for videos.")
        with open(source, "rb") as fh:
            data = fh.read(64)
    kind = media.sniff(data)
    if kind in media.IMAGE_KINDS:
        raise MediaError(f"{name} is {media.kind_name(kind)}, not a video; add it as an image instead.")
    if kind in ("executable", "script", "pdf", "zip"):
        raise MediaError(f"{name} is {media.kind_name(kind)}, not a video. Videos can be MP4, MOV, WebM, MKV or AVI.")


def _open(path: str, name: str):
    failures = []
    for cls in READERS:
        try:
            return cls(path)
        except MediaError as exc:
            failures.append(exc.message)
    raise MediaError(f"{name}: no frame could be read ({'; '.join(failures)}). The file may be truncated "
                     "or damaged, or use a codec we cannot decode.")


def _info(reader, path: str, name: str) -> VideoInfo:
    fps = reader.fps
    if not (MIN_FPS <= fps <= MAX_FPS):
        raise MediaError(f"{name}: its header reports {fps:.3g} frames per second, so frame times cannot be "
                         "worked out. Re-encode it (for example: ffmpeg -i in.mp4 -r 30 out.mp4).")
    if reader.width * reader.height > media.MAX_PIXELS:
        raise MediaError(f"{name} is {reader.width}x{reader.height}, over the "
                         f"{media.MAX_PIXELS / 1e6:.0f}-megapixel limit.")
    count = max(reader.count, 0)
    container = Path(path).suffix.lstrip(".") or "?"
    return VideoInfo(round(count / fps, 3), round(fps, 3), count, reader.width, reader.height,
                     reader.codec, container, reader.decoder)


def probe(source: bytes | Path, name: str = "The video") -> VideoInfo:
    """Duration, fps, frame count (an estimate), size, codec and which decoder can read it."""
    _check_bytes(source, name)
    with _on_disk(source, name) as path:
        reader = _open(path, name)
        try:
            return _info(reader, path, name)
        finally:
            reader.close()


# ---------- sampling ----------

def _linspace(total: int, n: int) -> list[int]:
    if total <= 0 or n <= 0:
        return []
    if n >= total:
        return list(range(total))
    return sorted({round(i * (total - 1) / (n - 1)) for i in range(n)}) if n > 1 else [0]


def _sequential_pick(reader, wanted: list[int], total: int, progress: Progress) -> tuple[dict, int]:
    """One pass from the start keeping the wanted indices; returns (frames by index, frames seen)."""
    want, got, seen = set(wanted), {}, 0
    last = max(want) if want else -1
    for i, decode in reader.sequential():
        seen = i + 1
        if i in want:
            rgb = decode()
            if rgb is not None:
                got[i] = rgb
        if i % 15 == 0:
            progress(min(1.0, i / max(total, 1)), f"reading frame {i} of about {total}")
        if i >= last:
            break
    return got, seen


def _by_indices(reader, wanted: list[int], total: int, progress: Progress, notes: list[str]) -> tuple[dict, str]:
    """Frames at these indices: seeking when they are sparse, one sequential pass when dense."""
    if total > 0 and len(wanted) * GOP_GUESS / 2 < total:
        got, failures = {}, 0
        for k, i in enumerate(wanted):
            rgb = reader.at(i)
            progress((k + 1) / len(wanted), f"frame {k + 1} of {len(wanted)}")
            if rgb is None:
                failures += 1
                if failures >= MAX_SEEK_FAILURES:
                    break
                continue
            failures = 0
            got[i] = rgb
        if len(got) == len(wanted):
            return got, "seek"
        notes.append("Seeking failed on this file, so it was read from the start instead.")
    got, seen = _sequential_pick(reader, wanted, total, progress)
    return got, "sequential"


def _recount(info: VideoInfo, real: int) -> VideoInfo:
    return VideoInfo(round(real / info.fps, 3), info.fps, real, info.width, info.height,
                     info.codec, info.container, info.decoder)


def _scene_frames(reader, fps: float, total: int, threshold: float, limit: int,
                  progress: Progress) -> tuple[dict, int, int, int]:
    """Frames where the colour histogram changes by more than threshold (Bhattacharyya distance).

    Bounded whatever the clip: at most MAX_SCENE_ANALYSED frames are converted to pixels and compared
    (evenly spread; the others are only grabbed, and the file itself is under the video size cap), and
    at most `limit` frames are held while scanning, in a min-heap of the strongest
    changes so far, so memory is limit + 1 frames of at most FRAME_MAX_SIDE pixels a side, not every
    frame over the threshold. Returns (frames by index, frames seen, frames analysed, stride).
    """
    import cv2

    stride = max(1, round(fps / SCENE_ANALYSIS_FPS), math.ceil(total / MAX_SCENE_ANALYSED))
    # (priority, -index, index, rgb): the root is the weakest change kept, the later one on a tie;
    # the first frame always starts a scene, so it outranks any distance (which is at most 1)
    kept: list[tuple[float, int, int, object]] = []
    prev, seen, analysed = None, 0, 0
    for i, decode in reader.sequential():
        seen = i + 1
        if i % stride:
            continue
        rgb = decode()
        if rgb is None:
            continue
        analysed += 1
        small = cv2.resize(rgb, (96, 54), interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], None, [16, 4, 4], [0, 180, 0, 256, 0, 256])
        cv2.normalize(hist, hist)
        score = 2.0 if prev is None else cv2.compareHist(prev, hist, cv2.HISTCMP_BHATTACHARYYA)
        if score >= threshold:
            entry = (score, -i, i, rgb)
            if len(kept) < limit:
                heapq.heappush(kept, entry)
            elif entry[:2] > kept[0][:2]:
                heapq.heapreplace(kept, entry)
        prev = hist
        del rgb  # the frame lives on only if the heap kept it
        if i % 30 == 0:
            progress(min(1.0, i / max(total, 1)), f"looking for scene changes: frame {i} of about {total}")
    return {i: rgb for _score, _neg, i, rgb in kept}, seen, analysed, stride


def sample(source: bytes | Path, *, strategy: str = "uniform", frames: int = DEFAULT_FRAMES,
           rate: float = DEFAULT_RATE, threshold: float = DEFAULT_THRESHOLD, max_frames: int = 32,
           name: str = "The video", progress: Progress | None = None) -> SampleResult:
    """Sample frames from a video given as bytes (an upload) or a path (the CLI, benches).

    Raises MediaError naming the problem when nothing usable can be read; never an empty success.
    """
    progress = progress or _quiet
    if strategy not in STRATEGIES:
        raise BadRequest(f"sampling must be one of {', '.join(STRATEGIES)}, not {strategy!r}.")
    if not 1 <= max_frames <= MAX_FRAMES:
        raise BadRequest(f"max frames must be between 1 and {MAX_FRAMES}, not {max_frames}.")
    if strategy == "uniform" and not 1 <= frames <= max_frames:
        raise BadRequest(f"frames must be between 1 and {max_frames}, not {frames}.")
    if strategy == "fps" and not 0 < rate <= 30:
        raise BadRequest(f"rate must be above 0 and at most 30 frames per second, not {rate}.")
    if strategy == "scene" and not 0 < threshold < 1:
        raise BadRequest(f"threshold must be between 0 and 1, not {threshold}.")
    _check_bytes(source, name)
    notes: list[str] = []
    with _on_disk(source, name) as path:
        reader = _open(path, name)
        try:
            info = _info(reader, path, name)
            if reader.decoder == "pyav":
                notes.append(f"OpenCV cannot decode {info.codec}; PyAV decoded it instead.")
            total = info.frame_count
            if total <= 0:
                # no usable count in the header: count with one pass (grab decodes, skips conversion)
                total = sum(1 for _ in reader.sequential())
            if strategy == "scene":
                got, seen, analysed, stride = _scene_frames(reader, info.fps, total, threshold, max_frames,
                                                            progress)
                method = "scene scan"
                if stride > max(1, round(info.fps / SCENE_ANALYSIS_FPS)):
                    notes.append(f"This video is long: scene changes were looked for in {analysed} frames, "
                                 f"one every {stride / info.fps:.1f} s.")
                if 0 < seen < total:
                    notes.append(f"The header says {total} frames but only {seen} could be read.")
                    info = _recount(info, seen)
            else:
                cap_notes: list[str] = []
                wanted = _wanted(strategy, total, info.fps, frames, rate, max_frames, cap_notes)
                got, method = _by_indices(reader, wanted, total, progress, notes)
                if len(got) < len(wanted) and max(wanted) > max(got, default=-1):
                    # the header overstated the length (opencv#11782): measure it and sample again
                    real = sum(1 for _ in reader.sequential())
                    if 0 < real < total:
                        notes.append(f"The header says {total} frames but only {real} could be read; "
                                     "frames were chosen from those.")
                        total, info, cap_notes = real, _recount(info, real), []
                        wanted = _wanted(strategy, real, info.fps, frames, rate, max_frames, cap_notes)
                        got, _seen = _sequential_pick(reader, wanted, real, progress)
                        method = "sequential"
                notes.extend(cap_notes)
        finally:
            reader.close()
    progress(1.0, "done")
    if not got:
        raise MediaError(f"{name}: no frame could be decoded. The file may be truncated or damaged.")
    chosen = [Frame(i, i / info.fps, got[i]) for i in sorted(got)]
    return SampleResult(info, chosen, strategy, f"{info.decoder} {method}", notes)


def _wanted(strategy: str, total: int, fps: float, frames: int, rate: float, max_frames: int,
            notes: list[str]) -> list[int]:
    if strategy == "uniform":
        return _linspace(total, frames)
    # fixed rate: one frame every 1/rate seconds, capped
    step = fps / rate
    idx = sorted({min(total - 1, round(k * step)) for k in range(max(1, int(total / step) + 1))})
    if len(idx) > max_frames:
        notes.append(f"{rate:g} frame(s) per second would give {len(idx)} frames; capped at {max_frames}, "
                     "spread evenly.")
        idx = [idx[j] for j in _linspace(len(idx), max_frames)]
    return idx
