"""REST enrollment and authentication sessions (platform API).

They share the stream sessions' frame logic (streaming.processor.FrameProcessor: tracking,
per-track LivenessTracker, quality gate, embedding sampling; streaming.decision.decide), so a
face proven live over WebRTC and one proven live over posted frames meet the same rules.
"""
