"""Access control over the session service (DESIGN §2): the gate that turns a camera's settled
tracks into door decisions, weekly schedules, camera definitions and the camera directory.
No media (streaming/ feeds it), no HTTP (api/ serves it)."""
