"""Loopback stand-ins for servers that cannot run here (cloud APIs, Ollama, faults)."""
