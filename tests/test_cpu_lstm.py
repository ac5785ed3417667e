"""The fp32 CPU training path for LSTM layers (``cpu_lstm``) against ``nn.LSTM``: outputs and every gradient."""
from __future__ import annotations

import pytest
import torch

from raymvae.model import build, cpu_lstm
from raymvae.model.lstm import BidirectionalLSTM, LSTMStack


def _grads(loss: torch.Tensor, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, tensors))


def test_stack_matches_nn_lstm_with_initial_state_in_outputs_and_gradients():
    torch.manual_seed(0)
    stack = LSTMStack(7, [6, 5]).double()
    x = torch.randn(4, 9, 7, dtype=torch.double, requires_grad=True)
    state = [(torch.randn(4, h, dtype=torch.double, requires_grad=True),
              torch.randn(4, h, dtype=torch.double, requires_grad=True)) for h in (6, 5)]
    weights = torch.randn(4, 9, 5, dtype=torch.double)
    leaves = [x] + [t for hc in state for t in hc] + [p for p in stack.parameters() if p.requires_grad]

    def run() -> tuple[torch.Tensor, list[torch.Tensor]]:
        out, final = stack(x, state)
        loss = (out * weights).sum() + final[0][0].sum() * 0.5 + final[1][1].sum() * 0.3
        return out.detach(), _grads(loss, leaves)

    assert not cpu_lstm.applies(x)  # float64: nn.LSTM
    ref_out, ref = run()
    stack.float()
    x.data, weights = x.data.float(), weights.float()
    for h, c in state:
        h.data, c.data = h.data.float(), c.data.float()
    assert cpu_lstm.applies(x)
    out, got = run()
    torch.testing.assert_close(out.double(), ref_out, atol=1e-5, rtol=1e-5)
    for a, b in zip(got, ref):
        torch.testing.assert_close(a.double(), b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("layers", [[5], [6, 5]])
def test_bidirectional_encoder_matches_nn_lstm_in_outputs_and_gradients(layers):
    torch.manual_seed(1)
    enc = BidirectionalLSTM(7, layers)
    x = torch.randn(3, 11, 7, requires_grad=True)
    params = [p for p in enc.parameters() if p.requires_grad]
    assert cpu_lstm.applies(x)
    out = enc(x)
    got = _grads((out * torch.linspace(-1, 1, out.shape[-1])).sum(), [x] + params)
    with torch.no_grad():  # nn.LSTM's forward, then its gradients through a copy run with autograd
        ref_out = enc(x)
    torch.testing.assert_close(out.detach(), ref_out, atol=1e-6, rtol=1e-5)
    ref_enc = BidirectionalLSTM(7, layers).double()
    ref_enc.load_state_dict(enc.state_dict())
    xd = x.detach().double().requires_grad_(True)
    ref_params = [p for p in ref_enc.parameters() if p.requires_grad]
    ref_out = ref_enc(xd)
    ref = _grads((ref_out * torch.linspace(-1, 1, out.shape[-1], dtype=torch.double)).sum(), [xd] + ref_params)
    for a, b in zip(got, ref):
        torch.testing.assert_close(a.double(), b, atol=1e-5, rtol=1e-4)


def test_a_second_backward_through_the_same_pass_is_refused():
    stack = LSTMStack(3, [4])
    x = torch.randn(2, 5, 3)
    out, _ = stack(x, stack.zero_state(2, x))
    loss = out.sum()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="one backward pass"):
        loss.backward()


def test_the_path_runs_in_fp32_training_only():
    x = torch.zeros(2, 3, 4)
    assert cpu_lstm.applies(x)
    with torch.no_grad():
        assert not cpu_lstm.applies(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not cpu_lstm.applies(x)


def test_a_hierarchical_model_step_gives_the_gradients_of_nn_lstm(monkeypatch):
    torch.manual_seed(2)
    hp = {"enc_rnn_size": [16], "dec_rnn_size": [12], "z_size": 8}
    model = build("hierdec-mel_16bar", hp)
    windows = torch.randint(0, 90, (2, model.seq_len))
    params = [p for p in model.parameters() if p.requires_grad]

    def grads() -> list[torch.Tensor]:
        torch.manual_seed(3)
        out = model(windows, beta=0.2, free_bits=0.0, sampling_probability=0.0)
        return _grads(out.loss, params)

    got = grads()
    monkeypatch.setattr(cpu_lstm, "applies", lambda x: False)
    ref = grads()
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
