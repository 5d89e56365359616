"""aiortc media: stream sessions, the frame loop and the session registry."""
