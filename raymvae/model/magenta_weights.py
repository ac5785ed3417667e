"""Magenta (TensorFlow) variable names <-> this PyTorch model, in one place.

LSTMBlockCell: kernel [in + H, 4H] with gate blocks (i, j, f, o) and one
bias; TF adds the +1 forget bias inside the cell. PyTorch's nn.LSTM wants
weight_ih [4H, in], weight_hh [4H, H] with gates (i, f, g, o); the forget
bias goes into bias_ih and bias_hh stays zero. MultiRNNCell states and the
z -> initial-state dense layers are ordered [c0, h0, c1, h1, ...] (handled in
``LSTMStack.state_from_flat``). Dense kernels are [in, out] (transposed).
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from raymvae.model.vae import HierarchicalEncoder, MusicVAE


class CheckpointMismatchError(ValueError):
    """A checkpoint's variables do not fit the model built from the config."""


def _reorder_gates(a: np.ndarray, hidden: int) -> np.ndarray:
    """Columns (i, j, f, o) -> (i, f, j, o) along the last axis."""
    i, j, f, o = (a[..., k * hidden:(k + 1) * hidden] for k in range(4))
    return np.concatenate([i, f, j, o], axis=-1)


# A mapping entry: TF name, the tensor it fills, and a converter TF value -> torch value.
Entry = tuple[str, torch.Tensor, Callable[[np.ndarray], np.ndarray], tuple[int, ...]]


def _dense(scope: str, layer: nn.Linear) -> Iterator[Entry]:
    yield f"{scope}/kernel", layer.weight, lambda k: k.T, (layer.in_features, layer.out_features)
    yield f"{scope}/bias", layer.bias, lambda b: b, (layer.out_features,)


def _lstm(scope: str, lstm: nn.LSTM, suffix: str = "") -> Iterator[Entry]:
    h, n_in = lstm.hidden_size, getattr(lstm, f"weight_ih_l0{suffix}").shape[1]
    yield (f"{scope}/kernel", getattr(lstm, f"weight_ih_l0{suffix}"),
           lambda k: _reorder_gates(k[:n_in], h).T, (n_in + h, 4 * h))
    yield (f"{scope}/kernel", getattr(lstm, f"weight_hh_l0{suffix}"),
           lambda k: _reorder_gates(k[n_in:], h).T, (n_in + h, 4 * h))

    def bias(b: np.ndarray) -> np.ndarray:
        b = _reorder_gates(b, h).copy()
        b[h:2 * h] += 1.0
        return b
    yield f"{scope}/bias", getattr(lstm, f"bias_ih_l0{suffix}"), bias, (4 * h,)


def _bidi(scope: str, bidi) -> Iterator[Entry]:
    for l, layer in enumerate(bidi.layers):
        for direction, suffix in (("fw", ""), ("bw", "_reverse")):
            yield from _lstm(f"{scope}/cell_{l}/bidirectional_rnn/{direction}/multi_rnn_cell/cell_0/lstm_cell",
                             layer, suffix)


def _stack(scope: str, stack, multi: bool = True) -> Iterator[Entry]:
    for l, layer in enumerate(stack.layers):
        yield from _lstm(f"{scope}/{'multi_rnn_cell/' if multi else ''}cell_{l}/lstm_cell", layer)


def _flat_decoder(scope: str, dec) -> Iterator[Entry]:
    yield from _stack(scope, dec.rnn)
    yield from _dense(f"{scope}/z_to_initial_state", dec.initial_state)
    yield from _dense(f"{scope}/output_projection", dec.output_projection)


def variable_map(model: MusicVAE) -> list[Entry]:
    """Every (TF variable name, torch tensor, converter, TF shape) of a model."""
    entries: list[Entry] = []
    if isinstance(model.encoder, HierarchicalEncoder):
        for i, level in enumerate(model.encoder.levels):
            entries += _bidi(f"encoder/hierarchical_level_{i}", level)
    else:
        entries += _bidi("encoder", model.encoder)
    entries += _dense("encoder/mu", model.mu)
    entries += _dense("encoder/sigma", model.sigma)
    dec = model.decoder
    if model.kind == "hierarchical":
        entries += _stack("decoder/hierarchical_level_0", dec.conductor, multi=False)
        entries += _dense("decoder/hierarchical_level_0/initial_state", dec.conductor_initial_state)
        if len(dec.cores) == 1:
            entries += _flat_decoder("core_decoder/decoder", dec.cores[0])
        else:
            for k, core in enumerate(dec.cores):
                entries += _flat_decoder(f"core_decoder/core_decoder_{k}/decoder", core)
    else:
        entries += _flat_decoder("decoder", dec)
        if model.kind == "nade":
            d, hdim = dec.num_bits, dec.num_hidden
            entries.append(("decoder/nade/w_enc", dec.w_enc, lambda w: w, (d, 1, hdim)))
            entries.append(("decoder/nade/w_dec_t", dec.w_dec_t, lambda w: w, (d, hdim, 1)))
    return entries


def load_tf_variables(model: MusicVAE, variables: dict[str, np.ndarray]) -> MusicVAE:
    """Copy Magenta's trainable variables into ``model``; CheckpointMismatchError names the first misfit."""
    entries = variable_map(model)
    for name, _, _, shape in entries:
        if name not in variables:
            raise CheckpointMismatchError(f"checkpoint has no variable {name!r} (model expects shape {shape}); "
                                          f"is the config or --hparams right?")
        if tuple(variables[name].shape) != shape:
            raise CheckpointMismatchError(f"variable {name!r}: checkpoint shape {tuple(variables[name].shape)}, "
                                          f"model built from the config expects {shape}")
    with torch.no_grad():
        for name, tensor, convert, _ in entries:
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(convert(np.asarray(variables[name], np.float32)))))
    return model


def tf_variables(model: MusicVAE) -> dict[str, np.ndarray]:
    """The model's weights as Magenta's TF variables (``load_tf_variables`` run backwards), float32.

    Every mapping above is affine (a permutation of the TF array's entries plus a constant: the forget
    bias), so it is inverted generically: mapping the TF entries' flat indices gives, for each torch
    entry, the TF entry it came from, and mapping zeros gives the constant to take off.
    """
    out: dict[str, np.ndarray] = {}
    for name, tensor, convert, shape in variable_map(model):
        offset = np.asarray(convert(np.zeros(shape)), np.float64)
        index = np.rint(np.asarray(convert(np.arange(np.prod(shape), dtype=np.float64).reshape(shape))) - offset)
        flat = out.setdefault(name, np.zeros(shape, np.float64)).reshape(-1)  # a view: fills out[name]
        flat[index.astype(np.int64).ravel()] = (tensor.detach().to("cpu", torch.float64).numpy() - offset).ravel()
    return {name: value.astype(np.float32) for name, value in out.items()}
