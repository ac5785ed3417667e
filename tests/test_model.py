"""MusicVAE in PyTorch: sizes, every config's forward/backward, loss, schedules, decoding (no Ray)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from raymvae.config import config_names
from raymvae.model import build, grid, lerp, num_parameters, slerp
from raymvae.model import loss as L
from raymvae.model import schedules
from raymvae.model.evaluate import evaluate
from raymvae.model.lstm import LSTMStack
from raymvae.model.training import clip_gradients, make_optimizer, train_step
from raymvae.music import converter_for

SMALL = dict(enc_rnn_size=[16], dec_rnn_size=[16, 16], z_size=8)


def random_windows(model, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = model.seq_len
    if model.family == "trio":
        return torch.stack([torch.randint(0, 90, (n, t), generator=g), torch.randint(0, 90, (n, t), generator=g),
                            torch.randint(0, 512, (n, t), generator=g)], -1)
    if model.family == "groove":  # hits, velocities where hit, offsets where hit
        hits = (torch.rand((n, t, 9), generator=g) < 0.3).float()
        return torch.cat([hits, hits * torch.rand((n, t, 9), generator=g),
                          hits * (2 * torch.rand((n, t, 9), generator=g) - 1)], -1)
    if model.family == "chord_melody":  # (melody class, chord class[, key])
        cols = [torch.randint(0, 90, (n, t), generator=g), torch.randint(0, 49, (n, t), generator=g)]
        if model.control_depth > 49:
            cols.append(torch.randint(0, 12, (n, t), generator=g))
        return torch.stack(cols, -1)
    if model.family == "multitrack":  # 8 tracks: a program token, events, END, then -1 padding rows
        w = torch.full((n, 8, 64), -1, dtype=torch.long)
        for i in range(n):
            for s in range(8):
                k = int(torch.randint(1, 20, (), generator=g))
                w[i, s, :k] = torch.randint(0, 489, (k,), generator=g)
                w[i, s, k] = 489
        w = w.reshape(n, 512)
        if model.control_depth:  # the chord of each token row
            return torch.stack([w, torch.where(w >= 0, torch.randint(0, 49, w.shape, generator=g), -1)], -1)
        return w
    if model.family == "drums":
        return torch.randint(0, 1 << min(model.codec.converter.num_drum_classes, 62), (n, t), generator=g)
    return torch.randint(0, 90, (n, t), generator=g)


@pytest.mark.parametrize("name,expected", [
    ("cat-mel_2bar_small", 4_423_770), ("cat-mel_2bar_big", 134_571_098), ("hierdec-mel_16bar", 176_061_530),
    ("cat-drums_2bar_small", 4_636_672), ("hierdec-trio_16bar", 230_975_156),
    # GrooVAE, by hand: BiLSTM 2 x (539 x 2048 + 2048), mu and sigma 2 x (1024 x 256 + 256), decoder LSTMs
    # 539 x 1024 + 1024 and 512 x 1024 + 1024, z -> state 256 x 1024 + 1024, output 256 x 27 + 27
    ("groovae_2bar_humanize", 4_085_019), ("groovae_4bar", 4_085_019),
    # hits as controls: encoder input 27 + 9, decoder input 27 + 256 + 9
    ("groovae_2bar_hits_control", 4_131_099),
    # chords, by hand: BiLSTM 2 x (1163 x 4096 + 4096), mu and sigma 2 x (2048 x 256 + 256), z -> state
    # 256 x 3072 + 3072, decoder LSTMs 907 x 2048 + 2048 (90 + 256 + 49 + 512 in) and 2 x (1024 x 2048 + 2048),
    # output 512 x 90 + 90
    ("cat-mel_2bar_med_chords", 17_478_234),
    # with the key: 12 more inputs to the encoder (2 x 12 x 4096) and to the first decoder layer (12 x 2048)
    ("cat-mel_2bar_med_chords_key", 17_601_114),
    # multitrack, by hand: track BiLSTM 2 x (1514 x 4096 + 4096), BiLSTM over tracks 2 x (3072 x 4096 + 4096),
    # mu and sigma 2 x (2048 x 512 + 512); conductor: z -> state 512 x 3072 + 3072, LSTMs 513 x 2048 + 2048 and
    # 2 x (1024 x 2048 + 2048); core: embedding -> state 512 x 3072 + 3072, LSTMs 1514 x 2048 + 2048
    # (490 + 512 + 512 in) and 2 x (1024 x 2048 + 2048), output 512 x 490 + 490. _big: the same at 2048 / 1024.
    ("hier-multiperf_vel_1bar_med", 55_638_506), ("hier-multiperf_vel_1bar_big", 204_598_762),
    # with chords: 49 more inputs to the track BiLSTM (2 x 49 x 4096) and to the core (49 x 2048)
    ("hier-multiperf_vel_1bar_med_chords", 56_140_266), ("hier-multiperf_vel_1bar_big_chords", 205_602_282)])
def test_parameter_counts_equal_magenta(name, expected):
    with torch.device("meta"):
        model = build(name)
    assert num_parameters(model) == expected


@pytest.mark.parametrize("name", config_names())
def test_every_config_trains_and_decodes_at_small_size(name):
    model = build(name, SMALL)
    windows = random_windows(model, 3)
    opt = make_optimizer(model, model.config.hparams)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    stats = train_step(model, opt, windows, 50_000, model.config.hparams, torch.Generator().manual_seed(1))
    assert math.isfinite(float(stats["loss"])) and float(stats["losses/r_loss"]) > 0
    still = [n for n, p in model.named_parameters() if p.requires_grad and torch.equal(before[n], p)]
    # The conductor reads constant zeros, so (as in Magenta) its input weights never get a gradient.
    assert still in ([], ["decoder.conductor.layers.0.weight_ih_l0"]), still
    out = model.decode(torch.zeros(2, 8), temperature=0.7, generator=torch.Generator().manual_seed(0),
                       controls=model.controls(windows[:2]))
    assert tuple(out.shape) == (2,) + tuple(converter_for(name).window_shape)


def test_kl_and_free_bits_closed_form():
    mu = torch.tensor([[0.5, -1.0, 0.0]])
    sigma = torch.tensor([[1.0, 0.5, 2.0]])
    expected = sum(-math.log(s) + (s * s + m * m) / 2 - 0.5 for m, s in zip([0.5, -1.0, 0.0], [1.0, 0.5, 2.0]))
    kl = L.kl_divergence(mu, sigma)
    assert kl.item() == pytest.approx(expected, rel=1e-6)
    assert L.free_nats(48) == pytest.approx(33.271, abs=1e-3) and L.free_nats(256) == pytest.approx(177.446, abs=1e-3)
    kls = torch.tensor([10.0, 200.0])
    assert L.kl_cost(kls, 256).tolist() == pytest.approx([0.0, 200.0 - 256 * math.log(2)])
    assert L.kl_cost(kls, 0).tolist() == [10.0, 200.0]
    assert L.kl_cost(torch.tensor([50.0]), 48).item() == pytest.approx(50 - 48 * math.log(2), rel=1e-6)
    r = torch.tensor([3.0, 5.0])
    assert L.total_loss(r, kls, 0.5, 0).item() == pytest.approx(4.0 + 0.5 * 105.0)


def test_free_bits_stop_the_kl_gradient():
    mu = torch.tensor([[0.3, 0.2]], requires_grad=True)
    sigma = torch.tensor([[0.9, 1.1]], requires_grad=True)
    L.total_loss(torch.zeros(1), L.kl_divergence(mu, sigma), 1.0, free_bits=1.0).backward()
    assert mu.grad.abs().sum() == 0 and sigma.grad.abs().sum() == 0


def test_schedules_match_the_spec():
    p = lambda s: schedules.sampling_probability(s, "inverse_sigmoid", 1000.0)  # noqa: E731
    assert p(0) == pytest.approx(0.001, abs=1e-4)
    assert p(5000) == pytest.approx(0.13, abs=0.01)
    assert p(6900) == pytest.approx(0.5, abs=0.01)
    assert p(10000) == pytest.approx(0.96, abs=0.01)
    assert p(15000) > 0.999 and p(10 ** 7) == 1.0
    assert schedules.sampling_probability(7, "constant", 0.25) == 0.25
    assert schedules.sampling_probability(2, "exponential", 0.5) == 0.75
    lr = lambda s: schedules.learning_rate(s, 1e-3, 0.9999, 1e-5)  # noqa: E731
    assert lr(0) == pytest.approx(1e-3)
    assert lr(6900) == pytest.approx(5.05e-4, rel=0.01)
    assert lr(25000) == pytest.approx(9.1e-5, rel=0.01)
    assert lr(50000) == pytest.approx(1.67e-5, rel=0.01)
    assert schedules.beta(69_300, 0.2, 0.99999) == pytest.approx(0.1, rel=0.01)
    assert schedules.beta(200_000, 1.0, 0.99999) == pytest.approx(0.865, abs=0.001)
    assert schedules.beta(0, 0.2, 0.0) == 0.0 and schedules.beta(1, 0.2, 0.0) == 0.2


def test_gradient_clipping_and_blow_up_skip():
    a = torch.zeros(3, requires_grad=True)
    a.grad = torch.tensor([3.0, 4.0, 0.0])
    assert clip_gradients([a], 1.0, 1e4) == pytest.approx(5.0)
    assert torch.allclose(a.grad, torch.tensor([0.6, 0.8, 0.0]))
    a.grad = torch.tensor([0.3, 0.4, 0.0])
    clip_gradients([a], 1.0, 1e4)
    assert torch.allclose(a.grad, torch.tensor([0.3, 0.4, 0.0]))
    a.grad = torch.tensor([3e4, 4e4, 0.0])
    assert clip_gradients([a], 1.0, 1e4) == pytest.approx(5e4)
    assert a.grad.abs().sum() == 0


def test_hierarchical_decoder_resets_core_state_at_segment_boundaries():
    model = build("hierdec-mel_16bar", SMALL).eval()
    x = random_windows(model, 1)
    z = torch.randn(1, 8)
    with torch.no_grad():
        base = model.teacher_forced_logits(z, x)
    inside = x.clone()
    inside[0, 5] = (inside[0, 5] + 7) % 90          # inside segment 0, not its last step
    last = x.clone()
    last[0, 15] = (last[0, 15] + 7) % 90            # the last step of segment 0
    with torch.no_grad():
        a, b = model.teacher_forced_logits(z, inside), model.teacher_forced_logits(z, last)
    assert not torch.allclose(a[0, 6:16], base[0, 6:16])       # later steps of the same segment see it
    assert torch.allclose(a[0, 16:], base[0, 16:], atol=1e-6)  # segment 1 does not (state reset)
    assert not torch.allclose(b[0, 16], base[0, 16])           # its first input is segment 0's last token
    assert torch.allclose(b[0, 32:], base[0, 32:], atol=1e-6)  # segment 2 is untouched


def test_argmax_decoding_is_deterministic_and_self_consistent():
    torch.manual_seed(0)
    for name in ("cat-mel_2bar_small", "hierdec-trio_16bar", "nade-drums_2bar_reduced"):
        model = build(name, SMALL).eval()
        z = torch.randn(3, 8)
        with torch.no_grad():
            a = model.decode(z, temperature=None)
            b = model.decode(z, temperature=0)
            logits = model.teacher_forced_logits(z, a)
        assert torch.equal(a, b)
        pred = model.windows_from_targets(model.predictions(logits, model.targets(a)))
        assert torch.equal(pred, a), name


def test_step_with_constant_gates_equals_the_full_input_step():
    torch.manual_seed(0)
    stack = LSTMStack(5 + 7, [6, 4], dropout_keep_prob=0.5).eval()
    frame, cond = torch.randn(3, 5), torch.randn(3, 7)
    state = stack.zero_state(3, frame)
    full, full_state = stack.step(torch.cat([frame, cond], -1), state)
    part, part_state = stack.step(frame, state, stack.constant_gates(cond, 5))
    assert torch.allclose(full, part, atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for s, t in zip(full_state, part_state) for a, b in zip(s, t))
    assert stack.train().constant_gates(cond, 5) is None  # input dropout varies per step


def test_sampling_uses_the_generator():
    model = build("cat-mel_2bar_small", SMALL).eval()
    s1 = model.sample(4, temperature=1.0, generator=torch.Generator().manual_seed(3))
    s2 = model.sample(4, temperature=1.0, generator=torch.Generator().manual_seed(3))
    s3 = model.sample(4, temperature=1.0, generator=torch.Generator().manual_seed(4))
    assert torch.equal(s1, s2) and not torch.equal(s1, s3)


def test_slerp_lerp_grid():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    out = slerp(a, b, [0.0, 0.5, 1.0])
    assert torch.allclose(out[0], a) and torch.allclose(out[2], b, atol=1e-6)
    omega = math.pi / 2
    expected = (math.sin(0.5 * omega) * a + math.sin(0.5 * omega) * b) / math.sin(omega)
    assert torch.allclose(out[1], expected)
    assert torch.allclose(lerp(a, b, [0.25])[0], torch.tensor([0.75, 0.5]))
    g = grid(torch.stack([a, b, -a, -b]), 3)
    assert g.shape == (3, 3, 2) and torch.allclose(g[0, 0], a) and torch.allclose(g[2, 2], -b)


def test_evaluate_reports_both_accuracies_and_the_baseline():
    model = build("hierdec-trio_16bar", SMALL)
    x = random_windows(model, 2)
    x[..., :8, :] = 0
    res = evaluate(model, [x], generator=torch.Generator().manual_seed(0))
    for key in ("losses/r_loss", "losses/kl_bits", "losses/elbo", "metrics/accuracy", "metrics/sampled_accuracy",
                "metrics/accuracy/bass", "metrics/no_event_baseline_accuracy/drums", "segment/000/accuracy",
                "metrics/mean_per_class_accuracy"):
        assert key in res
    expected_baseline = float((x == 0).float().mean())
    assert res["metrics/no_event_baseline_accuracy"] == pytest.approx(expected_baseline)
    assert res["losses/elbo"] == pytest.approx(-(res["losses/r_loss"] + res["losses/kl_bits"] * math.log(2)))
    assert len(res["per_class_accuracy"]["drums"]) == 512


@pytest.fixture(scope="module")
def real_melody_windows():
    """16 distinct 2-bar windows from a real Bach chorale of the music21 corpus."""
    import music21

    score = music21.corpus.parse("bach/bwv66.6")
    data = music21.midi.translate.streamToMidiFile(score).writestr()
    w = converter_for("cat-mel_2bar_small").encode_midi(data)
    assert len(w) >= 16
    return torch.from_numpy(w[:16].astype(np.int64))


def test_small_model_overfits_16_real_windows(real_melody_windows):
    torch.manual_seed(0)
    hp = dict(enc_rnn_size=[64], dec_rnn_size=[64, 64], z_size=16, learning_rate=0.01, decay_rate=1.0,
              min_learning_rate=0.0, max_beta=0.0, sampling_schedule="constant", sampling_rate=0.0)
    model = build("cat-mel_2bar_small", hp)
    opt = make_optimizer(model, model.config.hparams)
    g = torch.Generator().manual_seed(0)
    for step in range(300):
        train_step(model, opt, real_melody_windows, step, model.config.hparams, g)
    res = evaluate(model, [real_melody_windows], generator=g)
    assert res["metrics/accuracy"] >= 0.99
    assert res["metrics/accuracy"] > res["metrics/no_event_baseline_accuracy"] + 0.2


def test_read_only_windows_are_copied_not_shared(recwarn):
    """Ray Data hands out read-only numpy arrays (Arrow's memory): as_tensor copies them, without torch's warning."""
    model = build("cat-mel_2bar_small", "enc_rnn_size=[16],dec_rnn_size=[16],z_size=4")
    windows = np.arange(64, dtype=np.int16).reshape(2, 32) % 90
    windows.setflags(write=False)
    t = model.as_tensor(windows)
    t[0, 0] = 5
    assert windows[0, 0] == 0 and t.dtype == model.codec.dtype
    assert not [w for w in recwarn if "not writable" in str(w.message)]


def test_optimizer_is_fused_adam_with_the_same_updates_as_the_reference_loop():
    """make_optimizer runs torch's fused Adam kernel on CPU; its steps equal the per-tensor reference loop's."""
    torch.manual_seed(0)
    fused = build("cat-mel_2bar_small", SMALL)
    reference = build("cat-mel_2bar_small", SMALL)
    initial = {n: t.clone() for n, t in fused.state_dict().items()}
    reference.load_state_dict(initial)
    hp = fused.config.hparams
    opt = make_optimizer(fused, hp)
    assert opt.defaults["fused"] is True
    ref_opt = torch.optim.Adam(reference.parameters(), lr=float(hp["learning_rate"]), eps=1e-8, foreach=False)
    windows = random_windows(fused, 4)
    for step in range(3):
        train_step(fused, opt, windows, step, hp, torch.Generator().manual_seed(step))
        train_step(reference, ref_opt, windows, step, hp, torch.Generator().manual_seed(step))
    for p, q in zip(fused.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-6)
    assert all(not torch.equal(t, initial[n]) for n, t in fused.named_parameters() if t.requires_grad
               and "conductor" not in n)
