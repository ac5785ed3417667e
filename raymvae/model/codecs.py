"""One codec per data family: the model's view of a converter's class-index windows, as tensors.

Magenta's converters expose ``input_depth``, ``output_depth`` and
``to_tensors``; here the converter's ``parts`` (melody; drums; melody, bass,
drums) decide the encoder inputs (one-hot per part, or a drum roll of class
bits plus 'no hit' where the converter reads its drums as a roll), the
decoder's output heads and targets, and the metrics' per-head counts. A
converter whose output is a drum roll (``roll_output``, Magenta's NADE
configs) gives bit targets: ``DrumBitsCodec``. New data families plug in
here and in their converter. No Ray.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from raymvae.model.decoders import padded_one_hot
from raymvae.music.chords import NUM_CLASSES as NUM_CHORDS
from raymvae.music.converters import Converter

NO_EVENT = 0  # the 'no event' class of every part: melody hold / no note, drums no hit


def _in_range(classes: torch.Tensor, n: int) -> torch.Tensor:
    """``classes`` as int64, ValueError unless all are in 0..n-1."""
    c = classes.long()
    if c.numel() and (int(c.min()) < 0 or int(c.max()) >= n):
        raise ValueError(f"control classes must be in 0..{n - 1}")
    return c


CHORD_QUALITIES = ("no_chord", "major", "minor", "augmented", "diminished")


def chord_counts(step_ok: torch.Tensor, valid: torch.Tensor | None, controls: torch.Tensor) -> dict[str, torch.Tensor]:
    """Steps, and steps right, under each chord quality (N.C., major, minor, augmented, diminished), from the
    one-hot chords at the front of ``controls`` [B, T, C] (all-zero rows: padding, not counted)."""
    chords = controls[..., :NUM_CHORDS]
    cls = chords.argmax(-1)
    quality = torch.where(cls == 0, 0, 1 + (cls - 1) // 12).reshape(-1)
    keep = (chords.sum(-1) > 0) if valid is None else (chords.sum(-1) > 0) & valid
    keep, ok = keep.reshape(-1), step_ok.all(-1).reshape(-1)
    n = len(CHORD_QUALITIES)
    return {"chord_steps": torch.bincount(quality[keep], minlength=n),
            "chord_correct": torch.bincount(quality[keep & ok], minlength=n)}


def chord_metrics(c: dict[str, torch.Tensor], prefix: str) -> dict[str, float]:
    """Teacher-forced accuracy under each chord quality that occurs: ``metrics/accuracy/chord_major`` ..."""
    if prefix:
        return {}
    return {f"metrics/accuracy/chord_{name}": float(c["chord_correct"][q] / c["chord_steps"][q])
            for q, name in enumerate(CHORD_QUALITIES) if c["chord_steps"][q] > 0}


def drum_bits(windows: torch.Tensor, num_drum_classes: int) -> torch.Tensor:
    """Drum windows (bitmasks) as bits ``[..., num_drum_classes]`` (the tensor twin of the converter's)."""
    return (windows.long().unsqueeze(-1) >> torch.arange(num_drum_classes, device=windows.device)) & 1


class Codec:
    """Categorical heads: one softmax per part over its classes, targets = the window's classes."""

    dtype = torch.int64  # of window tensors

    def __init__(self, converter: Converter):
        self.converter = converter
        self.heads = [name for name, _ in converter.parts]
        self.parts = [p.num_classes for _, p in converter.parts]
        self.stacked = len(converter.parts) > 1   # windows [..., parts] rather than [...]

    @property
    def input_depth(self) -> int:
        return sum(p.num_drum_classes + 1 if p.roll_input else p.num_classes for _, p in self.converter.parts)

    @property
    def sample_width(self) -> int:
        """P of the noise ``[B, T, P]`` that seeded decoding draws: one uniform per head and step."""
        return len(self.parts)

    @property
    def class_heads(self) -> list[tuple[str, int]]:
        """(name, classes) of each head's per-class accuracy."""
        return list(zip(self.heads, self.parts))

    def model_inputs(self, windows: torch.Tensor, training: bool = False) -> torch.Tensor:
        """What the encoder reads of target windows, in the converter's format: the windows themselves."""
        return windows

    @property
    def control_depth(self) -> int:
        """Width of the per-step controls the encoder and every decoder step read (0: none)."""
        return self.converter.control_depth

    def control_onehot(self, classes: torch.Tensor) -> torch.Tensor:
        """Controls [B, T, C] from control classes [B, T] (one-hot; the chord families say more)."""
        return F.one_hot(_in_range(classes, self.control_depth), self.control_depth).float()

    def controls(self, windows: torch.Tensor) -> torch.Tensor | None:
        """Controls [B, T, C] of target windows (the converter's), or None."""
        if not self.control_depth:
            return None
        return torch.from_numpy(self.converter.controls(windows.detach().cpu().numpy())).to(windows.device)

    def with_controls(self, windows: torch.Tensor, controls: torch.Tensor | None) -> torch.Tensor:
        """Decoded windows completed with the controls they were decoded under, where the window format holds
        them (chords); as they are otherwise."""
        return windows

    def segment_lengths(self, inputs: torch.Tensor) -> torch.Tensor | None:
        """Valid steps of each segment [B, segments] that a hierarchical encoder reads (None: all of them)."""
        return None

    def valid(self, targets: torch.Tensor) -> torch.Tensor | None:
        """[B, T]: the steps that count in loss and metrics (None: every step)."""
        return None

    def extra_counts(self, decoder, logits: torch.Tensor, targets: torch.Tensor, predictions: torch.Tensor,
                     controls: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Additive counts a family reports beyond accuracy (none here)."""
        return {}

    def extra_metrics(self, c: dict[str, torch.Tensor], prefix: str) -> dict[str, float]:
        """Scalars from ``extra_counts``."""
        return {}

    def encoder_inputs(self, windows: torch.Tensor) -> torch.Tensor:
        """Per part one-hot classes, or the drum roll (class bits + 'no hit'), concatenated."""
        w = windows.long()
        cols = [w[..., k] for k in range(len(self.parts))] if self.stacked else [w]
        out = []
        for (_, p), c in zip(self.converter.parts, cols):
            if p.roll_input:
                out.append(torch.cat([drum_bits(c, p.num_drum_classes), (c == NO_EVENT).long().unsqueeze(-1)], -1))
            else:
                out.append(F.one_hot(c, p.num_classes))
        return torch.cat(out, -1).float()

    def targets(self, windows: torch.Tensor) -> torch.Tensor:
        """Decoder targets [B, T, P]: the class of each head."""
        w = windows.long()
        return w if self.stacked else w.unsqueeze(-1)

    def windows(self, targets: torch.Tensor) -> torch.Tensor:
        """Inverse of ``targets``: the converter's window format."""
        return targets if self.stacked else targets[..., 0]

    def predictions(self, decoder, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Predicted class per head [B, T, P]."""
        return decoder.predictions(logits)

    def step_correct(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """[B, T, heads]: the step right, per head."""
        return predictions == targets

    def no_event(self, targets: torch.Tensor) -> torch.Tensor:
        """[B, T, heads]: where always predicting 'no event' would be right."""
        return targets == NO_EVENT

    def class_counts(self, predictions: torch.Tensor, targets: torch.Tensor, step_ok: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Occurrences and correct predictions of each class of each head, concatenated (int64)."""
        total, correct = [], []
        for k, n in enumerate(self.parts):
            tk = targets[..., k].reshape(-1)
            total.append(torch.bincount(tk, minlength=n))
            correct.append(torch.bincount(tk[step_ok[..., k].reshape(-1)], minlength=n))
        return torch.cat(total), torch.cat(correct)


class DrumBitsCodec(Codec):
    """Drums as independent bits (Magenta's NADE decoder): one head over the drum classes' bits, a step
    right when all its bits are; per-class accuracy is each bit's recall."""

    def __init__(self, converter: Converter):
        super().__init__(converter)
        (name, drums), = converter.parts
        self.num_bits = drums.num_drum_classes
        self.parts = [self.num_bits]

    @property
    def sample_width(self) -> int:
        return self.num_bits

    @property
    def class_heads(self) -> list[tuple[str, int]]:
        return [("drum_bits", self.num_bits)]

    def targets(self, windows: torch.Tensor) -> torch.Tensor:
        return drum_bits(windows, self.num_bits)

    def windows(self, targets: torch.Tensor) -> torch.Tensor:
        return (targets.long() << torch.arange(targets.shape[-1], device=targets.device)).sum(-1)

    def predictions(self, decoder, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Bits at 0.5 given the true earlier bits (NADE's teacher-forced prediction)."""
        return decoder.predictions(logits, targets)

    def step_correct(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return (predictions == targets).all(-1, keepdim=True)

    def no_event(self, targets: torch.Tensor) -> torch.Tensor:
        return (targets == 0).all(-1, keepdim=True)

    def class_counts(self, predictions: torch.Tensor, targets: torch.Tensor, step_ok: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        hits = targets.bool()
        return hits.sum((0, 1)), (hits & (predictions == targets)).sum((0, 1))


class GrooveCodec(Codec):
    """GrooVAE: windows are float frames [T, 27] (hits | velocities | offsets) and are the decoder's targets;
    the encoder reads ``model_inputs`` (the converter's humanize / tapify / ... transform of them). A step
    is right when all its hits are; per-class accuracy is each drum's hit recall; the loss terms and the
    hits' precision and recall are reported too."""

    dtype = torch.float32

    def __init__(self, converter: Converter):
        self.converter = converter
        self.num_drums = converter.num_drum_classes
        self.heads = ["hits"]
        self.parts = [converter.depth]
        self.stacked = False

    @property
    def input_depth(self) -> int:
        return self.converter.depth

    @property
    def sample_width(self) -> int:
        return self.num_drums

    @property
    def class_heads(self) -> list[tuple[str, int]]:
        return [("hits", self.num_drums)]

    def model_inputs(self, windows: torch.Tensor, training: bool = False) -> torch.Tensor:
        """The encoder inputs of target windows; note dropout (where the config has it) only in training."""
        if self.converter.identity_inputs:
            return windows.float()
        seed = int(torch.randint(0, 2 ** 62, ())) if training else None
        x = self.converter.model_inputs(windows.detach().float().cpu().numpy(), seed=seed, note_dropout=training)
        return torch.from_numpy(x).to(windows.device)

    def encoder_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.float()

    def targets(self, windows: torch.Tensor) -> torch.Tensor:
        return windows.float()

    def windows(self, targets: torch.Tensor) -> torch.Tensor:
        return targets

    def hits(self, frames: torch.Tensor) -> torch.Tensor:
        return frames[..., :self.num_drums] > 0.5

    def step_correct(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return (self.hits(predictions) == self.hits(targets)).all(-1, keepdim=True)

    def no_event(self, targets: torch.Tensor) -> torch.Tensor:
        return ~self.hits(targets).any(-1, keepdim=True)

    def class_counts(self, predictions: torch.Tensor, targets: torch.Tensor, step_ok: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        hits = self.hits(targets)
        return hits.sum((0, 1)), (hits & self.hits(predictions)).sum((0, 1))

    def extra_counts(self, decoder, logits: torch.Tensor, targets: torch.Tensor, predictions: torch.Tensor,
                     controls: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        hits, vel, off = (x.sum() for x in decoder.loss_terms(logits, targets))
        t, p = self.hits(targets), self.hits(predictions)
        return {"hits_loss": hits, "velocities_loss": vel, "offsets_loss": off,
                "drum_steps_right": (t == p).sum(), "true_hits": (t & p).sum(), "predicted_hits": p.sum(),
                "target_hits": t.sum()}

    def extra_metrics(self, c: dict[str, torch.Tensor], prefix: str) -> dict[str, float]:
        steps = float(c["steps"])
        out = {f"metrics/{prefix}hits_accuracy": float(c["drum_steps_right"]) / (steps * self.num_drums),
               f"metrics/{prefix}hits_precision": float(c["true_hits"]) / max(1.0, float(c["predicted_hits"])),
               f"metrics/{prefix}hits_recall": float(c["true_hits"]) / max(1.0, float(c["target_hits"]))}
        if not prefix:  # Magenta's: the mean over steps of each loss term
            out.update({f"metrics/{k}": float(c[k]) / steps for k in ("hits_loss", "velocities_loss", "offsets_loss")})
        return out


class ChordMelodyCodec(Codec):
    """Chord-conditioned melodies: windows [T, 2] = (melody class, chord class), or [T, 3] with the key. The
    melody is the one head (encoder input and target); the chord (and key) of each step is the control,
    one-hot, that the encoder and every decoder step read. Melody windows [T] alone are accepted wherever
    windows are (their controls are then passed separately, as classes [B, T] or [B, T, 2])."""

    def __init__(self, converter: Converter):
        super().__init__(converter)
        self.with_key = converter.condition_on_key

    def model_inputs(self, windows: torch.Tensor, training: bool = False) -> torch.Tensor:
        return self.melody(windows)

    @staticmethod
    def melody(windows: torch.Tensor) -> torch.Tensor:
        return windows[..., 0] if windows.dim() == 3 else windows

    def control_onehot(self, classes: torch.Tensor) -> torch.Tensor:
        c = classes.long()
        if c.dim() == 2:
            c = c.unsqueeze(-1)
        if c.shape[-1] != 1 + self.with_key:
            raise ValueError(f"control classes must be [B, T{', 2' if self.with_key else ''}]: the chord "
                             f"{'and the key ' if self.with_key else ''}of every step")
        onehot = [F.one_hot(_in_range(c[..., 0], NUM_CHORDS), NUM_CHORDS)]
        if self.with_key:
            onehot.append(F.one_hot(_in_range(c[..., 1], 12), 12))
        return torch.cat(onehot, -1).float()

    def controls(self, windows: torch.Tensor) -> torch.Tensor | None:
        if windows.dim() != 3:
            raise ValueError("melody windows alone carry no chords: pass the controls (chord classes [B, T])")
        return self.control_onehot(windows[..., 1:])

    def encoder_inputs(self, windows: torch.Tensor) -> torch.Tensor:
        return super().encoder_inputs(self.melody(windows))

    def targets(self, windows: torch.Tensor) -> torch.Tensor:
        return self.melody(windows).long().unsqueeze(-1)

    def extra_counts(self, decoder, logits: torch.Tensor, targets: torch.Tensor, predictions: torch.Tensor,
                     controls: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Accuracy per chord quality (the control), beside the overall accuracy."""
        return chord_counts(predictions == targets, None, controls)

    def extra_metrics(self, c: dict[str, torch.Tensor], prefix: str) -> dict[str, float]:
        return chord_metrics(c, prefix)

    def with_controls(self, windows: torch.Tensor, controls: torch.Tensor | None) -> torch.Tensor:
        cols = [windows, controls[..., :NUM_CHORDS].argmax(-1).to(windows.dtype)]
        if self.with_key:
            cols.append(controls[..., NUM_CHORDS:].argmax(-1).to(windows.dtype))
        return torch.stack(cols, -1)


class MultitrackCodec(Codec):
    """Multitrack measures: windows [8 * 64] of token ids with -1 padding rows after each track's END (with
    chords: [8 * 64, 2], the chord class of each row beside its token). Padding rows are all-zero frames and
    controls, read by no one: the encoder reads each track up to its length, and loss and metrics count only
    token rows. Decoded windows are cut at each track's first END. The 'no event' baseline is always
    predicting END."""

    def __init__(self, converter: Converter):
        super().__init__(converter)
        self.slots, self.end = converter.num_slots, converter.num_classes - 1

    @staticmethod
    def tokens(windows: torch.Tensor) -> torch.Tensor:
        return windows[..., 0] if windows.dim() == 3 else windows

    def model_inputs(self, windows: torch.Tensor, training: bool = False) -> torch.Tensor:
        return self.tokens(windows)

    def control_onehot(self, classes: torch.Tensor) -> torch.Tensor:
        """Chord classes per row [B, 512] (-1: a padding row, all-zero)."""
        return padded_one_hot(classes, self.control_depth)

    def controls(self, windows: torch.Tensor) -> torch.Tensor | None:
        if not self.control_depth:
            return None
        if windows.dim() != 3:
            raise ValueError("token windows alone carry no chords: pass the controls (chord classes [B, 512])")
        return self.control_onehot(windows[..., 1])

    def encoder_inputs(self, windows: torch.Tensor) -> torch.Tensor:
        return padded_one_hot(self.tokens(windows), self.parts[0])

    def segment_lengths(self, inputs: torch.Tensor) -> torch.Tensor:
        w = self.tokens(inputs)
        return (w >= 0).reshape(w.shape[0], self.slots, -1).sum(-1)

    def targets(self, windows: torch.Tensor) -> torch.Tensor:
        return self.tokens(windows).long().unsqueeze(-1)

    def valid(self, targets: torch.Tensor) -> torch.Tensor:
        return targets[..., 0] >= 0

    def windows(self, targets: torch.Tensor) -> torch.Tensor:
        w = targets[..., 0].reshape(targets.shape[0], self.slots, -1)
        end = (w == self.end).long()
        after = (torch.cumsum(end, -1) - end) > 0
        return torch.where(after, torch.full_like(w, -1), w).reshape(targets.shape[0], -1)

    def with_controls(self, windows: torch.Tensor, controls: torch.Tensor | None) -> torch.Tensor:
        if not self.control_depth:
            return windows
        chords = torch.where(windows >= 0, controls.argmax(-1).to(windows.dtype), torch.full_like(windows, -1))
        return torch.stack([windows, chords], -1)

    def no_event(self, targets: torch.Tensor) -> torch.Tensor:
        return targets == self.end

    def extra_counts(self, decoder, logits: torch.Tensor, targets: torch.Tensor, predictions: torch.Tensor,
                     controls: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """With chords: accuracy per chord quality of the token rows."""
        return chord_counts(predictions == targets, self.valid(targets), controls) if self.control_depth else {}

    def extra_metrics(self, c: dict[str, torch.Tensor], prefix: str) -> dict[str, float]:
        return chord_metrics(c, prefix) if self.control_depth else {}

    def class_counts(self, predictions: torch.Tensor, targets: torch.Tensor, step_ok: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        t, ok = targets[..., 0].reshape(-1), step_ok[..., 0].reshape(-1)
        keep = t >= 0
        n = self.parts[0]
        return torch.bincount(t[keep], minlength=n), torch.bincount(t[keep & ok], minlength=n)


def codec_for(converter: Converter) -> Codec:
    """The codec of a converter: groove frames, drum-roll outputs as bits, chord-conditioned melodies, everything
    else categorical classes."""
    if converter.expressive:
        return GrooveCodec(converter)
    if converter.family == "chord_melody":
        return ChordMelodyCodec(converter)
    if converter.family == "multitrack":
        return MultitrackCodec(converter)
    return (DrumBitsCodec if converter.roll_output else Codec)(converter)
