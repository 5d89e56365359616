"""A real RTSP server for camera tests: scripts/rtsp_test_server.py (gst-rtsp-server, run by
Debian's /usr/bin/python3) as a subprocess on a free 127.0.0.1 port, serving the blink video
looped and the still photo as a video. The media is made at test time with Debian's ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path

from testkit.data import DATA

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "rtsp_test_server.py"
VIDEO = DATA / "video" / "blink_live.mp4"
STILL = DATA / "video" / "blink_live_still.jpg"


def make_media(folder: Path, loops: int = 4, still_s: float = 20.0) -> dict[str, Path]:
    """door: the blink video `loops` times (stream copy, instant); still: the photo at 15 fps."""
    door, still = folder / "door.mp4", folder / "still.mp4"
    if not door.exists():
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i", str(VIDEO), "-c", "copy",
                        str(door)], check=True, timeout=60)
    if not still.exists():
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-framerate", "15", "-i", str(STILL), "-t",
                        str(still_s), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "15",
                        str(still)], check=True, timeout=120)
    return {"door": door, "still": still}


class RtspServer:
    def __init__(self, mounts: dict[str, Path], port: int = 0) -> None:
        self.mounts = mounts
        self.port = port
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> "RtspServer":
        args = ["/usr/bin/python3", str(SCRIPT), "--port", str(self.port)]
        args += [f"{name}={path}" for name, path in self.mounts.items()]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            self.stop()
            raise RuntimeError(f"RTSP server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def url(self, name: str, credentials: str = "") -> str:
        return f"rtsp://{credentials + '@' if credentials else ''}127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc is not None:
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()

