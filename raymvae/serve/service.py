"""What the HTTP endpoints do, without Ray or HTTP: validate, encode, decode, render.

The Serve deployment (raymvae.serve.app) wraps this: it batches the
requests' ``Job``s into ``run`` and maps ``BadRequest`` to a 4xx.
Latent maths and window selection are the generation helpers
(raymvae.generate.plan), so served and batch-generated files agree: a
/sample with seed S gives the files of ``generate sample --seed S``.
"""
from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from raymvae import audio, storage
from raymvae.export import load_export
from raymvae.generate.attributes import attribute_names, load_vector, saved_vectors
from raymvae.generate.constraints import Actor, load_actor, saved_actors
from raymvae.errors import UserError
from raymvae.generate.plan import (NoWindowError, check_interpolation, chord_controls, performance_windows,
                                   select_window)
from raymvae.model import precision as precisions
from raymvae.model.seeded import decode_seeded, window_ids
from raymvae.music import converter_for
from raymvae.serve.settings import ServeSettings

log = logging.getLogger(__name__)


class BadRequest(ValueError):
    """A request the server refuses, with the HTTP status and a message that says why."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


@dataclass
class Job:
    """One request's model work: encode ``windows`` (if any), derive z from their mu with
    ``latent`` (or take ``z``), then decode z unless ``decode`` is False, under ``controls`` where the
    model reads them; row i samples with the noise of (seed, ids[i]) (default ids: 0, 1, ...). With
    ``chords`` (a chord-conditioned model) each z row decodes one window per chord-control row, window j
    with the noise of (seed, i, j), as `generate` does."""

    windows: np.ndarray | None = None
    latent: Callable[[np.ndarray], np.ndarray] | None = None
    z: np.ndarray | None = None
    temperature: float = 0.0
    seed: int = 0
    decode: bool = True
    controls: np.ndarray | None = None
    ids: list | None = None
    chords: np.ndarray | None = None  # chord controls [k, ...] of the k windows every z row decodes (joined)


@dataclass
class Result:
    mu: np.ndarray | None = None
    sigma: np.ndarray | None = None
    z: np.ndarray | None = None
    windows: np.ndarray | None = None


class ModelService:
    """One model replica's work: loaded once, then called with validated inputs."""

    def __init__(self, settings: ServeSettings, device: str = "cpu"):
        self.settings = settings
        self.run_dir = storage.normalize(settings.model)
        self.device = torch.device(device)
        self.model, self.export = load_export(self.run_dir, device)
        self.precision = precisions.resolve(settings.precision, self.device)
        log.info("serving %s on %s in %s", self.run_dir, device, precisions.describe(settings.precision, self.device))
        self.converter = converter_for(self.model.config, inference=True)
        self._edits: dict[tuple[str, str], np.ndarray | Actor] = {}

    # Validation ---------------------------------------------------------------
    def check_temperature(self, temperature: float) -> float:
        if not 0.0 <= temperature <= self.settings.max_temperature:
            raise BadRequest(f"temperature must be between 0 (argmax) and {self.settings.max_temperature}, "
                             f"got {temperature}")
        return temperature

    def check_count(self, n: int, what: str = "n") -> int:
        if not 1 <= n <= self.settings.max_n:
            raise BadRequest(f"{what} must be between 1 and {self.settings.max_n} (this server's max_n), got {n}")
        return n

    def check_steps(self, steps: int, method: str) -> None:
        if steps > self.settings.max_steps:
            raise BadRequest(f"steps must be between 2 and {self.settings.max_steps} (this server's max_steps), "
                             f"got {steps}")
        try:
            check_interpolation(steps, method)
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc

    def z_rows(self, z: list[float] | list[list[float]]) -> np.ndarray:
        """A request's z as [n, z_size] float32, checked for shape and finiteness."""
        rows = z if z and isinstance(z[0], list) else [z]
        self.check_count(len(rows) if z else 0, "the number of z vectors")
        size = self.model.z_size
        bad = [i for i, r in enumerate(rows) if len(r) != size]
        if bad:
            raise BadRequest(f"z must have {size} values per vector; vector {bad[0]} has {len(rows[bad[0]])}")
        out = np.asarray(rows, np.float32)
        if not np.isfinite(out).all():
            raise BadRequest("z must be finite numbers")
        return out

    @staticmethod
    def midi_bytes(data_b64: str, field: str) -> bytes:
        """The bytes of a base64 MIDI field (a 422 when it is not base64 or empty)."""
        try:
            data = base64.b64decode(data_b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest(f"{field}: not base64 ({exc})") from exc
        if not data:
            raise BadRequest(f"{field}: empty")
        return data

    def midi_window(self, data_b64: str, window: int, field: str) -> tuple[np.ndarray, int]:
        """Window ``window`` of a base64 MIDI field, and the file's window count."""
        data = self.midi_bytes(data_b64, field)
        try:
            return select_window(self.model, data, window, field)
        except NoWindowError as exc:
            raise BadRequest(str(exc)) from exc

    def chord_controls(self, progression: str | list[str] | None, chords_per_bar: int = 1,
                       key: str | int | None = None) -> np.ndarray | None:
        """The chord controls [k, ...] of the windows a request's ``chords`` (and ``key``) make on a
        chord-conditioned model (None for other models); a 422 where model and request disagree or a chord
        or key cannot be encoded."""
        try:
            controls = chord_controls(self.model, progression, chords_per_bar, key)
        except UserError as exc:
            raise BadRequest(str(exc).replace("--chords", "chords").replace("--key", "key")) from exc
        if controls is not None:
            self.check_count(len(controls), "the number of windows the chords fill")
        return controls

    def check_job(self, job: Job) -> Job:
        """A 422 for a job this model cannot run: decoding without controls on a model that reads them."""
        if job.decode and self.model.control_depth and job.controls is None and job.chords is None:
            raise BadRequest(f"{self.model.config.name} decodes under the hits it is given: POST /humanize, "
                             f"/tap2drum or /groove-transfer")
        return job

    def performance(self, data_b64: str, field: str, taps: bool = False) -> tuple[np.ndarray, float]:
        """(windows, qpm) of a base64 MIDI field for the GrooVAE routes: every window of the file."""
        if not self.converter.expressive:
            raise BadRequest(f"this route needs a GrooVAE model (groovae_* configs); this server runs "
                             f"{self.model.config.name}", status=404)
        try:
            windows, qpm = performance_windows(self.converter, self.midi_bytes(data_b64, field), field, taps)
        except NoWindowError as exc:
            raise BadRequest(str(exc)) from exc
        self.check_count(len(windows), f"{field}: the number of {self.converter.slice_bars}-bar windows")
        return windows, qpm

    def controls(self, windows: np.ndarray) -> np.ndarray | None:
        """The controls the model decodes ``windows``' hits under (None: it reads none)."""
        return self.converter.controls(windows)

    def vector(self, name: str) -> np.ndarray:
        """The saved attribute vector ``name`` of the run dir (``generate attribute`` writes them)."""
        return self._saved("vector", name)

    def actor(self, name: str) -> Actor:
        """The saved latent-constraint actor for ``name`` (``generate attribute --method actor`` trains it)."""
        return self._saved("actor", name)

    def _saved(self, method: str, name: str):
        """A vector or actor of the run dir, loaded once; a 422 says how to make a missing one."""
        if (method, name) not in self._edits:
            if name not in attribute_names(self.model):
                raise BadRequest(f"unknown attribute {name!r}; {self.model.config.name} has "
                                 f"{', '.join(attribute_names(self.model))}")
            found = load_vector(self.run_dir, name) if method == "vector" else load_actor(self.run_dir, name)
            if found is None:
                what, where, flag = (("vector", "attributes", "") if method == "vector" else
                                     ("latent-constraint actor", "constraints", " --method actor"))
                raise BadRequest(f"no {what} for {name!r} in {self.run_dir}/{where}; make it with `raymvae generate "
                                 f"attribute{flag} --model RUN_DIR --examples SHARDS --attribute {name} ...` (the "
                                 f"server picks it up without a restart)")
            self._edits[(method, name)] = found if method == "vector" else found.to(self.device)
        return self._edits[(method, name)]

    # Model (batched by the deployment) ------------------------------------------
    def _autocast(self):
        return precisions.autocast(self.device, self.precision)

    @torch.no_grad()
    def run(self, jobs: list[Job]) -> list[Result]:
        """Every job of a batch: one encoder pass over all their windows, then one decoder
        pass per distinct temperature over all their z rows.

        Row i of a job samples with the noise of (seed, i), as batch generation does, so
        a result does not depend on which requests shared its batch.
        """
        results = [Result(z=j.z) for j in jobs]
        encoding = [i for i, j in enumerate(jobs) if j.windows is not None]
        if encoding:
            with self._autocast():
                mu, sigma = self.model.encode_windows(np.concatenate([jobs[i].windows for i in encoding]))
            mu, sigma = mu.float().cpu().numpy(), sigma.float().cpu().numpy()
            start = 0
            for i in encoding:
                n = len(jobs[i].windows)
                results[i].mu, results[i].sigma = mu[start:start + n], sigma[start:start + n]
                start += n
                if jobs[i].latent is not None:
                    results[i].z = np.asarray(jobs[i].latent(results[i].mu), np.float32)
        decoding = [i for i, j in enumerate(jobs) if j.decode]
        for temperature in sorted({jobs[i].temperature for i in decoding}):
            group = [i for i in decoding if jobs[i].temperature == temperature]
            zs, controls, rows = [], [], []
            for i in group:
                z, job = results[i].z, jobs[i]
                if job.chords is not None:  # every z row decodes the k windows of the progression
                    k = len(job.chords)
                    zs.append(np.repeat(z, k, 0))
                    controls.append(np.concatenate([job.chords] * len(z)))
                    rows.append((job.seed, window_ids(range(len(z)), k)))
                else:
                    zs.append(z)
                    controls.append(job.controls)
                    rows.append((job.seed, job.ids or range(len(z))))
            with self._autocast():
                windows = decode_seeded(self.model, np.concatenate(zs), temperature, rows,
                                        np.concatenate(controls) if self.model.control_depth else None)
            start = 0
            for i, z in zip(group, zs):
                out = windows[start:start + len(z)]
                several = jobs[i].chords is not None and len(jobs[i].chords) > 1
                results[i].windows = out.reshape((len(results[i].z), len(jobs[i].chords)) + out.shape[1:]) \
                    if several else out
                start += len(z)
        return results

    # Responses -------------------------------------------------------------------
    @staticmethod
    def check_format(fmt: str) -> None:
        """A 422 for ``format=wav`` where this server cannot render audio (saying what to install)."""
        if fmt == "wav" and audio.missing():
            raise BadRequest(f"format=wav: this server cannot render audio: {audio.missing()}")

    @staticmethod
    def _encoded(ns, converter, fmt: str) -> dict[str, Any]:
        from google.protobuf.json_format import MessageToDict

        midi = converter.to_midi_bytes(ns)
        out = {"midi": base64.b64encode(midi).decode("ascii"), "note_sequence": MessageToDict(ns)}
        if fmt == "wav":
            out["wav"] = base64.b64encode(audio.render_wav(midi)).decode("ascii")
        return out

    def render(self, windows: np.ndarray, zs: np.ndarray, ts: np.ndarray | None = None,
               fmt: str = "midi") -> list[dict[str, Any]]:
        """Each window as base64 MIDI (and WAV with ``fmt="wav"``) and NoteSequence JSON; rows of several
        windows (a chord progression longer than one) joined into one file each."""
        joined = np.ndim(windows) > 1 + len(self.converter.window_shape)
        sequences = ([self.converter.decode_joined(w) for w in windows] if joined
                     else self.converter.decode(windows))
        return [{"z": [float(v) for v in zs[k]], **self._encoded(ns, self.converter, fmt),
                 "t": None if ts is None else float(ts[k])} for k, ns in enumerate(sequences)]

    def render_performance(self, windows: np.ndarray, zs: np.ndarray, qpm: float, fmt: str = "midi"
                           ) -> dict[str, Any]:
        """A file of several windows (GrooVAE routes) joined at ``qpm``, as base64 MIDI (and WAV) and NoteSequence
        JSON."""
        ns = self.converter.decode_joined(windows, qpm)
        return {"z": np.asarray(zs, np.float64).tolist(), "qpm": qpm, "windows": len(windows),
                **self._encoded(ns, self.converter, fmt)}

    def info(self) -> dict[str, Any]:
        """GET /model: what is served, how big, how far trained, and this server's limits."""
        cfg = self.model.config
        h = cfg.hparams
        saved, actors = saved_vectors(self.run_dir), saved_actors(self.run_dir)
        s = self.settings
        return {"config": cfg.name, "family": self.model.family, "encoder": cfg.model["encoder"],
                "decoder": cfg.model["decoder"], "z_size": self.model.z_size, "max_seq_len": self.model.seq_len,
                "enc_rnn_size": h.get("enc_rnn_size"), "dec_rnn_size": h.get("dec_rnn_size"),
                "parameters": self.export.get("parameters"), "step": self.export.get("step"),
                "source": self.export.get("source"), "device": str(self.device),
                "precision": self.precision, "control_depth": self.model.control_depth,
                "chord_conditioned": bool(self.converter.chord_conditioned),
                "condition_on_key": self.converter.condition_on_key,
                "attributes": {"available": attribute_names(self.model), "saved": saved, "actors": actors},
                "batching": {"max_batch_size": s.max_batch_size, "batch_wait_timeout_s": s.batch_wait_timeout_s,
                             "replicas": s.replicas},
                "limits": {"max_n": s.max_n, "max_steps": s.max_steps, "max_temperature": s.max_temperature,
                           "max_body_bytes": s.max_body_bytes}}
