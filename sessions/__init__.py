"""The one session service every transport calls (DESIGN §2): REST enrollment and authentication
sessions, process-image, batches, WebRTC streams and WebSocket process_frame (sessions.live), over
the transport-neutral frame logic of recognition/. A rule written here holds on every path."""
