"""Media for vision requests: image intake, video frame sampling, per-backend vision prompts."""
