"""One storage layer for every path raymvae reads or writes: local paths, ``s3://`` and ``gs://`` URIs.

Everything goes through pyarrow filesystems built from the URI, so the usual
credentials and ``AWS_ENDPOINT_URL`` (MinIO, moto, other S3-compatible
stores) apply, on the driver and on every Ray worker alike. Writes are
atomic: a local file is written under a temporary name and renamed; an
object is uploaded in one request (or a multipart upload that completes at
the end) and its size checked. A folder of files (a model export, a
checkpoint) is published with :func:`publish`: the files first, a small
marker file last; readers trust only what a marker names, because object
stores have no directory rename.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import posixpath
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

_LOCAL = pafs.LocalFileSystem()


@functools.lru_cache(maxsize=32)
def _bucket_filesystem(scheme: str, bucket: str) -> pafs.FileSystem:
    return pafs.FileSystem.from_uri(f"{scheme}://{bucket}")[0]


def is_remote(uri: str | Path) -> bool:
    """True for object-store URIs (``s3://``, ``gs://``, ...), False for local paths and ``file://``."""
    text = str(uri)
    return "://" in text and not text.startswith("file://")


def filesystem_for(uri: str | Path) -> tuple[pafs.FileSystem, str, str]:
    """(filesystem, path inside it, URI prefix) for a local path or an object-store URI.

    Object-store filesystems are cached per bucket: creating one may resolve
    the bucket's region over the network.
    """
    text = str(uri)
    if "://" in text:
        scheme, rest = text.split("://", 1)
        if scheme == "file":
            return filesystem_for(rest)
        bucket = rest.split("/", 1)[0]
        if not bucket:
            raise ValueError(f"{text}: no bucket in the URI")
        return _bucket_filesystem(scheme, bucket), rest.rstrip("/"), scheme + "://"
    return _LOCAL, str(Path(text).expanduser().resolve()), ""


def normalize(uri: str | Path) -> str:
    """A URI every node can use: local paths made absolute, object-store URIs without a trailing slash."""
    _, path, prefix = filesystem_for(uri)
    return prefix + path


def join(base: str | Path, *parts: str) -> str:
    """``base/part/...`` for a local path or a URI (no normalisation of ``base``)."""
    text = str(base).rstrip("/") or "/"
    for part in parts:
        text = posixpath.join(text, part) if is_remote(text) else os.path.join(text, part)
    return text


def name_of(uri: str | Path) -> str:
    """The last component of a path or URI."""
    return posixpath.basename(str(uri).rstrip("/"))


def _info(uri: str | Path) -> pafs.FileInfo:
    fs, path, _ = filesystem_for(uri)
    return fs.get_file_info(path)


def is_file(uri: str | Path) -> bool:
    return _info(uri).type == pafs.FileType.File


def is_dir(uri: str | Path) -> bool:
    """A local folder, or an object-store prefix with at least one object below it."""
    return _info(uri).type == pafs.FileType.Directory


def exists(uri: str | Path) -> bool:
    return _info(uri).type != pafs.FileType.NotFound


def read_bytes(uri: str | Path) -> bytes:
    """The whole file; FileNotFoundError names the URI."""
    fs, path, _ = filesystem_for(uri)
    try:
        with fs.open_input_stream(path) as f:
            return f.read()
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"no such file: {uri}") from exc
    except OSError as exc:  # object stores report a missing key as a generic OSError on some versions
        if _info(uri).type == pafs.FileType.NotFound:
            raise FileNotFoundError(f"no such file: {uri}") from exc
        raise


def read_json(uri: str | Path) -> Any:
    return json.loads(read_bytes(uri))


def write_bytes(uri: str | Path, data: bytes) -> None:
    """Write ``data`` atomically: readers see the old file, or nothing, or all of ``data``."""
    fs, path, _ = filesystem_for(uri)
    if fs is _LOCAL:
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return
    # One write of the whole buffer: a small object goes up as one PUT when the stream closes, a large
    # one as a multipart upload that only becomes visible when it completes. A crash before either
    # leaves no object. The size check catches anything else.
    with fs.open_output_stream(path) as f:
        f.write(data)
    size = fs.get_file_info(path).size
    if size != len(data):
        fs.delete_file(path)
        raise OSError(f"upload of {uri} stored {size} of {len(data)} bytes; deleted it")


def write_json(uri: str | Path, data: Any) -> None:
    write_bytes(uri, json.dumps(data, indent=2, default=str).encode("utf-8"))


def list_files(uri: str | Path) -> list[str]:
    """Paths (relative to ``uri``, with ``/``) of every file below it, sorted; [] when it does not exist."""
    fs, root, _ = filesystem_for(uri)
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        return []
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    return sorted(posixpath.relpath(i.path, root) for i in infos if i.type == pafs.FileType.File)


def delete(uri: str | Path) -> None:
    """Delete a file or a folder with everything in it; nothing to delete is fine."""
    fs, path, _ = filesystem_for(uri)
    kind = fs.get_file_info(path).type
    if kind == pafs.FileType.Directory:
        fs.delete_dir(path)
    elif kind == pafs.FileType.File:
        fs.delete_file(path)


def digest(data: bytes) -> str:
    """SHA-256 of ``data`` as hex: markers record it so readers can tell a file from a half-rewritten one."""
    return hashlib.sha256(data).hexdigest()


def publish(folder: str | Path, files: dict[str, bytes], marker: str) -> str:
    """Write a folder of ``files`` so that a reader sees all of them or knows to wait.

    ``marker`` is one of ``files``' names; readers trust the folder only when
    the marker exists. Locally the folder is assembled under a temporary name
    and renamed into place. On object storage the old marker is deleted
    first, every other file uploaded, and the marker uploaded last; the
    marker should record what it vouches for (sizes, digests) so a reader
    racing a rewrite can tell.
    """
    if marker not in files:
        raise ValueError(f"marker {marker!r} is not among the files to publish")
    fs, path, prefix = filesystem_for(folder)
    if fs is _LOCAL:
        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}-", dir=parent)
        try:
            for name, data in files.items():
                os.makedirs(os.path.dirname(os.path.join(tmp, name)), exist_ok=True)
                with open(os.path.join(tmp, name), "wb") as f:
                    f.write(data)
            old = f"{path}.old-{uuid.uuid4().hex[:8]}"
            if os.path.exists(path):
                os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path
    delete(f"{prefix}{path}/{marker}")
    for name, data in files.items():
        if name != marker:
            write_bytes(f"{prefix}{path}/{name}", data)
    write_bytes(f"{prefix}{path}/{marker}", files[marker])
    return prefix + path


def download(uri: str | Path, dest: str | Path) -> Path:
    """A local copy (a cache for tools that need local files) of a file, a folder, or the files that
    share a name prefix (a TF checkpoint's ``model.ckpt-123``); local paths pass through unchanged."""
    if not is_remote(uri):
        return Path(str(uri)).expanduser()
    dest, name = Path(dest), name_of(uri)
    if is_file(uri):
        files = {name: str(uri)}
    elif is_dir(uri):
        files = {f"{name}/{rel}": join(uri, rel) for rel in list_files(uri)}
    else:
        parent = str(uri).rstrip("/").rsplit("/", 1)[0]
        files = {rel: join(parent, rel) for rel in list_files(parent) if "/" not in rel and rel.startswith(name)}
    if not files:
        raise FileNotFoundError(f"no such file or folder: {uri}")
    for rel, source in files.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(read_bytes(source))
    return dest / name
