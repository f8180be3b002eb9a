"""Scene sampling on a long clip with a tiny threshold: bounded memory and work, still the strongest changes.

Bound checked here: while scanning, scene sampling holds at most max_frames + 2 decoded frames (the kept
ones, the one being compared, one being decoded) plus 512 KB of working space (histograms, the 96x54
thumbnail), measured with tracemalloc (numpy reports its buffers to it); and it compares at most
MAX_SCENE_ANALYSED frames. Keeping every frame over the threshold, as a list would, holds 1000 frames here.
"""

import tracemalloc

import pytest

from services.media import video

W, H, FPS, FRAMES = 160, 90, 5, 2000
CUTS = (300, 700, 1100, 1500, 1900)  # even, so the every-2nd-frame analysis lands on them
COLOURS_BGR = [(40, 40, 40), (0, 0, 220), (0, 200, 0), (220, 0, 0), (0, 220, 220), (220, 0, 220)]


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """400 s at 5 fps: six flat scenes, each frame a little different from the last (a moving square)."""
    import cv2
    import numpy as np

    path = tmp_path_factory.mktemp("long") / "long.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (W, H))
    assert writer.isOpened()
    scene = 0
    for n in range(FRAMES):
        if scene < len(CUTS) and n == CUTS[scene]:
            scene += 1
        frame = np.full((H, W, 3), COLOURS_BGR[scene], np.uint8)
        x = (n * 3) % (W - 12)
        frame[30:42, x:x + 12] = (255, 255, 255) if n % 2 else (128, 128, 128)
        writer.write(frame)
    writer.release()
    return path


def test_long_clip_tiny_threshold_keeps_few_frames_and_the_strongest_changes(long_clip):
    max_frames = len(CUTS) + 1
    frame_bytes = W * H * 3
    tracemalloc.start()
    try:
        result = video.sample(long_clip, strategy="scene", threshold=1e-6, max_frames=max_frames)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    bound = (max_frames + 2) * frame_bytes + 512 * 1024
    print(f"scene scan of {FRAMES} frames ({W}x{H}): peak {peak / 1024:.0f} KB, bound {bound / 1024:.0f} KB, "
          f"every analysed frame kept would be {1000 * frame_bytes / 1024:.0f} KB")
    assert peak <= bound, f"peak {peak} bytes over the bound {bound}"
    # the first frame and the five cuts: the strongest changes, not the first ones over the threshold
    assert [f.index for f in result.frames] == [0, *CUTS]
    # 2000 frames at 5 fps would be compared one by one; the cap spreads 1000 over the clip
    note = next(n for n in result.notes if "scene changes were looked for in" in n)
    analysed = int(note.split("looked for in ")[1].split()[0])
    assert analysed <= video.MAX_SCENE_ANALYSED


def test_the_heap_prefers_stronger_changes_and_earlier_ties(long_clip):
    # two frames kept: the first frame always, then the single strongest cut of the five
    result = video.sample(long_clip, strategy="scene", threshold=1e-6, max_frames=2)
    assert result.frames[0].index == 0 and result.frames[1].index in CUTS
    assert len(result.frames) == 2
