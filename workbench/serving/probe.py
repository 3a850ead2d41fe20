"""One prediction from a freshly started ``workbench serve``: start it, wait for it, ask it, stop it.

The smallest proof that a version in production answers over HTTP, as ``workbench demo``
ends its tour with. The server is the real command in a child process, on a free port
(``--port 0``, the address read from the banner it prints); it counts as up once
``/healthz`` answers with the model loaded (polled, with a deadline); it is asked for one
row; then it is stopped with SIGTERM, as a service manager stops it, and waited for. A
server that exits early, never becomes healthy, refuses the row or does not stop raises
:class:`ServerCheckError` with the end of what it printed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from workbench.errors import ServerCheckError

_LISTENING = re.compile(r"workbench serve: listening on (http://\S+)")
_POLL = 0.05
STOP_TIMEOUT = 15.0


@dataclass(frozen=True)
class ServedPrediction:
    """What the server answered for the row, where it listened, and how long each part took."""

    url: str
    banner: str
    model: str
    version: int
    arm: str
    prediction: Any
    probabilities: dict[str, float] | None
    seconds_to_healthy: float
    seconds_to_stop: float

    def __str__(self) -> str:
        odds = ""
        if self.probabilities:
            odds = " (" + ", ".join(f"P({label}) = {p:.3f}" for label, p in self.probabilities.items()) + ")"
        return f"{self.model} v{self.version} ({self.arm}) predicted {self.prediction!r}{odds}"


class _Output:
    """The lines a stream of the child prints, read by a thread so its pipe never fills up."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def join(self) -> None:
        self._thread.join(timeout=STOP_TIMEOUT)

    def text(self) -> str:
        return "\n".join(self.lines)


class _Child:
    """``workbench serve`` as a child process with its two outputs."""

    def __init__(self, args: Sequence[str], cwd: Path | None, env: Mapping[str, str] | None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "workbench.cli", "serve", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env=dict(env) if env is not None else None,
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self.stdout = _Output(self.process.stdout)
        self.stderr = _Output(self.process.stderr)

    def failure(self, what: str) -> ServerCheckError:
        if self.process.poll() is not None:  # all it printed is in the pipes: read to the end
            self.stdout.join()
            self.stderr.join()
        said = (self.stdout.text() + "\n" + self.stderr.text()).strip()
        # the generated write token is printed once for the user; it has no place in an error
        said = "\n".join(line for line in said.splitlines() if "token" not in line)
        tail = said[-2000:] if said else "(it printed nothing)"
        return ServerCheckError(f"workbench serve {what}; it printed:\n{tail}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it is still there after :data:`STOP_TIMEOUT` seconds."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        self.stdout.join()
        self.stderr.join()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def _post_json(url: str, body: Mapping[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def _wait_for_address(child: _Child, deadline: float) -> tuple[str, str]:
    while True:
        for line in list(child.stdout.lines):
            found = _LISTENING.search(line)
            if found:
                return found.group(1), line
        if child.process.poll() is not None:
            raise child.failure(f"exited with code {child.process.returncode} before it listened")
        if time.monotonic() > deadline:
            raise child.failure("printed no address in time")
        time.sleep(_POLL)


def _wait_until_healthy(child: _Child, url: str, deadline: float) -> None:
    while True:
        try:
            if _get_json(f"{url}/healthz").get("models", 0) >= 1:
                return
        except (OSError, ValueError):
            pass  # not answering yet
        if child.process.poll() is not None:
            raise child.failure(f"exited with code {child.process.returncode} before it was healthy")
        if time.monotonic() > deadline:
            raise child.failure(f"did not answer {url}/healthz with a model loaded in time")
        time.sleep(_POLL)


def predict_once(
    model: str,
    row: Mapping[str, float] | Sequence[float],
    *,
    timeout: float = 60.0,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> ServedPrediction:
    """Start ``workbench serve --models MODEL`` on a free loopback port, predict ``row``, stop it.

    ``row`` maps feature names to values (sent as ``records``) or lists them in the model's
    feature order (sent as ``instances``).
    ``timeout`` bounds the start (address and health); ``cwd`` and ``env`` are the child's
    (default: this process's), so it serves from the same store. Raises
    :class:`ServerCheckError` when the server does not start, answer or stop cleanly.
    """
    started = time.monotonic()
    args = ["--host", "127.0.0.1", "--port", "0", "--models", model, "--reload-seconds", "0"]
    child = _Child(args, Path(cwd) if cwd is not None else None, env)
    try:
        url, banner = _wait_for_address(child, started + timeout)
        _wait_until_healthy(child, url, started + timeout)
        healthy = time.monotonic() - started
        try:
            body = {"records": [dict(row)]} if isinstance(row, Mapping) else {"instances": [list(row)]}
            answer = _post_json(f"{url}/v1/models/{model}/predict", body)
        except urllib.error.HTTPError as exc:
            raise child.failure(f"refused the row with HTTP {exc.code}: {exc.read().decode(errors='replace')}") from exc
        except OSError as exc:
            raise child.failure(f"did not answer the row: {exc}") from exc
        stopping = time.monotonic()
        child.stop()
        stopped = time.monotonic() - stopping
    finally:
        child.stop()
    # uvicorn ends by raising the SIGTERM it handled again; a traceback means it did not shut down cleanly
    if child.process.returncode not in (0, -signal.SIGTERM) or "Traceback" in child.stderr.text():
        raise child.failure(f"did not stop cleanly (exit code {child.process.returncode})")
    probabilities = answer.get("probabilities")
    return ServedPrediction(
        url=url,
        banner=banner,
        model=str(answer["model"]),
        version=int(answer["version"]),
        arm=str(answer["arm"]),
        prediction=answer["predictions"][0],
        probabilities=probabilities[0] if probabilities else None,
        seconds_to_healthy=healthy,
        seconds_to_stop=stopped,
    )


__all__ = ["STOP_TIMEOUT", "ServedPrediction", "predict_once"]
