"""Transport-neutral frame logic over engine/: the frame processor, per-track liveness and
decisions, enrollment and authentication state machines, feedback, the frame clock and event
payloads. Synchronous and pure: no HTTP, no media, no storage (DESIGN §2)."""
