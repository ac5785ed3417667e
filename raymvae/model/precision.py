"""Which float precision the model runs in: under ``auto``, bf16 autocast where the hardware runs bf16
natively (for training, only where that is also the faster one for the model's LSTMs, and not for
hierarchical decoders), fp32 elsewhere; ``fp32`` or ``bf16`` when asked.

Autocast casts only the inputs of matmuls and LSTMs, so master weights and the
optimizer stay fp32; the LSTMs and the other layers run in bf16, while
the latent layers, the decoders' initial states and the logits stay fp32
(``in_fp32``), and the losses and the KL are computed in fp32. No Ray.
"""
from __future__ import annotations

import contextlib
import platform
from pathlib import Path

import torch
from torch import nn

from raymvae.settings import PRECISIONS

CPU_BF16_FEATURES = ("amx_bf16", "avx512_bf16")  # Linux /proc/cpuinfo flag names


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux
        return ""


def _cpuinfo_field(name: str, cpuinfo: str | None) -> str | None:
    """The value of the first ``name : value`` line of /proc/cpuinfo (or of ``cpuinfo``), if there is one."""
    for line in (_cpuinfo() if cpuinfo is None else cpuinfo).splitlines():
        if line.startswith(name):
            return line.partition(":")[2].strip()
    return None


def cpu_bf16_features(cpuinfo: str | None = None) -> list[str]:
    """The CPU's native bf16 features (AMX-BF16, AVX512-BF16) from /proc/cpuinfo; [] where it has none or
    where it cannot be read (then ``auto`` stays fp32)."""
    flags = set((_cpuinfo_field("flags", cpuinfo) or "").split())
    return [f for f in CPU_BF16_FEATURES if f in flags]


def cpu_name(cpuinfo: str | None = None) -> str:
    """The CPU's model name, for logs and benchmark records."""
    return _cpuinfo_field("model name", cpuinfo) or platform.processor() or platform.machine()


def cpu_summary() -> str:
    """The CPU, torch's threads and the bf16 features: the header of every CPU benchmark's output."""
    return f"{cpu_name()}, {torch.get_num_threads()} threads, bf16 features: {', '.join(cpu_bf16_features()) or 'none'}"


def native_bf16(device: torch.device) -> str | None:
    """Why ``device`` runs bf16 natively ('avx512_bf16', 'CUDA bf16', ...), or None when it does not."""
    if device.type == "cuda":
        return "CUDA bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else None
    if device.type == "cpu":
        return ", ".join(cpu_bf16_features()) or None
    return None


# Training's auto looks at the widest LSTM, since bf16 pays on different sizes on different hardware
# (benchmarks/RESULTS.md): on an AVX512-BF16 CPU without AMX, bf16 trains cat-mel_2bar_small (512 units) at
# 1.4-1.8x and hierdec-mel_16bar (2048 units) at 0.67-0.68x, as oneDNN's bf16 LSTM backward is slow for wide
# layers; on an H200 it is the other way round (0.73-0.93x and 1.18x), as cuDNN's small LSTMs are not bound
# by matrix work. On a 2-vCPU Xeon with AMX, bf16 trains cat-mel_2bar_small 2.1-2.5x faster, but the
# demo's 128-unit model no faster (0.99x in-process, 0.85x through Ray Train): AMX pays on larger matrices.
WIDE_LSTM = 1024  # units: wider is "wide"
NARROW_LSTM = 128  # units: at most this is "narrow"


def widest_lstm(model: nn.Module) -> int:
    """The hidden size of the model's widest LSTM (0 without one): what training's auto looks at."""
    return max((m.hidden_size for m in model.modules() if isinstance(m, nn.LSTM)), default=0)


def hierarchical(model: nn.Module) -> bool:
    """Whether the model has a hierarchical decoder (a conductor over segments), which auto trains in fp32."""
    return any(getattr(m, "num_segments", 0) > 0 for m in model.modules())


def for_training(model: nn.Module) -> dict:
    """The keyword arguments of ``resolve`` and ``describe`` for training ``model``."""
    return {"training": True, "lstm_units": widest_lstm(model), "hierarchical": hierarchical(model)}


def _auto(device: torch.device, training: bool, lstm_units: int, hierarchical: bool) -> tuple[str, str]:
    """What ``auto`` picks on ``device`` and why, in words for the log."""
    why = native_bf16(device)
    if not why:
        return "fp32", f"{device.type} has no native bf16"
    if training and hierarchical:
        # Quality check (RESULTS.md): a hierarchical decoder trained in bf16 reached fp32's accuracy, but
        # with twice its KL over three seeds, outside the 5% the 2,000-step check allows.
        return "fp32", f"{device.type} has {why}, but hierarchical decoders train in fp32"
    wide = lstm_units > WIDE_LSTM
    if training and device.type == "cpu" and "amx_bf16" not in why and wide:
        return "fp32", f"{device.type} has {why} but no AMX, where {lstm_units}-unit LSTMs train faster in fp32"
    if training and device.type == "cpu" and "amx_bf16" in why and 0 < lstm_units <= NARROW_LSTM:
        return "fp32", f"{device.type} has {why}, but {lstm_units}-unit LSTMs train no faster in bf16 there"
    if training and device.type == "cuda" and not wide:
        return "fp32", f"{device.type} has {why}, but {lstm_units}-unit LSTMs train faster in fp32 there"
    return "bf16", f"{device.type} has {why}"


def resolve(precision: str, device: torch.device, *, training: bool = False, lstm_units: int = 0,
            hierarchical: bool = False) -> str:
    """'bf16' or 'fp32': ``precision`` itself, or for 'auto' bf16 where ``device`` runs it natively. Training
    too (over three seeds of the 2,000-step quality run, bf16 matched fp32's accuracy and KL on average), where
    it is also the faster one for a model whose widest LSTM has ``lstm_units``: on CPUs with AMX above
    ``NARROW_LSTM`` units, on other CPUs up to ``WIDE_LSTM``, on GPUs above it; but never for a ``hierarchical`` decoder
    (``for_training`` gives both from the model)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be {', '.join(PRECISIONS[:-1])} or {PRECISIONS[-1]}, got {precision!r}")
    if precision == "auto":
        return _auto(device, training, lstm_units, hierarchical)[0]
    return precision


def describe(precision: str, device: torch.device, *, training: bool = False, lstm_units: int = 0,
             hierarchical: bool = False) -> str:
    """One log line's worth: what runs and why, e.g. 'bf16 (auto: cpu has avx512_bf16)'."""
    if precision != "auto":
        return f"{resolve(precision, device)} (asked)"
    chosen, why = _auto(device, training, lstm_units, hierarchical)
    return f"{chosen} (auto: {why})"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on ``device`` for a resolved precision of 'bf16'; a no-op for 'fp32'."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def in_fp32(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` in fp32 even under autocast. For the small layers whose outputs set the latent code
    (mu, sigma), the decoders' initial states and the logits: with them in bf16 too, the 2,000-step quality
    run trained in bf16 ended 0.036 below fp32's accuracy with a third less KL; with them in fp32, 0.019 below
    with 9% less, at no measurable cost in speed (benchmarks/RESULTS.md)."""
    with torch.autocast(x.device.type, enabled=False):
        return layer(x.float())
