"""A live uvicorn server on 127.0.0.1 in a thread, sharing the test session's loaded model."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import uvicorn

from api import ServerConfig, Service, create_app
from overlay import Workspace

KEY = "test-key-123"


class LiveServer:
    def __init__(self, home: Path, backend, api_key: str | None, server: ServerConfig | None = None) -> None:
        self.service = Service.open(Workspace(home=home), api_key=api_key, backend=backend, server=server)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(self.service), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def serve_copy(
    source: Path, home: Path, backend, api_key: str | None = KEY, server: ServerConfig | None = None
) -> LiveServer:
    """A live server over a copy of a published workspace (so a test may change it freely)."""
    shutil.copytree(source, home, symlinks=True)
    return LiveServer(home, backend, api_key, server)
