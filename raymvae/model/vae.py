"""MusicVAE: encoder -> q(z|x) -> decoder, on class-index windows as the converters emit them.

The model builds its own input encodings from class indices through its
data family's codec (one-hot melodies, the 10-dim drum roll, the 692-dim
trio frame), so callers pass ``encode_midi`` output (as a LongTensor)
straight in.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from raymvae.config import Config, load_config
from raymvae.model import loss as L
from raymvae.model.codecs import codec_for
from raymvae.model.decoders import CategoricalDecoder, GrooveDecoder, HierarchicalDecoder, NadeDecoder
from raymvae.model.lstm import BidirectionalLSTM, small_normal_linear
from raymvae.model.precision import in_fp32


class HierarchicalEncoder(nn.Module):
    """Magenta's HierarchicalLstmEncoder with two levels: a BiLSTM (shared) over each ``level_lengths[0]``-step
    segment, then a BiLSTM over the segments' embeddings (``level_lengths[1]`` of them)."""

    def __init__(self, input_size: int, sizes: list[int], level_lengths: list[int], dropout_keep_prob: float = 1.0):
        super().__init__()
        if len(level_lengths) != 2:
            raise ValueError(f"hierarchical encoders need two levels, got {level_lengths}")
        self.segment_length, self.num_segments = level_lengths
        self.levels = nn.ModuleList([BidirectionalLSTM(input_size, sizes, dropout_keep_prob)])
        self.levels.append(BidirectionalLSTM(self.levels[0].output_size, sizes, dropout_keep_prob))

    @property
    def output_size(self) -> int:
        return self.levels[-1].output_size

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``lengths`` [B, segments]: each segment read up to its own length (multitrack: a track's tokens)."""
        b, t, d = x.shape
        seg = self.levels[0](x.reshape(b * self.num_segments, self.segment_length, d),
                             None if lengths is None else lengths.reshape(-1))
        return self.levels[1](seg.reshape(b, self.num_segments, -1))


@dataclass
class Output:
    """One forward pass: loss terms per sequence and the logits they came from."""

    loss: torch.Tensor
    r_loss: torch.Tensor      # [B] nats, summed over time (and heads)
    kl: torch.Tensor          # [B] nats
    kl_cost: torch.Tensor     # [B] after free bits
    beta: float
    logits: torch.Tensor      # [B, T, D]
    targets: torch.Tensor     # [B, T, P] class indices (NADE: bits)
    mu: torch.Tensor
    sigma: torch.Tensor
    controls: torch.Tensor | None = None  # [B, T, C] what encoder and decoder read beside the data


class MusicVAE(nn.Module):
    """A Magenta MusicVAE config as a PyTorch module."""

    def __init__(self, config: Config):
        super().__init__()
        from raymvae.music import converter_for

        self.config = config
        hp = config.hparams
        for key in ("residual_encoder", "residual_decoder"):
            if hp.get(key):
                raise ValueError(f"{key}=True is not supported (no Magenta config uses it)")
        conv = converter_for(config)
        self.family = conv.family
        self.codec = codec_for(conv)
        self.parts = self.codec.parts
        self.kind = config.model["decoder"]
        self.seq_len = int(hp["max_seq_len"])
        self.z_size = int(hp["z_size"])
        keep = float(hp.get("dropout_keep_prob", 1.0))
        dec_sizes = list(hp["dec_rnn_size"])
        self.control_depth = self.codec.control_depth
        enc_depth = self.codec.input_depth + self.control_depth
        enc_sizes = list(hp["enc_rnn_size"])
        if config.model["encoder"] == "hierarchical":
            self.encoder = HierarchicalEncoder(
                enc_depth, enc_sizes, config.model.get("encoder_level_lengths", config.model["level_lengths"]), keep)
        else:
            self.encoder = BidirectionalLSTM(enc_depth, enc_sizes, keep)
        self.mu = small_normal_linear(self.encoder.output_size, self.z_size)
        self.sigma = small_normal_linear(self.encoder.output_size, self.z_size)
        if self.control_depth and self.kind == "nade":
            raise ValueError("controls are not supported with the NADE decoder (no Magenta config has them)")
        if self.kind == "hierarchical":
            cores = [CategoricalDecoder([n], dec_sizes[-1], dec_sizes, keep, self.control_depth) for n in self.parts]
            self.decoder = HierarchicalDecoder(self.z_size, dec_sizes, config.model["level_lengths"], cores, keep)
        elif self.kind == "nade":
            self.decoder = NadeDecoder(self.parts[0], self.z_size, dec_sizes, int(hp.get("nade_num_hidden", 128)),
                                       keep)
        elif self.kind == "groove":
            self.decoder = GrooveDecoder(conv.num_drum_classes, self.z_size, dec_sizes, keep, self.control_depth)
        elif self.kind in ("categorical", "multi_categorical"):
            self.decoder = CategoricalDecoder(self.parts, self.z_size, dec_sizes, keep, self.control_depth)
        else:
            raise ValueError(f"unknown decoder {self.kind!r}")

    # Encodings (the data family's codec) ------------------------------------
    def targets(self, windows: torch.Tensor) -> torch.Tensor:
        """Decoder targets [B, T, P] (class per head; drum-roll outputs: one column per drum bit)."""
        return self.codec.targets(windows)

    def encoder_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """One-hot classes per part, or the drum roll (class bits + 'no hit'); GrooVAE's float inputs as they are."""
        return self.codec.encoder_inputs(inputs)

    def model_inputs(self, windows: torch.Tensor) -> torch.Tensor:
        """What ``encode`` reads of target windows: the windows themselves, or GrooVAE's transform of them
        (humanize, tapify, ...; note dropout only in training mode)."""
        return self.codec.model_inputs(windows, self.training)

    def as_tensor(self, windows) -> torch.Tensor:
        """Converter windows (numpy or tensor) as a tensor of the codec's dtype on the model's device (read-only
        numpy arrays, as Ray Data gives them from Arrow, copied: torch cannot share them)."""
        if not torch.is_tensor(windows):
            windows = np.asarray(windows)
            windows = windows if windows.flags.writeable else windows.copy()
        return torch.as_tensor(windows, device=self.mu.weight.device).to(self.codec.dtype)

    def controls(self, windows: torch.Tensor) -> torch.Tensor | None:
        """The controls [B, T, C] of target windows that encoder and decoder read (None: the config has none)."""
        return self.codec.controls(windows)

    def control_tensor(self, controls) -> torch.Tensor | None:
        """Controls as the model reads them, [B, T, C] float: given so, or as control classes (chords:
        ``TriadChordOneHotEncoding`` classes [B, T], with a key [B, T, 2]), which the codec makes one-hot."""
        if controls is None:
            return None
        c = (controls if torch.is_tensor(controls) else torch.as_tensor(np.asarray(controls))).to(self.mu.weight.device)
        if c.is_floating_point() and c.dim() == 3 and c.shape[-1] == self.control_depth:
            return c
        return self.codec.control_onehot(c)

    def encode_windows(self, windows) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, sigma) of converter windows (numpy or tensor) as Magenta's ``TrainedModel.encode`` sees them."""
        w = self.as_tensor(windows)
        return self.encode(self.model_inputs(w), self.controls(w))

    def windows_from_targets(self, targets: torch.Tensor) -> torch.Tensor:
        """Inverse of ``targets``: the converter's window format."""
        return self.codec.windows(targets)

    # Inference ------------------------------------------------------------------
    def encode(self, inputs: torch.Tensor, controls: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, sigma) of q(z|x) for encoder inputs in the converter's format: class-index windows [B, T(, 3)],
        or GrooVAE's float inputs [B, T, 27] as ``model_inputs`` / the converter's ``model_inputs`` give them;
        ``controls`` [B, T, C] (or control classes [B, T]) are read beside them where the config has controls."""
        x = self.encoder_inputs(inputs)
        controls = self.control_tensor(controls)
        if (controls is None) != (self.control_depth == 0):
            raise ValueError(f"{self.config.name} reads {self.control_depth} controls per step: pass them"
                             if self.control_depth else f"{self.config.name} takes no controls")
        x = x if controls is None else torch.cat([x, controls.to(x.dtype)], -1)
        lengths = self.codec.segment_lengths(inputs)
        e = self.encoder(x) if lengths is None else self.encoder(x, lengths)
        return in_fp32(self.mu, e), F.softplus(in_fp32(self.sigma, e))

    def _shifted_frames(self, targets: torch.Tensor) -> torch.Tensor:
        frames = self.decoder.frames(targets)
        return F.pad(frames[:, :-1], (0, 0, 1, 0))

    def teacher_forced_logits(self, z: torch.Tensor, windows: torch.Tensor, controls=None) -> torch.Tensor:
        """Logits [B, T, D] with the true previous frame fed at every step (trio: D = 90 | 90 | 512); the
        windows' own controls, or ``controls`` ([B, T, C], or classes [B, T]) where given."""
        c = self.controls(windows) if controls is None else self.control_tensor(controls)
        return self.decoder.teacher_forced(self._shifted_frames(self.targets(windows)), z, c)

    def decode(self, z: torch.Tensor, temperature: float | None = None, length: int | None = None,
               generator: torch.Generator | None = None, return_logits: bool = False,
               uniforms: torch.Tensor | None = None, controls: torch.Tensor | None = None):
        """Windows decoded from z (argmax when temperature is None or 0), in the converter's format.

        With ``return_logits`` also the logits of every step ([B, T, D]).
        ``uniforms`` ([B, T, P] in [0, 1); P heads, or drum bits for NADE)
        drive the sampling row by row, so a row's output does not depend on
        the batch it was decoded in; otherwise ``generator`` draws. Models with
        controls need ``controls`` [B, T, C] or control classes [B, T] (e.g. the hits to play,
        groovae_2bar_hits_control; the chords, cat-mel_2bar_med_chords, whose windows then carry them).
        """
        controls = self.control_tensor(controls)
        logits, picks = self.decoder.decode(z, temperature, generator, uniforms, length or self.seq_len,
                                            controls=controls)
        windows = self.codec.with_controls(self.windows_from_targets(picks), controls)
        return (windows, logits) if return_logits else windows

    @property
    def sample_width(self) -> int:
        """P of the ``uniforms`` that ``decode`` takes: heads, or drum bits for drum-roll outputs."""
        return self.codec.sample_width

    def sample(self, n: int, temperature: float | None = 0.5, generator: torch.Generator | None = None,
               length: int | None = None, controls: torch.Tensor | None = None) -> torch.Tensor:
        """Decode n draws of z ~ N(0, I) (with ``controls`` [n, T, C] where the model reads controls)."""
        device = self.mu.weight.device
        z = torch.randn(n, self.z_size, generator=generator, device=device)
        return self.decode(z, temperature, length, generator, controls=controls)

    # Training -------------------------------------------------------------------
    def forward(self, windows: torch.Tensor, *, beta: float = 0.0, free_bits: float | None = None,
                sampling_probability: float = 0.0, use_mean: bool = False,
                generator: torch.Generator | None = None) -> Output:
        """Loss of a batch: reparameterised z (or z = mu), teacher forcing or scheduled sampling."""
        free_bits = self.config.hparams.get("free_bits", 0.0) if free_bits is None else free_bits
        controls = self.controls(windows)
        mu, sigma = self.encode(self.model_inputs(windows), controls)
        if use_mean:
            z = mu
        else:
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            z = mu + sigma * eps
        targets = self.targets(windows)
        x_in = self._shifted_frames(targets)
        if sampling_probability <= 0.0:
            logits = self.decoder.teacher_forced(x_in, z, controls)
        else:
            logits = self.decoder.scheduled(x_in, z, targets, sampling_probability, generator, controls)
        r_loss = self.decoder.nll(logits, targets).sum(1)
        kl = L.kl_divergence(mu, sigma)
        return Output(L.total_loss(r_loss, kl, beta, free_bits), r_loss, kl, L.kl_cost(kl, free_bits), beta,
                      logits, targets, mu, sigma, controls)

    def predictions(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Predicted classes per head [B, T, P] (drum bits: at 0.5 given the true earlier bits)."""
        return self.codec.predictions(self.decoder, logits, targets)


def build(config: str | Config | dict, hparams: str | dict | None = None) -> MusicVAE:
    """The model of a Magenta config name (or loaded config), with ``hparams`` overrides."""
    return MusicVAE(load_config(config, hparams))


def num_parameters(model: nn.Module) -> int:
    """Trainable parameters, counted as Magenta counts them (one bias per LSTM layer)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
