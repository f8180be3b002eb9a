"""Frame sampling speed: 8 frames from a 60 s 720p H.264 clip, sampler vs decoding every frame (a table)."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


from services.media import video  # noqa: E402

TARGET_RATIO = 3.0
FRAMES = 8


def make_clip(path: Path, seconds: int, fps: int = 30, size=(1280, 720)) -> Path:
    """An H.264 clip (libx264, default GOP 250) with moving content, encoded with PyAV."""
    import av
    import cv2
    import numpy as np

    w, h = size
    base = np.zeros((h, w, 3), np.uint8)
    base[:, :, 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    base[:, :, 1] = np.linspace(0, 255, h, dtype=np.uint8)[:, None]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(seconds * fps):
            frame = np.roll(base, i * 4, axis=1)
            x = (i * 7) % (w - 200)
            cv2.rectangle(frame, (x, 200), (x + 200, 400), (255, 255, 255), -1)
            cv2.putText(frame, f"{i // fps:02d}s frame {i}", (40, 100), cv2.FONT_HERSHEY_SIMPLEX, 2, (0, 0, 0), 4)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def decode_every_frame(path: Path, n: int) -> int:
    """The naive way: read and convert every frame, keep n evenly spaced ones."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    want = {round(i * (total - 1) / (n - 1)) for i in range(n)}
    kept, i = [], 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if i in want:
            kept.append(rgb)
        i += 1
    cap.release()
    return len(kept)


def _timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def run(quick: bool = False) -> dict:
    """Measure and print the table; return the numbers (used by `python -m bench`)."""
    seconds, repeats = (20, 1) if quick else (60, 3)
    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp:
        t = time.perf_counter()
        clip = make_clip(Path(tmp) / "clip.mp4", seconds)
        encode_s = time.perf_counter() - t
        info = video.probe(clip)
        every_s, kept = _timed(lambda: decode_every_frame(clip, FRAMES), repeats)
        auto_s, auto = _timed(lambda: video.sample(clip, frames=FRAMES), repeats)
        saved = video.GOP_GUESS
        video.GOP_GUESS = 10**9  # force the sequential grab() pass for the middle row
        try:
            seq_s, seq = _timed(lambda: video.sample(clip, frames=FRAMES), repeats)
        finally:
            video.GOP_GUESS = saved
    assert kept == FRAMES and len(auto.frames) == FRAMES and len(seq.frames) == FRAMES
    ratio = every_s / auto_s
    result = {
        "clip": f"{seconds} s {info.width}x{info.height} H.264 {info.fps:g} fps, {info.frame_count} frames",
        "frames": FRAMES, "repeats": repeats, "encode_s": round(encode_s, 2),
        "decode_every_frame_s": round(every_s, 3), "sequential_grab_s": round(seq_s, 3),
        "sampler_s": round(auto_s, 3), "sampler_method": auto.method,
        "ratio": round(ratio, 2), "target_ratio": TARGET_RATIO, "ok": ratio >= TARGET_RATIO,
    }
    print(f"video sampling: {FRAMES} frames from a {result['clip']} (median of {repeats}; clip encoded in "
          f"{encode_s:.1f} s)")
    print(f"{'method':44s} {'seconds':>8s} {'vs every':>9s}")
    print(f"{'decode + convert every frame (cv2 read)':44s} {every_s:8.3f} {1.0:9.2f}x")
    print(f"{'sampler, forced sequential grab()':44s} {seq_s:8.3f} {every_s / seq_s:9.2f}x")
    print(f"{'sampler, auto (' + auto.method + ')':44s} {auto_s:8.3f} {ratio:9.2f}x")
    print(f"ratio every-frame / sampler: {ratio:.2f}x (target >= {TARGET_RATIO}x) -> "
          f"{'OK' if result['ok'] else 'MISSED'}")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 20 s clip and one repeat")
    run(quick=parser.parse_args().quick)
