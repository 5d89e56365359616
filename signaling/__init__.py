"""SDP offer/answer and ICE candidate handling for stream sessions."""
