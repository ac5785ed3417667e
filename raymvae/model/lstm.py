"""LSTM stacks with Magenta's LSTMBlockCell semantics on top of fused ``nn.LSTM``.

Each layer is one ``nn.LSTM`` (cuDNN on GPU) so that a whole teacher-forced
sequence runs fused (fp32 CPU training runs the same weights through
``cpu_lstm``, faster and lighter than oneDNN's kernel there); ``step`` runs
one time step with the same weights (``torch.lstm_cell``) for sampling loops. Magenta's forget bias (+1, added
inside the cell) lives in ``bias_ih``'s forget block; ``bias_hh`` is frozen
at zero so that the trainable parameters are exactly Magenta's (one bias
vector per layer).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from raymvae.model import cpu_lstm

State = list[tuple[torch.Tensor, torch.Tensor]]  # per layer (h, c), each [B, H]


def init_magenta_lstm(lstm: nn.LSTM) -> None:
    """Glorot-uniform over TF's combined [in + H, 4H] kernel, zero bias, +1 forget bias, frozen bias_hh."""
    hidden = lstm.hidden_size
    suffixes = ["", "_reverse"] if lstm.bidirectional else [""]
    for layer in range(lstm.num_layers):
        for sfx in suffixes:
            w_ih = getattr(lstm, f"weight_ih_l{layer}{sfx}")
            w_hh = getattr(lstm, f"weight_hh_l{layer}{sfx}")
            fan_in, fan_out = w_ih.shape[1] + hidden, 4 * hidden
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            with torch.no_grad():
                w_ih.uniform_(-bound, bound)
                w_hh.uniform_(-bound, bound)
                b_ih = getattr(lstm, f"bias_ih_l{layer}{sfx}")
                b_ih.zero_()
                b_ih[hidden:2 * hidden] = 1.0
                b_hh = getattr(lstm, f"bias_hh_l{layer}{sfx}")
                b_hh.zero_()
            b_hh.requires_grad_(False)


def glorot_linear(in_features: int, out_features: int) -> nn.Linear:
    """Dense layer with TF's default initialisers (Glorot-uniform kernel, zero bias)."""
    layer = nn.Linear(in_features, out_features)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def small_normal_linear(in_features: int, out_features: int, std: float = 0.001) -> nn.Linear:
    """Dense layer initialised N(0, std^2), zero bias (Magenta's mu, sigma and state-init layers)."""
    layer = nn.Linear(in_features, out_features)
    nn.init.normal_(layer.weight, 0.0, std)
    nn.init.zeros_(layer.bias)
    return layer


class LSTMStack(nn.Module):
    """Magenta's MultiRNNCell of LSTMBlockCells: layer sizes may differ; input dropout per layer."""

    def __init__(self, input_size: int, sizes: list[int], dropout_keep_prob: float = 1.0):
        super().__init__()
        self.sizes = list(sizes)
        self.dropout = 1.0 - float(dropout_keep_prob)
        ins = [input_size] + self.sizes[:-1]
        self.layers = nn.ModuleList(nn.LSTM(i, h, batch_first=True) for i, h in zip(ins, self.sizes))
        for layer in self.layers:
            init_magenta_lstm(layer)

    @property
    def state_size(self) -> int:
        """Width of the flat (c, h per layer) state vector that Magenta's tanh(dense(z)) fills."""
        return 2 * sum(self.sizes)

    def state_from_flat(self, flat: torch.Tensor) -> State:
        """Split a [B, 2*sum(H)] vector in Magenta's order [c0, h0, c1, h1, ...]."""
        parts = torch.split(flat, [s for h in self.sizes for s in (h, h)], dim=-1)
        return [(parts[2 * i + 1].contiguous(), parts[2 * i].contiguous()) for i in range(len(self.sizes))]

    def zero_state(self, batch: int, like: torch.Tensor) -> State:
        return [(like.new_zeros(batch, h), like.new_zeros(batch, h)) for h in self.sizes]

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.dropout, self.training) if self.dropout > 0 else x

    def forward(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Run ``x`` [B, T, in] through the stack (fused per layer); returns top outputs and final state."""
        new_state = []
        if cpu_lstm.applies(x):
            x = x.transpose(0, 1).contiguous()
            for layer, (h, c) in zip(self.layers, state):
                x, h_n, c_n = cpu_lstm.direction(layer, self._drop(x), h, c)
                new_state.append((h_n, c_n))
            return x.transpose(0, 1), new_state
        for layer, (h, c) in zip(self.layers, state):
            x, (h_n, c_n) = layer(self._drop(x), (h.unsqueeze(0).contiguous(), c.unsqueeze(0).contiguous()))
            new_state.append((h_n[0], c_n[0]))
        return x, new_state

    def constant_gates(self, x: torch.Tensor, offset: int) -> torch.Tensor | None:
        """Layer 0's gate pre-activations [B, 4H] from input columns ``offset:`` plus both biases.

        Decoders feed the same conditioning vector at every step; computing its
        share of the input projection once takes it out of the step loop (a
        quarter of a small melody decoder's per-step arithmetic). None while
        input dropout is active, since the dropout mask changes every step.
        """
        if self.dropout > 0 and self.training:
            return None
        layer = self.layers[0]
        return F.linear(x, layer.weight_ih_l0[:, offset:], layer.bias_ih_l0 + layer.bias_hh_l0)

    def step(self, x: torch.Tensor, state: State, constant: torch.Tensor | None = None) -> tuple[torch.Tensor, State]:
        """One time step: ``x`` [B, in] -> top output [B, H].

        With ``constant`` (from ``constant_gates``), ``x`` holds only layer 0's
        leading input columns. ``torch.lstm_cell`` on the layers' own weights
        otherwise: a one-step ``nn.LSTM`` call costs ~0.4 ms of oneDNN set-up
        on CPU, over 10x the cell's arithmetic.
        """
        new_state = []
        for k, (layer, (h, c)) in enumerate(zip(self.layers, state)):
            if k == 0 and constant is not None:
                gates = torch.addmm(torch.addmm(constant, x, layer.weight_ih_l0[:, :x.shape[1]].t()),
                                    h, layer.weight_hh_l0.t())
                i, f, g, o = gates.chunk(4, 1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            else:
                h, c = torch.lstm_cell(self._drop(x), (h, c), layer.weight_ih_l0, layer.weight_hh_l0,
                                       layer.bias_ih_l0, layer.bias_hh_l0)
            new_state.append((h, c))
            x = h
        return x, new_state


class BidirectionalLSTM(nn.Module):
    """Magenta's stacked bidirectional encoder: layer l reads [fw; bw] outputs of layer l-1.

    Returns [h_fw after the last step; h_bw after reading back to t=0] of the top layer.
    """

    def __init__(self, input_size: int, sizes: list[int], dropout_keep_prob: float = 1.0):
        super().__init__()
        self.sizes = list(sizes)
        self.dropout = 1.0 - float(dropout_keep_prob)
        ins = [input_size] + [2 * h for h in self.sizes[:-1]]
        self.layers = nn.ModuleList(nn.LSTM(i, h, batch_first=True, bidirectional=True)
                                    for i, h in zip(ins, self.sizes))
        for layer in self.layers:
            init_magenta_lstm(layer)

    @property
    def output_size(self) -> int:
        return 2 * self.sizes[-1]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` [B, T, in]; with ``lengths`` [B] (>= 1) each sequence is read only up to its length, the
        backward direction from its last valid step (Magenta's ``sequence_length``)."""
        if lengths is not None:
            return self._packed(x, lengths)
        if cpu_lstm.applies(x):
            return self._time_major(x)
        h_n = None
        for layer in self.layers:
            if self.dropout > 0:
                x = F.dropout(x, self.dropout, self.training)
            x, (h_n, _) = layer(x)
        return torch.cat([h_n[0], h_n[1]], dim=-1)

    def _time_major(self, x: torch.Tensor) -> torch.Tensor:
        """The same pass through ``cpu_lstm``, both directions of each layer over time-major inputs."""
        x = x.transpose(0, 1).contiguous()
        zeros = x.new_zeros(x.shape[1], max(self.sizes))
        for k, layer in enumerate(self.layers):
            if self.dropout > 0:
                x = F.dropout(x, self.dropout, self.training)
            h0 = zeros[:, :layer.hidden_size]
            fw, h_fw, _ = cpu_lstm.direction(layer, x, h0, h0)
            bw, h_bw, _ = cpu_lstm.direction(layer, x, h0, h0, reverse=True)
            if k + 1 < len(self.layers):
                x = torch.cat([fw, bw], -1)
        return torch.cat([h_fw, h_bw], dim=-1)

    def _packed(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        from torch.nn.utils.rnn import pack_padded_sequence

        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        h_n = None
        for layer in self.layers:
            if self.dropout > 0:
                packed = packed._replace(data=F.dropout(packed.data, self.dropout, self.training))
            packed, (h_n, _) = layer(packed)
        return torch.cat([h_n[0], h_n[1]], dim=-1)
