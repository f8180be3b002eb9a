"""Side-by-side runs: running a comparison, presets, run files, Elo and word diffs."""
