"""Reasoning tools: presets and answer extraction, the problem set, MoE routing views."""
