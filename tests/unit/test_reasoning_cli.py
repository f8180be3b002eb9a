"""`moe` argument errors: one readable line and exit 2, before any model work."""

import pytest

from services.__main__ import main


@pytest.mark.parametrize("argv,message", [
    (["moe"], "Give a question"),
    (["moe", "   "], "Give a question"),
    (["moe", "q", "--target", "onnx:a", "--target", "onnx:b"], "use --suite"),
    (["moe", "q", "--samples", "0"], "samples must be between 1 and 20"),
    (["moe", "--suite", "/nonexistent/problems.jsonl"], "No problem set"),
    (["moe", "--suite", "bundled", "--limit", "0"], "--limit must be 1 or more"),
    (["moe", "q", "--temperature", "-1"], "temperature must be between 0 and 2"),
])
def test_bad_arguments(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
