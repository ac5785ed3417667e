"""MusicVAE decoders: categorical (one or several heads), NADE, hierarchical (conductor + cores).

Every decoder works on *frames*: the one-hot (or multi-hot) vector of the
previous output, which is the next input. Teacher forcing runs one fused
LSTM pass; scheduled sampling and free-running decoding run step by step,
feeding back samples, as Magenta's helpers do.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from raymvae.model.lstm import LSTMStack, State, glorot_linear, small_normal_linear
from raymvae.model.precision import in_fp32


def padded_one_hot(classes: torch.Tensor, n: int) -> torch.Tensor:
    """One-hot float rows of ``classes`` [...] over ``n``, all zero where the class is -1 (padding)."""
    c = classes.long()
    return (F.one_hot(c.clamp(min=0), n) * (c >= 0).unsqueeze(-1)).float()


def choose(logits: torch.Tensor, temperature: float | None, generator: torch.Generator | None,
           uniform: torch.Tensor | None = None) -> torch.Tensor:
    """Class indices from logits [N, D]: argmax when temperature is None or 0, else a softmax sample.

    With ``uniform`` ([N] in [0, 1)) the sample is the inverse CDF at those
    values, so each row's draw depends only on its own numbers (batching-independent).
    """
    if not temperature:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if uniform is None:
        return torch.multinomial(probs, 1, generator=generator)[:, 0]
    cdf = torch.cumsum(probs, -1)
    idx = torch.searchsorted(cdf, (uniform.float() * cdf[:, -1]).unsqueeze(-1).contiguous())[:, 0]
    return idx.clamp(max=probs.shape[-1] - 1)


class CategoricalDecoder(nn.Module):
    """LSTM decoder with softmax heads (``parts`` class counts: [90], [512] or [90, 90, 512]).

    Input at each step: [previous frame; cond; control] where cond is z (flat
    models) or the conductor embedding (hierarchical cores) and control the
    step's row of the optional controls [B, T, C] (Magenta's c_input); the
    state starts at tanh(dense(cond)); the first frame is zeros.
    """

    def __init__(self, parts: list[int], cond_size: int, sizes: list[int], dropout_keep_prob: float = 1.0,
                 control_size: int = 0):
        super().__init__()
        self.parts = list(parts)
        self.depth = sum(self.parts)
        self.control_size = control_size
        self.rnn = LSTMStack(self.depth + cond_size + control_size, sizes, dropout_keep_prob)
        self.initial_state = small_normal_linear(cond_size, self.rnn.state_size)
        self.output_projection = glorot_linear(sizes[-1], self.output_size)

    @property
    def output_size(self) -> int:
        return self.depth

    def start_state(self, cond: torch.Tensor) -> State:
        return self.rnn.state_from_flat(torch.tanh(in_fp32(self.initial_state, cond)))

    def frames(self, targets: torch.Tensor) -> torch.Tensor:
        """Targets [..., P] (class index per head) -> concatenated one-hot frames [..., depth]; padding
        (class -1, multitrack rows after a track's end) is an all-zero frame, as in Magenta."""
        return torch.cat([padded_one_hot(targets[..., k], n) for k, n in enumerate(self.parts)], -1)

    def _check_controls(self, controls: torch.Tensor | None) -> None:
        if (controls is None) != (self.control_size == 0):
            raise ValueError("this model reads controls at every step: pass them" if self.control_size
                             else "this model takes no controls")

    def teacher_forced(self, x_in: torch.Tensor, cond: torch.Tensor, controls: torch.Tensor | None = None
                       ) -> torch.Tensor:
        """Logits [B, T, D] for input frames ``x_in`` [B, T, depth] (already shifted right)."""
        self._check_controls(controls)
        cols = [x_in, cond.unsqueeze(1).expand(-1, x_in.shape[1], -1).to(x_in.dtype)]
        inp = torch.cat(cols + ([controls.to(x_in.dtype)] if controls is not None else []), -1)
        out, _ = self.rnn(inp, self.start_state(cond))
        return in_fp32(self.output_projection, out)

    def _pick(self, logits: torch.Tensor, temperature: float | None, generator,
              uniforms: torch.Tensor | None = None) -> torch.Tensor:
        heads = torch.split(logits, self.parts, dim=-1)
        return torch.stack([choose(h, temperature, generator, None if uniforms is None else uniforms[:, k])
                            for k, h in enumerate(heads)], -1)

    def loop(self, cond: torch.Tensor, length: int, first: torch.Tensor, *, targets: torch.Tensor | None = None,
             sampling_probability: float = 1.0, temperature: float | None = 1.0,
             generator: torch.Generator | None = None, uniforms: torch.Tensor | None = None,
             controls: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Step-by-step decoding; returns (logits [B, T, D], chosen classes [B, T, P]).

        With ``targets`` (scheduled sampling), step t+1's input is, per
        example with probability ``sampling_probability``, a temperature-1
        sample from step t's logits, else the true frame; without targets
        every input is the previous choice at ``temperature``, drawn with
        ``uniforms`` ([B, T, P] in [0, 1)) when given, else with ``generator``.
        """
        self._check_controls(controls)
        state = self.start_state(cond)
        constant = self.rnn.constant_gates(cond, self.depth) if controls is None else None
        frame, logits_all, picks = first, [], []
        for t in range(length):
            if constant is not None:
                x = frame
            else:
                step_controls = [controls[:, t].to(frame.dtype)] if controls is not None else []
                x = torch.cat([frame, cond.to(frame.dtype)] + step_controls, -1)
            out, state = self.rnn.step(x, state, constant)
            logits = in_fp32(self.output_projection, out)
            logits_all.append(logits)
            if targets is None:
                pick = self._pick(logits, temperature, generator, None if uniforms is None else uniforms[:, t])
            else:
                sampled = self._pick(logits, 1.0, generator)
                use = torch.rand((logits.shape[0], 1), generator=generator, device=logits.device) \
                    < sampling_probability
                pick = torch.where(use, sampled, targets[:, t])
            picks.append(pick)
            frame = self.frames(pick).to(first.dtype)
        return torch.stack(logits_all, 1), torch.stack(picks, 1)

    def scheduled(self, x_in: torch.Tensor, cond: torch.Tensor, targets: torch.Tensor, sampling_probability: float,
                  generator, controls: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [B, T, D] with scheduled sampling (the first input is ``x_in``'s)."""
        logits, _ = self.loop(cond, targets.shape[1], x_in[:, 0], targets=targets,
                              sampling_probability=sampling_probability, generator=generator, controls=controls)
        return logits

    def decode(self, z: torch.Tensor, temperature: float | None, generator, uniforms: torch.Tensor | None = None,
               length: int = 0, controls: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Free-running from an all-zero first frame: (logits [B, T, D], classes [B, T, P])."""
        first = z.new_zeros(z.shape[0], self.depth)
        return self.loop(z, length, first, temperature=temperature, generator=generator, uniforms=uniforms,
                         controls=controls)

    def nll(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy summed over heads, per step: [B, T] (0 at padding steps, class -1)."""
        heads = torch.split(logits.float(), self.parts, dim=-1)
        return sum(F.cross_entropy(h.transpose(1, -1), targets[..., k], reduction="none", ignore_index=-1)
                   for k, h in enumerate(heads))

    def predictions(self, logits: torch.Tensor) -> torch.Tensor:
        """Argmax class per head: [B, T, P]."""
        return torch.stack([h.argmax(-1) for h in torch.split(logits, self.parts, dim=-1)], -1)


class NadeDecoder(CategoricalDecoder):
    """LSTM decoder whose output parameterises a NADE over ``num_bits`` drum bits (Magenta NadeLstmDecoder).

    The LSTM's projection gives [b_enc (hidden); b_dec (bits)]; the NADE
    weights w_enc [bits, 1, hidden] and w_dec_t [bits, hidden, 1] are shared
    over time. Bit i's probability depends on the bits before it.
    """

    def __init__(self, num_bits: int, cond_size: int, sizes: list[int], num_hidden: int = 128,
                 dropout_keep_prob: float = 1.0):
        self.num_bits = num_bits
        self.num_hidden = num_hidden
        super().__init__([num_bits], cond_size, sizes, dropout_keep_prob)
        self.w_enc = nn.Parameter(torch.empty(num_bits, 1, num_hidden))
        self.w_dec_t = nn.Parameter(torch.empty(num_bits, num_hidden, 1))
        nn.init.xavier_uniform_(self.w_enc.view(num_bits, num_hidden))
        nn.init.xavier_uniform_(self.w_dec_t.view(num_bits, num_hidden))

    @property
    def output_size(self) -> int:
        return self.num_hidden + self.num_bits

    def frames(self, targets: torch.Tensor) -> torch.Tensor:
        """Targets are already bit frames [..., bits]."""
        return targets.float()

    def bit_logits(self, params: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        """Conditional logit of each bit given the true earlier bits: [B, T, bits]."""
        b_enc, b_dec = params[..., :self.num_hidden], params[..., self.num_hidden:]
        contrib = bits.to(params.dtype).unsqueeze(-1) * self.w_enc[:, 0, :]  # [B, T, bits, hidden]
        a = b_enc.unsqueeze(-2) + torch.cumsum(contrib, dim=-2) - contrib   # exclusive prefix sum
        return b_dec + (torch.sigmoid(a) * self.w_dec_t[:, :, 0]).sum(-1)

    def sample_bits(self, params: torch.Tensor, temperature: float | None, generator,
                    uniforms: torch.Tensor | None = None) -> torch.Tensor:
        """Draw bits one by one ([N, bits]); threshold at 0.5 when temperature is None or 0."""
        b_enc, b_dec = params[:, :self.num_hidden], params[:, self.num_hidden:]
        a, bits = b_enc, []
        for i in range(self.num_bits):
            logit = b_dec[:, i] + (torch.sigmoid(a) * self.w_dec_t[i, :, 0]).sum(-1)
            if not temperature:
                bit = (logit > 0).to(params.dtype)
            else:
                p = torch.sigmoid(logit.float() / temperature)
                bit = (torch.bernoulli(p, generator=generator) if uniforms is None
                       else (uniforms[:, i].float() < p).float()).to(params.dtype)
            bits.append(bit)
            a = a + bit.unsqueeze(-1) * self.w_enc[i, 0]
        return torch.stack(bits, -1).long()

    def _pick(self, logits: torch.Tensor, temperature: float | None, generator, uniforms=None) -> torch.Tensor:
        return self.sample_bits(logits, temperature, generator, uniforms)

    def nll(self, params: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = self.bit_logits(params.float(), targets)
        return F.binary_cross_entropy_with_logits(logits, targets.float(), reduction="none").sum(-1)

    def predictions(self, params: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """Bits predicted at 0.5 given the true earlier bits (Magenta's NADE accuracy)."""
        return (self.bit_logits(params.float(), targets) > 0).long()


class GrooveDecoder(CategoricalDecoder):
    """GrooVAE's decoder (Magenta GrooveLstmDecoder): per step and drum a hit logit, a velocity and an offset.

    Frames are the 27 floats themselves [hits | velocities | offsets]; outputs are activated as sigmoid,
    sigmoid, tanh. Hits are sampled Bernoulli(sigmoid(logit / T)) (thresholded at 0 when T is None or 0);
    velocities and offsets are deterministic. Loss per step: the hits' log loss (epsilon 1e-7, as
    ``tf.losses.log_loss``) plus the squared errors of velocities and offsets, each summed over drums.
    """

    def __init__(self, num_drums: int, cond_size: int, sizes: list[int], dropout_keep_prob: float = 1.0,
                 control_size: int = 0):
        self.num_drums = num_drums
        super().__init__([3 * num_drums], cond_size, sizes, dropout_keep_prob, control_size)

    def frames(self, targets: torch.Tensor) -> torch.Tensor:
        return targets.float()

    def activate(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(hit probabilities, velocities, offsets), each [..., drums]."""
        h, v, o = torch.split(logits.float(), self.num_drums, dim=-1)
        return torch.sigmoid(h), torch.sigmoid(v), torch.tanh(o)

    def _pick(self, logits: torch.Tensor, temperature: float | None, generator,
              uniforms: torch.Tensor | None = None) -> torch.Tensor:
        h = logits[..., :self.num_drums].float()
        _, v, o = self.activate(logits)
        if not temperature:
            hits = (h > 0).float()
        else:
            p = torch.sigmoid(h / temperature)
            hits = torch.bernoulli(p, generator=generator) if uniforms is None else (uniforms.float() < p).float()
        return torch.cat([hits, v, o], -1)

    def loss_terms(self, logits: torch.Tensor, targets: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per step [B, T]: hits' log loss, velocities' and offsets' squared errors (summed over drums)."""
        p, v, o = self.activate(logits)
        th, tv, to = torch.split(targets.float(), self.num_drums, dim=-1)
        hits = -(th * torch.log(p + 1e-7) + (1 - th) * torch.log(1 - p + 1e-7)).sum(-1)
        return hits, ((v - tv) ** 2).sum(-1), ((o - to) ** 2).sum(-1)

    def nll(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        hits, vel, off = self.loss_terms(logits, targets)
        return hits + vel + off

    def predictions(self, logits: torch.Tensor) -> torch.Tensor:
        """[B, T, 27]: hits where the logit is > 0, activated velocities and offsets."""
        return self._pick(logits, None, None)


class HierarchicalDecoder(nn.Module):
    """Conductor LSTM over U segments (zero inputs) -> one embedding per segment -> core decoder(s).

    Each core restarts its state from tanh(dense(embedding)) every segment
    and reads the embedding at every step; a segment's first input is the
    previous segment's last frame (true in training, sampled in generation).
    Trio models have three independent cores, one per instrument.
    """

    def __init__(self, z_size: int, sizes: list[int], level_lengths: list[int], cores: list[CategoricalDecoder],
                 dropout_keep_prob: float = 1.0):
        super().__init__()
        if len(level_lengths) != 2:
            raise ValueError(f"hierarchical decoders need two levels (conductor, core), got {level_lengths}")
        self.num_segments, self.segment_length = level_lengths
        self.conductor = LSTMStack(1, sizes, dropout_keep_prob)
        self.conductor_initial_state = small_normal_linear(z_size, self.conductor.state_size)
        self.cores = nn.ModuleList(cores)

    @property
    def parts(self) -> list[int]:
        return [n for core in self.cores for n in core.parts]

    def embeddings(self, z: torch.Tensor) -> torch.Tensor:
        """Conductor outputs [B, U, H]."""
        state = self.conductor.state_from_flat(torch.tanh(in_fp32(self.conductor_initial_state, z)))
        zeros = z.new_zeros(z.shape[0], self.num_segments, 1)
        out, _ = self.conductor(zeros, state)
        return out

    def _per_core(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.split(x, [c.depth for c in self.cores], dim=-1))

    def frames(self, targets: torch.Tensor) -> torch.Tensor:
        return torch.cat([core.frames(targets[..., [k]]) for k, core in enumerate(self.cores)], -1)

    def _segments(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        return x.reshape(b * self.num_segments, self.segment_length, *x.shape[2:])

    def _segment_controls(self, controls: torch.Tensor | None) -> torch.Tensor | None:
        return None if controls is None else self._segments(controls)

    def teacher_forced(self, x_in: torch.Tensor, z: torch.Tensor, controls: torch.Tensor | None = None
                       ) -> torch.Tensor:
        """Logits [B, T, D]: all segments of all examples run as one fused batch per core; ``controls``
        [B, T, C] (Magenta's c_input) are cut into segments like the inputs and read by the cores."""
        b = z.shape[0]
        e = self.embeddings(z).reshape(b * self.num_segments, -1)
        c = self._segment_controls(controls)
        logits = [core.teacher_forced(self._segments(xk), e, c)
                  for core, xk in zip(self.cores, self._per_core(x_in))]
        return torch.cat(logits, -1).reshape(b, self.num_segments * self.segment_length, -1)

    def scheduled(self, x_in: torch.Tensor, z: torch.Tensor, targets: torch.Tensor, sampling_probability: float,
                  generator, controls: torch.Tensor | None = None) -> torch.Tensor:
        """Scheduled sampling inside each segment (its first input is the true previous frame)."""
        b = z.shape[0]
        e = self.embeddings(z).reshape(b * self.num_segments, -1)
        c = self._segment_controls(controls)
        logits = []
        for k, (core, xk) in enumerate(zip(self.cores, self._per_core(x_in))):
            seg_in = self._segments(xk)
            out, _ = core.loop(e, self.segment_length, seg_in[:, 0], targets=self._segments(targets[..., [k]]),
                               sampling_probability=sampling_probability, generator=generator, controls=c)
            logits.append(out)
        return torch.cat(logits, -1).reshape(b, self.num_segments * self.segment_length, -1)

    def decode(self, z: torch.Tensor, temperature: float | None, generator, uniforms: torch.Tensor | None = None,
               length: int = 0, controls: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Free-running: (logits [B, T, D], classes [B, T, P]), segment by segment (exactly its T steps)."""
        if length != self.num_segments * self.segment_length:
            raise ValueError(f"hierarchical models decode exactly max_seq_len="
                             f"{self.num_segments * self.segment_length} steps")
        e = self.embeddings(z)
        frames = [z.new_zeros(z.shape[0], core.depth) for core in self.cores]
        logits, picks = [], []
        for u in range(self.num_segments):
            seg_logits, seg_picks = [], []
            for k, core in enumerate(self.cores):
                seg = slice(u * self.segment_length, (u + 1) * self.segment_length)
                out, pick = core.loop(e[:, u], self.segment_length, frames[k], temperature=temperature,
                                      generator=generator,
                                      uniforms=None if uniforms is None else uniforms[:, seg, k:k + 1],
                                      controls=None if controls is None else controls[:, seg])
                frames[k] = core.frames(pick[:, -1]).to(z.dtype)
                seg_logits.append(out)
                seg_picks.append(pick)
            logits.append(torch.cat(seg_logits, -1))
            picks.append(torch.cat(seg_picks, -1))
        return torch.cat(logits, 1), torch.cat(picks, 1)

    def nll(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        splits = torch.split(logits, [c.output_size for c in self.cores], dim=-1)
        return sum(core.nll(lk, targets[..., [k]]) for k, (core, lk) in enumerate(zip(self.cores, splits)))

    def predictions(self, logits: torch.Tensor) -> torch.Tensor:
        splits = torch.split(logits, [c.output_size for c in self.cores], dim=-1)
        return torch.cat([core.predictions(lk) for core, lk in zip(self.cores, splits)], -1)
