"""The web app's settings (torch-free, read by the command and the app)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from dancenow.errors import DancenowError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class WebConfig:
    """host/port: where the app listens (localhost by default: it has no log-in).
    work_dir: the database, the uploads and the jobs' files.
    max_upload_mb: the largest upload accepted; max_video_seconds: the longest video.
    models: trained model folders (synthesis or choreography) to offer besides the app's own.
    lanes: how many jobs of each lane run at once ("train": training and transfer, the CPU-heavy
    work, one at a time; "light": coach reports and videos of a saved dance)."""

    host: str = "127.0.0.1"
    port: int = 7860
    work_dir: Path = Path("dancenow-web")
    max_upload_mb: float = 512.0
    max_video_seconds: float = 900.0
    models: tuple[Path, ...] = ()
    lanes: dict[str, int] = field(default_factory=lambda: {"train": 1, "light": 1})

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def is_local(self) -> bool:
        if self.host in LOCAL_HOSTS:
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def validate(self) -> "WebConfig":
        if not 0 <= self.port <= 65535:
            raise DancenowError(f"port must be 0-65535, got {self.port}")
        if not self.max_upload_mb > 0:
            raise DancenowError(f"the upload limit must be positive, got {self.max_upload_mb} MB")
        if not self.max_video_seconds > 0:
            raise DancenowError(f"the video length limit must be positive, got {self.max_video_seconds} s")
        for m in self.models:
            if not Path(m).is_dir():
                raise DancenowError(f"model folder not found: {m}")
        return self
