"""Keep-alive reuse and fork safety of the HTTP transport, counted on the server side."""

from __future__ import annotations

import contextlib
import io
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from urllib3.exceptions import ProtocolError
from urllib3.exceptions import SSLError as Urllib3SSLError

from sparkle_data.errors import IntegrityError
from sparkle_data.io.http import close_connections, transport_error
from sparkle_data.io.rangefile import RangeFile
from sparkle_data.io.remote import read_range
from sparkle_data.io.retry import is_retriable
from sparkle_data.io.source import FileObjectSource
from sparkle_data.testing.http import serve_directory


class CountingForwarder:
    """A TCP forwarder on 127.0.0.1 in front of the loopback server: counts connections."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.accepted = 0
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def forwarded(tmp_path: Path) -> Iterator[tuple[str, bytes, CountingForwarder]]:
    data = bytes(range(256)) * 64
    (tmp_path / "shard.tar").write_bytes(data)
    with serve_directory(tmp_path) as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        fwd = CountingForwarder(port)
        close_connections()
        try:
            yield f"http://127.0.0.1:{fwd.port}/shard.tar", data, fwd
        finally:
            close_connections()
            fwd.close()


@pytest.mark.network
def test_member_reads_reuse_one_connection(
    forwarded: tuple[str, bytes, CountingForwarder],
) -> None:
    url, data, fwd = forwarded
    assert read_range(url, 0, 100) == data[:100]
    assert read_range(url, 5000, 300) == data[5000:5300]
    assert read_range(url, 9000, 10) == data[9000:9010]
    assert fwd.accepted == 1


@pytest.mark.network
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_opens_its_own_connection(
    forwarded: tuple[str, bytes, CountingForwarder],
) -> None:
    url, data, fwd = forwarded
    assert read_range(url, 0, 100) == data[:100]
    assert fwd.accepted == 1
    pid = os.fork()
    if pid == 0:  # the child: must not talk over the parent's kept-alive socket
        ok = read_range(url, 1000, 100) == data[1000:1100]
        ok = ok and read_range(url, 2000, 100) == data[2000:2100]
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert fwd.accepted == 2  # the child opened one and reused it
    assert read_range(url, 3000, 100) == data[3000:3100]  # the parent's still works
    assert fwd.accepted == 2


def test_range_file_over_an_open_file_is_a_bounded_window() -> None:
    data = bytes(range(256)) * 8
    with RangeFile.over(
        FileObjectSource(io.BytesIO(data), name="mem.tar"), start=100, length=50, name="m::x"
    ) as f:
        assert f.name == "m::x"
        assert f.read(10) == data[100:110]
        f.seek(-5, io.SEEK_END)
        assert f.read(100) == data[145:150]  # never past the window
    with (
        RangeFile.over(
            FileObjectSource(io.BytesIO(data[:120]), name="cut.tar"), start=100, length=50
        ) as f,
        pytest.raises(IntegrityError, match="ends inside"),
    ):
        f.read()


def test_transport_errors_become_builtin_ones() -> None:
    cert = ssl.SSLCertVerificationError(1, "certificate verify failed")
    assert transport_error(Urllib3SSLError(cert), "https://h/x") is cert
    assert not is_retriable(cert)  # a TLS failure is final
    aborted = transport_error(ProtocolError("Connection aborted.", ConnectionResetError()), "u")
    assert type(aborted) is ConnectionError
    assert is_retriable(aborted)
