"""A small RTSP server for tests and benchmarks: serves H.264 MP4 files at rtsp://HOST:PORT/NAME.

Runs under Debian's /usr/bin/python3 (python3-gi + gir1.2-gst-rtsp-server-1.0; see DESIGN.md §8):
ffmpeg alone cannot serve RTSP to pulling clients. Each client gets its own pipeline from the
start of the file (not shared), played at the file's frame rate. Prints "READY <port>" once bound.

    /usr/bin/python3 scripts/rtsp_test_server.py --port 0 door=/tmp/loop.mp4 still=/tmp/still.mp4
"""

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8554, help="0: any free port (printed)")
    parser.add_argument("mounts", nargs="+", help="name=path.mp4")
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for item in args.mounts:
        name, _, path = item.partition("=")
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(f'( filesrc location="{path}" ! qtdemux ! h264parse ! '
                           f'rtph264pay name=pay0 pt=96 config-interval=1 )')
        factory.set_shared(False)
        mounts.add_factory("/" + name, factory)
    if server.attach(None) == 0:
        sys.exit(f"could not bind {args.host}:{args.port}")
    print(f"READY {server.get_bound_port()}", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
