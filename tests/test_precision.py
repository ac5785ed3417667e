"""--precision auto|fp32|bf16: what auto picks on which hardware, the flags of every subcommand, and a bf16 CPU
training step against fp32 (no Ray)."""
from __future__ import annotations

import math

import pytest
import torch

from raymvae.model import build
from raymvae.model import precision as precisions
from raymvae.model.training import make_optimizer, train_step

ZEN4 = "processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu sse2 avx512f avx512_bf16 avx512_vnni\n"
SPR = "model name\t: Intel(R) Xeon(R) Platinum 8488C\nflags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile\n"
OLD = "model name\t: Intel(R) Xeon(R) CPU E5-2686 v4 @ 2.30GHz\nflags\t\t: fpu sse2 avx2 fma\n"
CPU = torch.device("cpu")


def test_cpu_features_and_name_from_cpuinfo():
    assert precisions.cpu_bf16_features(ZEN4) == ["avx512_bf16"]
    assert precisions.cpu_bf16_features(SPR) == ["amx_bf16", "avx512_bf16"]
    assert precisions.cpu_bf16_features(OLD) == []
    assert precisions.cpu_bf16_features("") == []  # not Linux: no claim, so auto stays fp32
    assert precisions.cpu_name(SPR) == "Intel(R) Xeon(R) Platinum 8488C"


@pytest.mark.parametrize("cpuinfo, auto", [(ZEN4, "bf16"), (SPR, "bf16"), (OLD, "fp32"), ("", "fp32")])
def test_auto_runs_bf16_only_where_the_cpu_runs_it_natively(monkeypatch, cpuinfo, auto):
    monkeypatch.setattr(precisions, "_cpuinfo", lambda: cpuinfo)
    assert precisions.resolve("auto", CPU) == auto
    assert precisions.resolve("auto", CPU, training=True, lstm_units=512) == auto
    for training in (False, True):
        assert precisions.resolve("fp32", CPU, training=training) == "fp32"
        assert precisions.resolve("bf16", CPU, training=training, lstm_units=2048) == "bf16"
    why = "cpu has amx_bf16, avx512_bf16" if cpuinfo == SPR else "cpu has avx512_bf16" if auto == "bf16" else \
        "cpu has no native bf16"
    assert precisions.describe("auto", CPU) == f"{auto} (auto: {why})"
    assert precisions.describe("auto", CPU, training=True, lstm_units=512) == f"{auto} (auto: {why})"
    assert precisions.describe("fp32", CPU) == "fp32 (asked)"
    with pytest.raises(ValueError, match="auto, fp32 or bf16"):
        precisions.resolve("fp16", CPU)


@pytest.mark.parametrize("cpuinfo, wide", [(ZEN4, "fp32"), (SPR, "bf16"), (OLD, "fp32")])
def test_auto_trains_wide_lstms_in_fp32_on_cpus_without_amx(monkeypatch, cpuinfo, wide):
    """AVX512-BF16 without AMX: bf16 is slower than fp32 for 2048-unit LSTMs, so training stays fp32 there
    (decoding does not: it stays bf16)."""
    monkeypatch.setattr(precisions, "_cpuinfo", lambda: cpuinfo)
    with torch.device("meta"):
        flat, small = build("flat-mel_16bar"), build("cat-mel_2bar_small")
    assert precisions.for_training(flat) == {"training": True, "lstm_units": 2048, "hierarchical": False}
    assert precisions.for_training(small) == {"training": True, "lstm_units": 512, "hierarchical": False}
    assert precisions.resolve("auto", CPU, **precisions.for_training(flat)) == wide
    assert precisions.resolve("auto", CPU, lstm_units=2048) == ("fp32" if cpuinfo == OLD else "bf16")
    if cpuinfo == ZEN4:
        assert precisions.describe("auto", CPU, **precisions.for_training(flat)) == \
            "fp32 (auto: cpu has avx512_bf16 but no AMX, where 2048-unit LSTMs train faster in fp32)"


@pytest.mark.parametrize("cpuinfo, narrow", [(ZEN4, "bf16"), (SPR, "fp32"), (OLD, "fp32")])
def test_auto_trains_narrow_lstms_in_fp32_on_cpus_with_amx(monkeypatch, cpuinfo, narrow):
    """AMX: bf16 trains the demo's 128-unit model no faster than fp32 (it pays on larger matrices), so training
    stays fp32 there; an AVX512-BF16 CPU without AMX trains it faster in bf16. Decoding stays bf16 on both."""
    monkeypatch.setattr(precisions, "_cpuinfo", lambda: cpuinfo)
    with torch.device("meta"):
        demo = build("cat-mel_2bar_small", {"enc_rnn_size": [128], "dec_rnn_size": [128, 128], "z_size": 32})
        wider = build("cat-mel_2bar_small", {"enc_rnn_size": [256], "dec_rnn_size": [256, 256]})
    assert precisions.for_training(demo)["lstm_units"] == 128
    assert precisions.resolve("auto", CPU, **precisions.for_training(demo)) == narrow
    assert precisions.resolve("auto", CPU, **precisions.for_training(wider)) == ("fp32" if cpuinfo == OLD else "bf16")
    assert precisions.resolve("auto", CPU, lstm_units=128) == ("fp32" if cpuinfo == OLD else "bf16")
    if cpuinfo == SPR:
        assert precisions.describe("auto", CPU, **precisions.for_training(demo)) == \
            "fp32 (auto: cpu has amx_bf16, avx512_bf16, but 128-unit LSTMs train no faster in bf16 there)"
        assert precisions.describe("auto", CPU, training=True) == "bf16 (auto: cpu has amx_bf16, avx512_bf16)"


@pytest.mark.parametrize("cpuinfo", [ZEN4, SPR, OLD])
def test_auto_trains_hierarchical_decoders_in_fp32_and_decodes_them_in_bf16(monkeypatch, cpuinfo):
    """A hierarchical decoder trained in bf16 drifted to twice fp32's KL in the quality check, whatever the
    width (hier-mel_16bar's widest LSTM has 1024 units), so auto trains it in fp32 on every device."""
    monkeypatch.setattr(precisions, "_cpuinfo", lambda: cpuinfo)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    with torch.device("meta"):
        models = [build("hierdec-mel_16bar"), build("hier-mel_16bar")]
    for model in models:
        assert precisions.hierarchical(model)
        for device in (CPU, torch.device("cuda")):
            assert precisions.resolve("auto", device, **precisions.for_training(model)) == "fp32"
            assert precisions.resolve("bf16", device, **precisions.for_training(model)) == "bf16"
        assert precisions.resolve("auto", CPU) == ("fp32" if cpuinfo == OLD else "bf16")
    if cpuinfo == SPR:
        assert precisions.describe("auto", CPU, **precisions.for_training(models[0])) == \
            "fp32 (auto: cpu has amx_bf16, avx512_bf16, but hierarchical decoders train in fp32)"


@pytest.mark.parametrize("native, auto", [(True, "bf16"), (False, "fp32")])
def test_auto_on_cuda_asks_whether_the_gpu_has_bf16_and_trains_only_wide_lstms_in_it(monkeypatch, native, auto):
    """On GPUs bf16 trains hierdec's 2048-unit LSTMs faster and cat-mel_2bar_small's 512-unit ones slower."""
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: native)
    cuda = torch.device("cuda")
    assert precisions.resolve("auto", cuda) == auto
    assert precisions.resolve("auto", cuda, lstm_units=512) == auto
    assert precisions.resolve("auto", cuda, training=True, lstm_units=2048) == auto
    assert precisions.resolve("auto", cuda, training=True, lstm_units=512) == "fp32"
    if native:
        assert precisions.describe("auto", cuda, training=True, lstm_units=512) == \
            "fp32 (auto: cuda has CUDA bf16, but 512-unit LSTMs train faster in fp32 there)"


@pytest.mark.parametrize("argv", [["train", "--config", "c", "--examples", "e", "--run-dir", "r"],
                                  ["tune", "--config", "c", "--examples", "e", "--output", "o"],
                                  ["generate", "sample", "--num", "3", "--model", "m", "--output", "o"],
                                  ["generate", "interpolate", "--model", "m", "--output", "o"],
                                  ["serve", "--model", "m"]])
def test_every_model_subcommand_takes_precision_and_bf16(argv):
    from raymvae.cli import build_parser

    parse = build_parser().parse_args
    assert parse(argv).precision == "auto"
    assert parse([*argv, "--precision", "fp32"]).precision == "fp32"
    assert parse([*argv, "--bf16"]).precision == "bf16"


def test_a_bf16_cpu_step_keeps_fp32_weights_and_losses_close_to_fp32():
    """The same model, batch and noise in both precisions: the step's losses agree within 1%; the LSTMs run in
    bf16 while the latent layers, the logits, the loss and KL come out in fp32; the weights and Adam's moments
    stay fp32 (bf16 is emulated on CPUs without it)."""
    hp = "enc_rnn_size=[64],dec_rnn_size=[64,64],z_size=16,sampling_schedule=constant,sampling_rate=0.0"
    torch.manual_seed(0)
    x = torch.randint(0, 90, (16, 32))
    stats, models = {}, {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(1)
        model = build("cat-mel_2bar_small", hp)
        opt = make_optimizer(model, model.config.hparams)
        with precisions.autocast(CPU, precision):
            out = model(x, beta=0.5, free_bits=0.0)
            lstm_out = model.encoder(model.encoder_inputs(x))
        assert lstm_out.dtype == (torch.bfloat16 if precision == "bf16" else torch.float32)  # autocast is on
        assert out.loss.dtype == out.kl.dtype == out.r_loss.dtype == torch.float32
        assert out.mu.dtype == out.sigma.dtype == out.logits.dtype == torch.float32  # in_fp32's layers
        stats[precision] = train_step(model, opt, x, 100, model.config.hparams,
                                      torch.Generator().manual_seed(2), precision)
        models[precision] = model
        assert all(p.dtype == torch.float32 for p in model.parameters())
        assert all(v.dtype == torch.float32 for s in opt.state.values() for k, v in s.items() if k != "step")
    for key in ("loss", "losses/r_loss", "losses/kl_bits"):
        a, b = float(stats["fp32"][key]), float(stats["bf16"][key])
        assert math.isfinite(b) and abs(a - b) <= 0.01 * abs(a) + 1e-3, (key, a, b)
    for (name, p32), p16 in zip(models["fp32"].named_parameters(), models["bf16"].parameters()):
        assert torch.allclose(p32, p16, atol=2e-3), name  # one Adam step of lr 1e-3 apart at most
