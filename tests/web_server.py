"""A real server for the browser test and the load benchmark: uvicorn on 127.0.0.1, a free port,
in a thread of this process, always stopped (``with running(settings) as url: ...``)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.request

import uvicorn

from symbackprop.web.app import Settings, create_app

START_SECONDS = 60.0


@contextlib.contextmanager
def running(settings: Settings, start_seconds: float = START_SECONDS):
    """The server's base URL (http://127.0.0.1:PORT) while the block runs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="on"))
    server.install_signal_handlers = lambda: None  # not the main thread
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_seconds
        while True:
            try:
                with urllib.request.urlopen(url + "/api/specs", timeout=5) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or not thread.is_alive():
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
