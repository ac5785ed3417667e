"""A run dir's model in the checkpoint format magenta-js's ``MusicVAE`` loads, and back.

magenta-js reads a folder of ``config.json`` (a ``MusicVAESpec``: the data
converter and its arguments), ``weights_manifest.json`` (TensorFlow.js
weight groups: names, shapes, dtypes, optional uint8/uint16 quantization)
and the binary shard it names. The variables are Magenta's TF variables
under their graph names (``raymvae.model.magenta_weights``), so the browser
runs exactly the model trained here. ``config.json`` is written last: a
folder without it is not a checkpoint.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from raymvae import storage
from raymvae.errors import UserError
from raymvae.model import MusicVAE
from raymvae.model.magenta_weights import tf_variables

SHARD = "group1-shard1of1"
MANIFEST = "weights_manifest.json"
SPEC = "config.json"
QUANTIZED = {1: ("uint8", np.uint8), 2: ("uint16", np.uint16)}


def converter_spec(model: MusicVAE) -> dict[str, Any]:
    """magenta-js's ``dataConverter`` spec of a model; UserError where magenta-js cannot run it."""
    cfg, conv = model.config, model.codec.converter
    name = cfg.name
    if model.control_depth and not conv.chord_conditioned:
        raise UserError(f"magenta-js has no decoder for {name} (models that read controls are not exported yet)")
    hier_encoder = cfg.model["encoder"] == "hierarchical"
    if hier_encoder != (model.kind == "hierarchical"):
        raise UserError(f"magenta-js runs a hierarchical decoder only behind a hierarchical encoder (hier-* "
                        f"configs); {name} has a {cfg.model['encoder']} encoder and a {model.kind} decoder")
    if len(cfg.hparams["enc_rnn_size"]) != 1:
        raise UserError(f"magenta-js loads single-layer bidirectional encoders only; {name} has "
                        f"enc_rnn_size={cfg.hparams['enc_rnn_size']} (train with --hparams enc_rnn_size=[N])")
    args: dict[str, Any] = {"numSteps": model.seq_len}
    if hier_encoder:
        args["numSegments"] = int(cfg.model["level_lengths"][0])
    kind, own = conv.js_converter()
    if kind is None:
        raise UserError(f"magenta-js has no data converter for {name}")
    return {"type": kind, "args": {**args, **own}}


def _quantize(value: np.ndarray, nbytes: int) -> tuple[bytes, dict[str, Any]]:
    """TensorFlow.js affine quantization: value ~= q * scale + min, q in [0, 2^(8 nbytes) - 1]."""
    dtype_name, dtype = QUANTIZED[nbytes]
    lo, hi = float(value.min()), float(value.max())
    scale = (hi - lo) / float(np.iinfo(dtype).max) or 1.0
    q = np.rint((value.astype(np.float64) - lo) / scale).astype(dtype)
    return q.tobytes(), {"dtype": dtype_name, "scale": scale, "min": lo}


def export_magenta_js(model: MusicVAE, output: str, quantize: int | None = None) -> str:
    """Write ``model`` to the folder ``output`` as a magenta-js checkpoint; ``quantize`` 1 or 2 stores each
    weight in that many bytes (as magenta-js's converter offers). Returns the folder's URI."""
    spec = {"type": "MusicVAE", "dataConverter": converter_spec(model)}
    if model.codec.converter.chord_conditioned:  # magenta-js reads the chords (and key) as controlArgs
        spec["chordEncoder"] = "TriadChordEncoder"
        if model.codec.converter.condition_on_key:
            spec["conditionOnKey"] = True
    if quantize not in (None, 1, 2):
        raise UserError(f"--quantize takes 1 or 2 (bytes per weight), got {quantize}")
    weights, blobs = [], []
    for name, value in tf_variables(model).items():
        entry: dict[str, Any] = {"name": name, "shape": list(value.shape), "dtype": "float32"}
        if quantize:
            blob, entry["quantization"] = _quantize(value, quantize)
        else:
            blob = np.ascontiguousarray(value, "<f4").tobytes()
        weights.append(entry)
        blobs.append(blob)
    manifest = [{"paths": [SHARD], "weights": weights}]
    return storage.publish(output, {SHARD: b"".join(blobs), MANIFEST: json.dumps(manifest).encode(),
                                    SPEC: json.dumps(spec, indent=2).encode()}, SPEC)


def read_magenta_js(folder: str) -> dict[str, np.ndarray]:
    """The variables of a magenta-js checkpoint folder (local or object storage), dequantized to float32."""
    manifest = json.loads(storage.read_bytes(storage.join(folder, MANIFEST)))
    out: dict[str, np.ndarray] = {}
    for group in manifest:
        data = b"".join(storage.read_bytes(storage.join(folder, p)) for p in group["paths"])
        at = 0
        for w in group["weights"]:
            count = int(np.prod(w["shape"]))
            q = w.get("quantization")
            dtype = np.dtype(q["dtype"] if q else w["dtype"]).newbyteorder("<")
            raw = np.frombuffer(data, dtype, count, at)
            at += count * dtype.itemsize
            value = raw.astype(np.float64) * q["scale"] + q["min"] if q else raw
            out[w["name"]] = np.array(value, np.float32).reshape(w["shape"])
    return out


def is_magenta_js(folder: str) -> bool:
    """True for a folder holding a magenta-js checkpoint (its weights manifest)."""
    return storage.is_file(storage.join(folder, MANIFEST))
