"""Resolve user inputs (folders, globs, files, s3:// / gs:// URIs) to source files.

Every path goes through a pyarrow filesystem, so object storage works where a
local path does. Each file gets a stable *key* (its path relative to the
input it was found under) that decides its train/eval split, so moving a
corpus to another disk or bucket does not reshuffle the split.
"""
from __future__ import annotations

import fnmatch
import hashlib
import posixpath
from dataclasses import dataclass

import pyarrow.fs as pafs

from raymvae.storage import filesystem_for

MIDI_SUFFIXES = (".mid", ".midi", ".kar", ".smf")
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Source:
    """One input file: where it lives, its split key, and how to read it."""

    uri: str
    path: str  # path inside ``filesystem``
    key: str
    kind: str  # "midi" or "tfrecord"


def is_tfrecord(name: str) -> bool:
    """Magenta's dataset files: ``*.tfrecord``, ``*.tfrecords`` or sharded ``*.tfrecord-00000-of-00010``."""
    base = posixpath.basename(name).lower()
    return base.endswith((".tfrecord", ".tfrecords")) or ".tfrecord-" in base


def _kind(name: str) -> str | None:
    if is_tfrecord(name):
        return "tfrecord"
    return "midi" if name.lower().endswith(MIDI_SUFFIXES) else None


def _list(fs: pafs.FileSystem, root: str) -> list[str]:
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    return sorted(i.path for i in infos if i.type == pafs.FileType.File)


def resolve_inputs(inputs: list[str]) -> list[Source]:
    """All MIDI and TFRecord files named by ``inputs``, in a fixed order, without duplicates.

    A folder is searched recursively; a glob (``corpus/**/*.mid``) is matched
    below its fixed leading part; a file is taken whatever its suffix. Raises
    FileNotFoundError for an input that names nothing.
    """
    seen: set[str] = set()
    out: list[Source] = []
    for item in inputs:
        found: list[Source] = []
        if _GLOB_CHARS & set(item):
            head, _, _ = item.partition(next(c for c in item if c in _GLOB_CHARS))
            base_uri = head.rsplit("/", 1)[0] if "/" in head else "."
            fs, base, prefix = filesystem_for(base_uri)
            pattern = filesystem_for(item)[1] if not prefix else item.split("://", 1)[1]
            for p in _list(fs, base):
                if fnmatch.fnmatch(p, pattern) and _kind(p):
                    found.append(Source(prefix + p, p, posixpath.relpath(p, base), _kind(p)))
        else:
            fs, path, prefix = filesystem_for(item)
            info = fs.get_file_info(path)
            if info.type == pafs.FileType.Directory:
                for p in _list(fs, path):
                    if _kind(p):
                        found.append(Source(prefix + p, p, posixpath.relpath(p, path), _kind(p)))
            elif info.type == pafs.FileType.File:
                found.append(Source(prefix + path, path, posixpath.basename(path), _kind(path) or "midi"))
        if not found:
            raise FileNotFoundError(f"no MIDI or TFRecord files found for input {item!r}")
        for s in found:
            if s.uri not in seen:
                seen.add(s.uri)
                out.append(s)
    return out


def key_hash(key: str, signed: bool = False) -> int:
    """A stable 64-bit hash of a file key (first 8 bytes of its SHA-1): split, window choice, file id."""
    return int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big", signed=signed)


def split_of(key: str, eval_fraction: float) -> str:
    """'eval' for a stable ``eval_fraction`` share of keys (by SHA-1), else 'train'."""
    return "eval" if key_hash(key) / 2.0**64 < eval_fraction else "train"
