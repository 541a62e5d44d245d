"""Point an already-imported ``huggingface_hub`` (and ``datasets``) at a fake Hub, and back.

``huggingface_hub`` reads ``HF_ENDPOINT`` and friends **once, at import**, into module
constants, and a few values are derived from them at import too (the ``resolve`` URL template,
the hosts trusted with redirects and with the token, the endpoint of the module-level
``huggingface_hub.hf_api.api`` client). Setting the environment variable after the import
changes nothing, so :func:`patched_client` sets the variables (for code that imports later
and for subprocesses) *and* rewrites those already-computed values, restoring all of it on
exit. It also turns Xet off: with ``hf_xet`` installed the client uploads through the Xet CAS
protocol, whatever the server says, which the fake Hub does not speak.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

__all__ = ["client_env", "patched_client"]

_UNSET = object()
_REMOVED_ENV = ("HF_OIDC_RESOURCE", "HUGGINGFACE_CO_STAGING", "TRANSFORMERS_OFFLINE")
"""Variables that would send the client elsewhere (OIDC token exchange, staging Hub)."""


def client_env(endpoint: str, token: str | None) -> dict[str, str]:
    """Environment variables for a process that must talk to the fake Hub only."""
    env = {
        "HF_ENDPOINT": endpoint,
        "HF_HUB_OFFLINE": "0",
        "HF_DATASETS_OFFLINE": "0",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }
    if token is not None:
        env["HF_TOKEN"] = token
    return env


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return parts.scheme, (parts.hostname or "").lower(), port


class _Patcher:
    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []
        self._env: list[tuple[str, str | None]] = []

    def setattr(self, obj: Any, name: str, value: Any) -> None:
        self._saved.append((obj, name, getattr(obj, name, _UNSET)))
        setattr(obj, name, value)

    def update(self, obj: Any, /, **values: Any) -> None:
        for name, value in values.items():
            self.setattr(obj, name, value)

    def setenv(self, name: str, value: str | None) -> None:
        self._env.append((name, os.environ.get(name)))
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value

    def undo(self) -> None:
        for obj, name, old in reversed(self._saved):
            if old is _UNSET:
                with contextlib.suppress(AttributeError):
                    delattr(obj, name)
            else:
                setattr(obj, name, old)
        for name, old_env in reversed(self._env):
            if old_env is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old_env
        self._saved.clear()
        self._env.clear()


def _reset_clients() -> None:
    """Forget pooled connections and cached ``HfFileSystem`` instances (and their listings)."""
    from huggingface_hub import HfFileSystem
    from huggingface_hub.utils import _http

    _http.close_session()
    HfFileSystem.clear_instance_cache()


@contextlib.contextmanager
def patched_client(endpoint: str, token: str | None) -> Iterator[None]:
    """Within the block, ``huggingface_hub`` (and ``datasets``, if imported) use ``endpoint``."""
    import huggingface_hub.constants as constants
    from huggingface_hub import hf_api
    from huggingface_hub.utils import _http

    endpoint = endpoint.rstrip("/")
    host = urlsplit(endpoint).hostname or ""
    p = _Patcher()
    try:
        for name, value in client_env(endpoint, token).items():
            p.setenv(name, value)
        for name in _REMOVED_ENV:
            p.setenv(name, None)
        p.update(
            constants,
            ENDPOINT=endpoint,
            HUGGINGFACE_CO_URL_TEMPLATE=endpoint + "/{repo_id}/resolve/{revision}/{filename}",
            HF_HUB_OFFLINE=False,
            HF_HUB_DISABLE_TELEMETRY=True,
            HF_HUB_DISABLE_XET=True,
        )
        if hasattr(constants, "HF_URL_HOSTS"):
            p.setattr(constants, "HF_URL_HOSTS", frozenset({*constants.HF_URL_HOSTS, host}))
        if hasattr(_http, "_HUB_ORIGINS"):
            p.setattr(_http, "_HUB_ORIGINS", frozenset({*_http._HUB_ORIGINS, _origin(endpoint)}))
        default_api = getattr(hf_api, "api", None)
        if default_api is not None:
            p.setattr(default_api, "endpoint", endpoint)
        datasets_config = sys.modules.get("datasets.config")
        if datasets_config is not None:
            p.update(
                datasets_config,
                HF_ENDPOINT=endpoint,
                HUB_DATASETS_URL=endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}",
                HF_HUB_OFFLINE=False,
                HF_DATASETS_OFFLINE=False,
            )
        _reset_clients()
        yield
    finally:
        p.undo()
        with contextlib.suppress(Exception):
            _reset_clients()
