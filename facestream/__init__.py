"""Facestream: self-hosted real-time face recognition and liveness server."""

__version__ = "0.1.0"
