"""Planning generation jobs: the z of every output file (samples, interpolations, attribute edits)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from raymvae import storage
from raymvae.errors import UserError
from raymvae.generate.batch import relative_path
from raymvae.model import MusicVAE, grid, lerp, slerp
from raymvae.music import MidiError, chords, converter_for


class NoWindowError(UserError):
    """An input file has no window the model can encode."""


def _row(kind: str, i: int, seed: int, temperature: float | None, source: str, t: float, z) -> dict[str, Any]:
    """One planned output file (``temperature`` None or 0 = argmax)."""
    return {"id": i, "kind": kind, "path": relative_path(kind, i), "seed": seed,
            "temperature": float(temperature or 0.0), "source": source, "t": float(t),
            "z": np.asarray(z, np.float32).tolist()}


def prior_z(z_size: int, seed: int, ids) -> np.ndarray:
    """z ~ N(0, I) of rows ``ids``: row i's draw comes from (seed, i) alone, whatever else is drawn."""
    return np.stack([np.random.default_rng([seed, int(i)]).standard_normal(z_size) for i in ids]).astype(np.float32)


def sample_rows(model: MusicVAE, num: int, seed: int, temperature: float) -> list[dict[str, Any]]:
    """``num`` prior draws; z of file i comes from (seed, i), so files are reproducible one by one."""
    zs = prior_z(model.z_size, seed, range(num)) if num else []
    return [_row("sample", i, seed, temperature, "", 0.0, z) for i, z in enumerate(zs)]


def chord_controls(model: MusicVAE, progression: str | list[str] | None, chords_per_bar: int = 1,
                   key: str | int | None = None) -> np.ndarray | None:
    """The control classes of each window ``[k, ...]`` that a chord-conditioned model decodes a file under:
    ``progression`` ("C G Am F", magenta-js's spelling) ``chords_per_bar`` chords to a bar, as many windows
    as its bars fill, and the ``key`` (a model conditioned on key). None for other models; UserError where
    the model and the request disagree."""
    conv = model.codec.converter
    if not conv.chord_conditioned:
        if progression or key is not None:
            flag = "--chords" if progression else "--key"
            raise UserError(f"{flag}: {model.config.name} is not conditioned on {flag[2:]}")
        return None
    if not progression:
        raise UserError(f"{model.config.name} is conditioned on chords: give a progression, e.g. --chords 'C G Am F'")
    try:
        bars = chords.by_bar(chords.parse(progression), chords_per_bar)
    except chords.ChordError as exc:
        raise UserError(f"--chords: {exc}") from exc
    try:
        return conv.progression_controls(bars, None if key is None else chords.key_class(key))
    except chords.ChordError as exc:
        raise UserError(f"--key: {exc}") from exc


def with_chords(rows: list[dict[str, Any]], controls: np.ndarray | None) -> list[dict[str, Any]]:
    """Rows that decode under the chord controls ``controls`` [k, ...] (unchanged where None): one window per
    file, or (a progression longer than a window) k windows of the file's z, joined (the arrangement mode)."""
    if controls is None:
        return rows
    for r in rows:
        if len(controls) == 1:
            r["chords"] = controls[0].astype(np.int16)
        else:
            r["z"] = np.repeat(np.asarray(r["z"], np.float32)[None], len(controls), 0)
            r["qpm"] = 120.0
            r["chords"] = controls.astype(np.int16)
    return rows


def select_window(model: MusicVAE, data: bytes, window: int = 0, name: str = "input") -> tuple[np.ndarray, int]:
    """Window ``window`` of MIDI bytes as a batch of one, and how many windows the file has;
    NoWindowError says why when there is none."""
    conv = converter_for(model.config, inference=True)
    try:
        windows = conv.midi_windows(data)
    except MidiError as exc:
        raise NoWindowError(f"{name}: cannot read MIDI ({exc})") from exc
    if len(windows) == 0:
        raise NoWindowError(f"{name}: {conv.describe_empty()}")
    if not 0 <= window < len(windows):
        raise NoWindowError(f"{name}: has {len(windows)} windows; window {window} is out of range")
    return windows[window:window + 1], len(windows)


def encode_file(model: MusicVAE, path: str, window: int = 0) -> np.ndarray:
    """mu of window ``window`` of a MIDI file (local or object storage); NoWindowError says why when there is none."""
    try:
        data = storage.read_bytes(path)
    except OSError as exc:
        raise NoWindowError(f"{path}: cannot read MIDI ({exc})") from exc
    with torch.no_grad():
        mu, _ = model.encode_windows(select_window(model, data, window, str(path))[0])
    return mu[0].numpy()


def check_interpolation(steps: int, method: str) -> None:
    """ValueError unless ``steps`` >= 2 (the endpoints) and ``method`` is slerp or linear."""
    if steps < 2:
        raise ValueError("steps must be at least 2 (the endpoints)")
    if method not in ("slerp", "linear"):
        raise ValueError(f"method must be slerp or linear, got {method!r}")


def interpolate(za: np.ndarray, zb: np.ndarray, steps: int, method: str = "slerp") -> tuple[np.ndarray, np.ndarray]:
    """(t, z) of ``steps`` points from ``za`` to ``zb``, endpoints included, by slerp or linear."""
    check_interpolation(steps, method)
    t = np.linspace(0.0, 1.0, steps)
    zs = (slerp if method == "slerp" else lerp)(torch.from_numpy(np.asarray(za)), torch.from_numpy(np.asarray(zb)), t)
    return t, zs.numpy()


def interpolation_rows(model: MusicVAE, pairs: list[tuple[str, str]], steps: int, method: str, seed: int,
                       temperature: float | None, window: int = 0) -> list[dict[str, Any]]:
    """``steps`` files per pair from mu(a) to mu(b), endpoints included."""
    check_interpolation(steps, method)
    rows = []
    for p, (a, b) in enumerate(pairs):
        t, zs = interpolate(encode_file(model, a, window), encode_file(model, b, window), steps, method)
        for k in range(steps):
            rows.append(_row("interpolate", p * steps + k, seed, temperature, f"{a}|{b}", t[k], zs[k]))
    return rows


def grid_rows(model: MusicVAE, corners: list[str], steps: int, seed: int, temperature: float | None,
              window: int = 0) -> list[dict[str, Any]]:
    """A steps x steps bilinear grid over 4 corner files (magenta-js style)."""
    if len(corners) != 4:
        raise ValueError("a grid needs exactly 4 corner files")
    c = torch.from_numpy(np.stack([encode_file(model, f, window) for f in corners]))
    zs = grid(c, steps).reshape(steps * steps, -1).numpy()
    return [_row("grid", i, seed, temperature, "|".join(corners), i, z) for i, z in enumerate(zs)]


def check_similarity(similarity: float) -> None:
    """ValueError unless ``similarity`` is in [0, 1]."""
    if not 0.0 <= similarity <= 1.0:
        raise ValueError(f"similarity must be between 0 (a prior sample) and 1 (the input), got {similarity}")


def similar_z(mu: np.ndarray, similarity: float, seed: int, ids) -> np.ndarray:
    """magenta-js's ``similar()``: z of rows ``ids`` between the input's mu and the prior draw of (seed, id),
    ``similarity`` of the way to mu, by slerp (magenta-js mixes linearly and has a TODO for slerp: a linear
    mix of two independent Gaussian vectors shrinks their norm, so its midpoints sit nearer the origin than
    either the input or any prior draw)."""
    check_similarity(similarity)
    mu_t = torch.from_numpy(np.asarray(mu, np.float32))
    return np.stack([slerp(mu_t, torch.from_numpy(eps), [1.0 - similarity])[0].numpy()
                     for eps in prior_z(len(mu), seed, ids)]).astype(np.float32)


def similar_rows(model: MusicVAE, inputs: list[str], num: int, similarity: float, seed: int,
                 temperature: float | None, window: int = 0) -> list[dict[str, Any]]:
    """``num`` files per input, each z ``similarity`` of the way from a prior draw to the input's mu."""
    check_similarity(similarity)
    rows = []
    for p, f in enumerate(inputs):
        ids = range(p * num, (p + 1) * num)
        for i, z in zip(ids, similar_z(encode_file(model, f, window), similarity, seed, ids)):
            rows.append(_row("similar", i, seed, temperature, f, similarity, z))
    return rows


def attribute_rows(model: MusicVAE, inputs: list[str], vector: np.ndarray, name: str, amount: float, seed: int,
                   temperature: float | None, window: int = 0) -> list[dict[str, Any]]:
    """One edited file per input: decode(mu + amount * vector)."""
    return [_row("attribute", i, seed, temperature, f"{f}|{name}{amount:+g}", amount,
                 encode_file(model, f, window) + amount * vector) for i, f in enumerate(inputs)]


def actor_rows(model: MusicVAE, inputs: list[str], edit: Callable[[np.ndarray], np.ndarray], name: str, level: str,
               seed: int, temperature: float | None, window: int = 0) -> list[dict[str, Any]]:
    """One edited file per input: decode(edit(mu)), ``edit`` being a latent-constraint actor for ``level``."""
    mus = np.stack([encode_file(model, f, window) for f in inputs])
    return [_row("attribute", i, seed, temperature, f"{f}|{name}:actor:{level}", 1.0 if level == "high" else -1.0, z)
            for i, (f, z) in enumerate(zip(inputs, edit(mus)))]


def file_windows(model: MusicVAE, path: str, taps: bool = False) -> tuple[np.ndarray, float]:
    """Every window of a MIDI file as a GrooVAE model reads it in inference (General-MIDI drum map), and
    the file's tempo; ``taps`` reads every note of any instrument as a hit (tap2drum's any rhythm)."""
    conv = converter_for(model.config, inference=True)
    if not conv.expressive:
        raise UserError(f"this mode needs a GrooVAE model (groovae_* configs); the run dir holds "
                        f"{model.config.name}")
    try:
        data = storage.read_bytes(path)
    except OSError as exc:
        raise NoWindowError(f"{path}: cannot read MIDI ({exc})") from exc
    return performance_windows(conv, data, str(path), taps)


def performance_windows(conv, data: bytes, name: str, taps: bool = False) -> tuple[np.ndarray, float]:
    """(windows, qpm) of GrooVAE input bytes; NoWindowError says why there is none."""
    try:
        windows, qpm = conv.encode_performance(data, taps)
    except MidiError as exc:
        raise NoWindowError(f"{name}: cannot read MIDI ({exc})") from exc
    if len(windows) == 0:
        raise NoWindowError(f"{name}: no {conv.slice_bars}-bar rhythm (notes of any instrument, one tempo, one "
                            f"4/4-type meter)" if taps else f"{name}: {conv.describe_empty()}")
    return windows, qpm


def _performance_row(model: MusicVAE, kind: str, i: int, seed: int, temperature: float | None, source: str,
                     z: np.ndarray, pattern: np.ndarray, qpm: float) -> dict[str, Any]:
    """A file of several windows: z [k, Z] decoded (under ``pattern``'s hits where the model reads
    controls) and joined at ``qpm``."""
    row = _row(kind, i, seed, temperature, source, 0.0, z)
    row["z"] = np.asarray(z, np.float32)  # [k, Z]: a tensor column (Ray Data keeps ragged ones as such)
    row["qpm"] = qpm
    controls = model.controls(model.as_tensor(pattern))
    if controls is not None:
        row["controls"] = controls.cpu().numpy().astype(np.float32)
    return row


def performance_rows(model: MusicVAE, kind: str, inputs: list[str], seed: int,
                     temperature: float | None) -> list[dict[str, Any]]:
    """``humanize`` / ``tap2drum``: one file per input, each window encoded (z = mu) and decoded, so the
    input's hits come back played (humanize) or a full kit comes back on its rhythm (tap2drum)."""
    rows = []
    for i, path in enumerate(inputs):
        windows, qpm = file_windows(model, path, taps=kind == "tap2drum")
        with torch.no_grad():
            mu, _ = model.encode_windows(windows)
        rows.append(_performance_row(model, kind, i, seed, temperature, path, mu.numpy(), windows, qpm))
    return rows


def looped(z: np.ndarray, n: int) -> np.ndarray:
    """``n`` rows of ``z`` taken in turn, from the first again after the last (a groove over a longer pattern)."""
    return z[np.arange(n) % len(z)]


def check_transfer(model: MusicVAE) -> None:
    """UserError unless ``model`` reads the hits as controls, which groove transfer decodes under."""
    if not model.control_depth:
        raise UserError(f"groove transfer needs a model that reads the hits as controls "
                        f"(groovae_2bar_hits_control); the model is {model.config.name}")


def transfer_rows(model: MusicVAE, groove: str, patterns: list[str], seed: int,
                  temperature: float | None) -> list[dict[str, Any]]:
    """Groove transfer with a model that reads the hits as controls (groovae_2bar_hits_control): encode
    the groove file, then decode its z under each pattern's hits (window j of a pattern takes the groove's
    window j, looping), so the pattern is played with the groove's velocities and timing."""
    check_transfer(model)
    source, _ = file_windows(model, groove)
    with torch.no_grad():
        z = model.encode_windows(source)[0].numpy()
    rows = []
    for i, path in enumerate(patterns):
        windows, qpm = file_windows(model, path)
        rows.append(_performance_row(model, "groove-transfer", i, seed, temperature, f"{groove}|{path}",
                                     looped(z, len(windows)), windows, qpm))
    return rows
