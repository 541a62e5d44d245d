"""Fakes for the Sparkle-Bench tests: a loopback OpenAI-compatible chat-completions server with
scripted faults, and a small Sparkle-Bench tree whose "videos" are opaque bytes (the rater
only base64-encodes them)."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sparkle_data.layout import (
    bench_csv_path,
    bench_inference_relpath,
    bench_metadata_path,
    bench_source_video_path,
    parse_sample_id,
)
from sparkle_data.sparkle_bench.rubric import DIMENSION_LABELS

RUBRIC = "Rate this edit.\nEditing instruction is: {edit_prompt}.\nBelow are the videos:\n"
SUBTHEMES = {"location": "urban", "season": "winter", "time": "night", "style": "era"}


def canned_scores(sample_id: str) -> list[int]:
    """Deterministic raw scores of an id (before the cap), some above Instruction Compliance."""
    n = parse_sample_id(sample_id).index
    return [1 + (n + i * 2) % 5 for i in range(6)]


def answer_text(scores: list[int]) -> str:
    lines = ["Brief reasoning: fine."]
    lines += [f"{label}: {s}." for label, s in zip(DIMENSION_LABELS, scores, strict=True)]
    return "\n".join(lines)


@dataclass
class FakeRater:
    """Scripted behaviour per sample id: a list of actions popped per request, then ``ok``.

    Actions: ``("ok",)``, ``("text", content)``, ``("status", code)``, ``("slow", seconds)``
    (answers ok after sleeping), ``("drop",)`` (closes the connection mid-body),
    ``("garbage",)`` (200 with a non-JSON body).
    """

    script: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    default_delay: float = 0.0
    requests: Counter[str] = field(default_factory=Counter)
    answered: Counter[str] = field(default_factory=Counter)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    videos: dict[str, list[bytes]] = field(default_factory=lambda: defaultdict(list))
    auth: list[str] = field(default_factory=list)

    def next_action(self, sid: str) -> tuple[Any, ...]:
        with self.lock:
            self.requests[sid] += 1
            steps = self.script.get(sid)
            return steps.pop(0) if steps else ("ok",)


def _id_of(text: str) -> str:
    # prompts of the fake tree end with "(<sample id>)"
    return text.rsplit("(", 1)[1].split(")", 1)[0]


def _handler(rater: FakeRater) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _json(self, code: int, obj: object, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            rater.auth.append(self.headers.get("Authorization", ""))
            if not self.path.endswith("/chat/completions"):
                self._json(404, {"error": {"message": "no such route"}})
                return
            content = body["messages"][0]["content"]
            text = content[0]["text"]
            sid = _id_of(text)
            with rater.lock:
                rater.bodies.append(body)
                rater.videos[sid] = [
                    base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                    for part in content[1:]
                ]
            action = rater.next_action(sid)
            kind = action[0]
            if rater.default_delay:
                time.sleep(rater.default_delay)
            if kind == "status":
                code = action[1]
                headers = {"Retry-After": "0"} if code == 429 else None
                self._json(code, {"error": {"message": f"fake {code}", "type": "x"}}, headers)
                return
            if kind == "drop":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "400")
                self.end_headers()
                self.wfile.write(b'{"id": "chatcmpl-1", "choices": [')
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if kind == "garbage":
                data = b"<html>upstream proxy error</html>"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            if kind == "slow":
                time.sleep(action[1])
            answer = action[1] if kind == "text" else answer_text(canned_scores(sid))
            with rater.lock:
                if kind != "text":
                    rater.answered[sid] += 1
            self._json(
                200,
                {
                    "id": "chatcmpl-fake", "object": "chat.completion", "created": 0,
                    "model": body.get("model", "fake"),
                    "choices": [{
                        "index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": answer},
                    }],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                },
            )

    return Handler


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out closed its end: expected here


@contextmanager
def serve_fake_rater(rater: FakeRater) -> Iterator[str]:
    """Serve ``rater`` on 127.0.0.1; yields the base URL (``http://127.0.0.1:PORT/v1``)."""
    server = _QuietServer(("127.0.0.1", 0), _handler(rater))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def write_fake_bench(
    root: Path, outdir: Path, per_theme: int = 6, themes: tuple[str, ...] = ("location", "time")
) -> list[str]:
    """A Sparkle-Bench tree under ``root`` and an inference output under ``outdir`` whose videos
    are opaque bytes; returns the ids."""
    ids: list[str] = []
    for theme in themes:
        csv_lines = ["edited_type,prompt,original_video"]
        meta_lines = []
        for k in range(1, per_theme + 1):
            sid = f"Sparkle_{theme}_{k:06d}"
            ids.append(sid)
            prompt = f"Replace the background with scene {k} ({sid})"
            keyword = f"{SUBTHEMES[theme]}: scene number {k}"
            src = bench_source_video_path(sid)
            csv_lines.append(f"{theme},{prompt},{src}")
            meta_lines.append(json.dumps({
                "id": sid, "prompt": prompt,
                "metadata": {"edit_type": theme, "chosen_keyword": keyword,
                             "original_scene": "a room"},
            }))
            (root / src).parent.mkdir(parents=True, exist_ok=True)
            (root / src).write_bytes(b"SRC:" + sid.encode())
            out = outdir / bench_inference_relpath(sid, keyword)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(b"EDIT:" + sid.encode())
        (root / bench_csv_path(theme)).write_text("\n".join(csv_lines) + "\n")
        (root / bench_metadata_path(theme)).write_text("\n".join(meta_lines) + "\n")
    return ids
