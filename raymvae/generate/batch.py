"""Batch generation on Ray Data: plan rows of z -> actor pool decodes -> tasks write MIDI -> manifest.

Every output row is planned in the driver (id, kind, z, seed, temperature,
source pair and t, file path); rows whose file already exists are skipped,
so re-running a job finishes it. An actor pool of model replicas (a GPU
each when present) loads the model from the run dir (local or object
storage) and decodes batches; sampling noise is drawn per row from
(seed, id), so files do not depend on batching or on which replica ran them.
MIDI files are written atomically by parallel tasks straight to the output
(local or object storage), 1,000 per sub-folder, with their musical
statistics; ``manifest.parquet``, written last, has one row per file.
"""
from __future__ import annotations

import json
import logging
import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from raymvae import storage
from raymvae.generate.contact_sheet import write_contact_sheet
from raymvae.generate.settings import GenerateSettings
from raymvae.model import precision as precisions
from raymvae.model.seeded import decode_seeded, window_ids

log = logging.getLogger(__name__)
FILES_PER_FOLDER = 1000


def relative_path(kind: str, idx: int) -> str:
    """``kind/NNN/kind_NNNNNN.mid``: no folder holds more than 1,000 files."""
    return f"{kind}/{idx // FILES_PER_FOLDER:03d}/{kind}_{idx:06d}.mid"


def _dense(x, dtype=np.float32) -> np.ndarray:
    """A nested list column as Ray Data hands it over (object arrays of arrays) -> one array of ``dtype``."""
    x = np.asarray(x)
    return np.stack([_dense(v, dtype) for v in x]) if x.dtype == object else x.astype(dtype)


class Decoder:
    """Ray Data actor: one model replica, loaded once, decoding batches of planned rows in ``precision``
    (resolved on its own device; each row records the one it ran in)."""

    def __init__(self, run_dir: str, precision: str):
        from raymvae.export import load_export

        self.model, _ = load_export(run_dir, "cuda" if torch.cuda.is_available() else "cpu")
        self.device = self.model.mu.weight.device
        self.precision = precisions.resolve(precision, self.device)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        seed, temperature = int(batch["seed"][0]), float(batch["temperature"][0])
        if "qpm" in batch:  # files of several windows (GrooVAE performances): z [k, Z] per row
            return self._performances(batch, seed, temperature)
        controls = _dense(batch["chords"], np.int64) if "chords" in batch else None
        with precisions.autocast(self.device, self.precision):
            windows = decode_seeded(self.model, np.stack(batch["z"]), temperature, [(seed, batch["id"])], controls)
        return {**batch, "windows": windows, "precision": np.full(len(windows), self.precision, dtype=object)}

    def _performances(self, batch: dict[str, np.ndarray], seed: int, temperature: float) -> dict[str, np.ndarray]:
        """Every window of every row in one decoder pass; window j of row i samples with (seed, i, j)."""
        zs = [_dense(z).reshape(-1, self.model.z_size) for z in batch["z"]]
        ids = window_ids(batch["id"], [len(z) for z in zs])
        controls = None
        if "controls" in batch:
            controls = np.concatenate([_dense(c).reshape(len(z), self.model.seq_len, -1)
                                       for c, z in zip(batch["controls"], zs)])
        elif "chords" in batch:  # control classes per window
            controls = np.concatenate([_dense(c, np.int64).reshape(len(z), -1) for c, z in zip(batch["chords"], zs)])
        with precisions.autocast(self.device, self.precision):
            flat = decode_seeded(self.model, np.concatenate(zs), temperature, [(seed, ids)], controls)
        bounds = np.cumsum([0] + [len(z) for z in zs])
        windows = np.empty(len(zs), dtype=object)
        windows[:] = [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        return {**batch, "windows": windows, "precision": np.full(len(zs), self.precision, dtype=object)}


def _write_files(batch: dict[str, np.ndarray], config: dict, output: str, audio: bool = False
                 ) -> dict[str, np.ndarray]:
    """Ray Data task: windows -> NoteSequence -> MIDI file (atomic, uploaded by this task) + statistics per row;
    with ``audio`` also the file played by FluidSynth, as WAV beside it (written first: the MIDI file marks
    the row done)."""
    from raymvae import audio as sound
    from raymvae.config import Config
    from raymvae.music import converter_for
    from raymvae.music.stats import all_stats

    conv = converter_for(Config.from_dict(config))
    stats = []
    qpms = batch["qpm"] if "qpm" in batch else [None] * len(batch["path"])
    for rel, w, qpm in zip(batch["path"], batch["windows"], qpms):
        w = np.asarray(w)  # a window, or (performances) the file's windows, joined at its tempo
        ns = conv.decode(w[None])[0] if qpm is None else conv.decode_joined(w, float(qpm))
        midi = conv.to_midi_bytes(ns)
        if audio:
            storage.write_bytes(storage.join(output, wav_path(rel)), sound.render_wav(midi))
        storage.write_bytes(storage.join(output, rel), midi)
        stats.append(json.dumps({k: float(v) for k, v in all_stats(ns).items()}))
    out = dict(batch)
    out["stats_json"] = np.array(stats, dtype=object)
    if audio:
        out["wav"] = np.array([wav_path(r) for r in batch["path"]], dtype=object)
    return out


def wav_path(rel: str) -> str:
    """Where a MIDI file's WAV rendering goes: beside it."""
    return rel[:-len(".mid")] + ".wav" if rel.endswith(".mid") else rel + ".wav"


def run(run_dir: str, output: str, rows: list[dict[str, Any]], *,
        batch_size: int = GenerateSettings.model_fields["batch_size"].default,
        replicas: int | None = None, precision: str = GenerateSettings.model_fields["precision"].default,
        contact_sheet: bool = True, audio: bool = False) -> dict[str, Any]:
    """Decode and write every planned row not yet written; (re)write the manifest; return a summary.
    Each manifest row records the precision its file was decoded in; with ``audio`` each file is also
    rendered to WAV (UserError, before any work, where FluidSynth or a soundfont is missing)."""
    import ray
    import ray.data

    from raymvae import audio as sound
    from raymvae.export import export_info

    if audio:
        sound.require("--audio")

    run_dir, output = storage.normalize(run_dir), storage.normalize(output)
    info = export_info(run_dir)
    written = set(storage.list_files(output))
    todo = [r for r in rows if r["path"] not in written]
    log.info("%d files planned, %d already written, %d to generate", len(rows), len(rows) - len(todo), len(todo))
    new_rows: list[dict[str, Any]] = []
    windows = []
    if todo:
        gpus = int(ray.cluster_resources().get("GPU", 0))
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        size = replicas or (gpus if gpus else max(1, cpus // 2))
        ds = ray.data.from_items(todo, override_num_blocks=max(1, math.ceil(len(todo) / batch_size)))
        ds = ds.map_batches(Decoder, fn_constructor_args=(run_dir, precision), batch_size=batch_size,
                            compute=ray.data.ActorPoolStrategy(size=size), num_gpus=1 if gpus else 0,
                            batch_format="numpy")
        ds = ds.map_batches(_write_files, fn_kwargs=dict(config=info["config"], output=output, audio=audio),
                            batch_format="numpy", batch_size=batch_size)
        new_rows = ds.take_all()
    manifest = storage.join(output, "manifest.parquet")
    old = pq.read_table(pa.BufferReader(storage.read_bytes(manifest))).to_pylist() \
        if "manifest.parquet" in written else []
    by_id = {(r["kind"], r["id"]): r for r in old}
    ran = sorted({str(r["precision"]) for r in new_rows})
    for r in sorted(new_rows, key=lambda r: (r["kind"], r["id"])):
        windows.append(np.asarray(r.pop("windows")))
        stats = json.loads(r.pop("stats_json"))
        r = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in r.items()}
        by_id[(r["kind"], r["id"])] = {**r, **{f"stats/{k}": v for k, v in stats.items()}}
    table = pa.Table.from_pylist(sorted(by_id.values(), key=lambda r: (r["kind"], r["id"])))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    storage.write_bytes(manifest, sink.getvalue().to_pybytes())
    sheet = None
    if contact_sheet and len(table):
        sheet = write_contact_sheet(output, table.column("path").to_pylist()[:16])
    from raymvae.config import Config
    from raymvae.music import converter_for

    shape = converter_for(Config.from_dict(info["config"])).window_shape  # files of several windows: each window
    return {"planned": len(rows), "written": len(todo), "skipped": len(rows) - len(todo), "precision": ran,
            "output": output, "manifest": manifest, "contact_sheet": sheet,
            "windows": np.concatenate([w.reshape((-1,) + shape) for w in windows]) if windows else None}
