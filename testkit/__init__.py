"""Real inputs shared by tests/ and bench/: the shared face data set, decoded media and liveness
sources, a scripted WebRTC peer, a camera viewer, an RTSP test server, request builders.

Why a package of its own: benchmarks drive the same real sources and peers the tests do, and
DESIGN §2 forbids anything (bench included) importing tests/. Nothing here imports tests/ or
mocks our own components; the server's packages never import this one.
"""
