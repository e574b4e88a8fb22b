"""Where input comes from: local paths and fsspec URLs (file://, s3://, az://, gs://, ...)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO, Any

from labelwise.ingest.records import ImportFailure

EXTRAS = {
    "s3": "s3",
    "s3a": "s3",
    "az": "azure",
    "abfs": "azure",
    "abfss": "azure",
    "gs": "gcs",
    "gcs": "gcs",
}


@dataclass
class Source:
    """An opened location: a file system and a path on it."""

    url: str
    fs: Any
    path: str

    @property
    def is_dir(self) -> bool:
        return bool(self.fs.isdir(self.path))

    @property
    def suffix(self) -> str:
        name = self.path.rstrip("/").rsplit("/", 1)[-1]
        return name.rsplit(".", 1)[-1].lower() if "." in name else ""

    @property
    def stem(self) -> str:
        name = self.path.rstrip("/").rsplit("/", 1)[-1]
        return name.rsplit(".", 1)[0]

    def open_bytes(self, path: str | None = None) -> IO[bytes]:
        try:
            handle: IO[bytes] = self.fs.open(path or self.path, "rb")
        except FileNotFoundError:
            raise ImportFailure(f"{path or self.url}: no such file") from None
        except OSError as exc:
            raise ImportFailure(f"{path or self.url}: cannot read ({exc})") from exc
        return handle

    def open_text(self) -> IO[str]:
        """Text in UTF-8 (a BOM is dropped); invalid bytes survive as escapes for the row check."""
        return io.TextIOWrapper(
            self.open_bytes(), encoding="utf-8-sig", errors="surrogateescape", newline=""
        )

    def child(self, relative: str) -> str:
        return self.path.rstrip("/") + "/" + relative

    def contained_child(self, relative: str) -> str | None:
        """The path of ``relative`` under this folder, or None when it would leave it (an
        absolute path, ``..``, a backslash, or on a local disk a symlink pointing outside)."""
        parts = PurePosixPath(relative).parts
        if (
            not parts
            or relative.startswith("/")
            or "\\" in relative
            or "\x00" in relative
            or ".." in parts
            or ":" in parts[0]
        ):
            return None
        path = self.child(relative)
        if "file" in _protocols(self.fs):
            root = os.path.realpath(self.path)
            if os.path.commonpath([root, os.path.realpath(path)]) != root:
                return None
        return path

    def find(self, suffix: str) -> Iterator[str]:
        """Files under the folder ending with ``suffix``, sorted, as paths relative to it."""
        root = self.path.rstrip("/")
        for full in sorted(self.fs.find(root)):
            if full.lower().endswith(suffix):
                yield full[len(root) + 1 :] if full.startswith(root + "/") else full

    def count_lines(self) -> int | None:
        """Lines in a local file, for the progress bar; None for remote files."""
        if "file" not in _protocols(self.fs):
            return None
        with self.open_bytes() as fh:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def _protocols(fs: Any) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)


def open_source(url: str) -> Source:
    """Resolve ``url`` (a local path or an fsspec URL) without reading it."""
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError as exc:
        scheme = url.split("://", 1)[0]
        extra = EXTRAS.get(scheme, scheme)
        raise ImportFailure(
            f"{url}: reading {scheme}:// needs an optional dependency; "
            f"install it with: pip install 'labelwise[{extra}]' ({exc})"
        ) from exc
    except ValueError as exc:
        raise ImportFailure(f"{url}: not a path or URL labelwise can read ({exc})") from exc
    if not fs.exists(path):
        raise ImportFailure(f"{url}: no such file or folder")
    return Source(url=url, fs=fs, path=path)
