"""fp32 CPU training path for one teacher-forced LSTM direction, with a hand-written backward.

On CPU, ``nn.LSTM`` runs oneDNN's reference RNN kernel in fp32. Its backward
keeps a workspace several times the size of the gates and makes its own copies
of the layer's weights and weight gradients on every call. This path projects
the inputs of all steps as one GEMM, runs the recurrence as one in-place
``addmm`` and the gate arithmetic per step, and keeps only the activated gates,
the cell states and the outputs for the backward pass. The backward walks the
steps in reverse, overwrites each step's gates with their gradients, and then
forms the input gradient and both weight gradients as one GEMM each. Same
arithmetic as ``nn.LSTM``: outputs and gradients agree to float rounding.
It is faster and lighter than oneDNN's kernel at every shape the configs use
(``benchmarks/lstm_paths.py``). Tensors are time-major ([T, B, ...]).
"""
from __future__ import annotations

import torch
from torch import nn


def applies(x: torch.Tensor) -> bool:
    """Whether a teacher-forced LSTM pass over ``x`` takes this path: fp32 on CPU, gradients on, no autocast.

    Inference keeps ``nn.LSTM``, and so does bf16 autocast, whose oneDNN kernels use the CPU's bf16 units.
    """
    return (x.device.type == "cpu" and x.dtype == torch.float32 and torch.is_grad_enabled()
            and not torch.is_autocast_enabled("cpu"))


class _Direction(torch.autograd.Function):
    """One LSTM direction over time-major ``x`` [T, B, in]; returns (outputs [T, B, H], h_n, c_n)."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, bias, reverse: bool):
        steps, batch, _ = x.shape
        hidden = w_hh.shape[1]
        gates = torch.addmm(bias, x.reshape(steps * batch, -1), w_ih.t()).view(steps, batch, 4 * hidden)
        hs, cs = x.new_empty(steps, batch, hidden), x.new_empty(steps, batch, hidden)
        w = w_hh.t()
        h, c = h0, c0
        for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
            g = gates[t].addmm_(h, w)
            g[:, :2 * hidden].sigmoid_()
            g[:, 2 * hidden:3 * hidden].tanh_()
            g[:, 3 * hidden:].sigmoid_()
            i, f, cand, o = g.chunk(4, 1)
            c = torch.mul(f, c, out=cs[t]).addcmul_(i, cand)
            h = torch.tanh(c, out=hs[t]).mul_(o)
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, gates, hs, cs)
        ctx.reverse = reverse
        ctx.spent = False
        ctx.set_materialize_grads(False)
        return hs, h.clone(), c.clone()

    @staticmethod
    def backward(ctx, d_out, d_hn, d_cn):
        if ctx.spent:  # the gate buffer now holds gradients: a second backward would be wrong, not slow
            raise RuntimeError("the CPU LSTM path supports one backward pass per forward (no retain_graph)")
        ctx.spent = True
        x, h0, c0, w_ih, w_hh, gates, hs, cs = ctx.saved_tensors
        steps, batch, hidden = hs.shape
        dh = h0.new_zeros(batch, hidden) if d_hn is None else d_hn.clone()
        dc = c0.new_zeros(batch, hidden) if d_cn is None else d_cn.clone()
        order = range(steps) if ctx.reverse else range(steps - 1, -1, -1)
        for t in order:
            before = t + 1 if ctx.reverse else t - 1
            c_prev = c0 if before < 0 or before >= steps else cs[before]
            if d_out is not None:
                dh.add_(d_out[t])
            g = gates[t]
            i, f, cand, o = g.chunk(4, 1)
            tanh_c = torch.tanh(cs[t])
            dc.addcmul_(dh * o, 1 - tanh_c * tanh_c)
            d_o, d_i, d_cand, d_f = dh * tanh_c, dc * cand, dc * i, dc * c_prev
            dc = dc * f
            # the step's gates become the gradients of their pre-activations, in place
            o.mul_(1 - o).mul_(d_o)
            cand.mul_(cand).neg_().add_(1).mul_(d_cand)
            f.mul_(1 - f).mul_(d_f)
            i.mul_(1 - i).mul_(d_i)
            dh = torch.mm(g, w_hh)
        flat = gates.view(steps * batch, 4 * hidden)
        dx = torch.mm(flat, w_ih).view(steps, batch, -1) if ctx.needs_input_grad[0] else None
        dw_ih = torch.mm(flat.t(), x.reshape(steps * batch, -1))
        first, rest = (steps - 1, slice(None, -1)) if ctx.reverse else (0, slice(1, None))
        prev_h = hs[1:] if ctx.reverse else hs[:-1]
        dw_hh = torch.mm(gates[rest].reshape(-1, 4 * hidden).t(), prev_h.reshape(-1, hidden))
        dw_hh.addmm_(gates[first].t(), h0)
        return (dx, dh if ctx.needs_input_grad[1] else None, dc if ctx.needs_input_grad[2] else None,
                dw_ih, dw_hh, flat.sum(0), None)


def direction(lstm: nn.LSTM, x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, reverse: bool = False
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Layer 0 of ``lstm`` (its reverse direction with ``reverse``) over time-major ``x`` [T, B, in] from
    state (h0, c0) [B, H]; returns (outputs [T, B, H], h_n, c_n)."""
    sfx = "_reverse" if reverse else ""
    bias = getattr(lstm, f"bias_ih_l0{sfx}") + getattr(lstm, f"bias_hh_l0{sfx}")
    return _Direction.apply(x, h0, c0, getattr(lstm, f"weight_ih_l0{sfx}"), getattr(lstm, f"weight_hh_l0{sfx}"),
                            bias, reverse)
