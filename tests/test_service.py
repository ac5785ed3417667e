"""The serving logic without HTTP or Ray: request checks and batched model work of ModelService."""
from __future__ import annotations

import base64

import numpy as np
import pytest
import torch

from midi_fixtures import midi_bytes
from raymvae.export import save_export
from raymvae.model import build
from raymvae.model.seeded import decode_seeded
from raymvae.serve.service import BadRequest, Job, ModelService
from raymvae.serve.settings import ServeSettings

MELODY = [(60 + (i % 5), 2 * i, 2 * i + 2) for i in range(16)]  # 2 bars of eighth notes


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("service_run")
    save_export(out, build("cat-mel_2bar_small", dict(enc_rnn_size=[16], dec_rnn_size=[16, 16], z_size=4)).eval(), 5)
    return ModelService(ServeSettings(model=str(out), max_n=8, max_steps=6, max_temperature=2.0))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("call, message", [
    (lambda s: s.check_temperature(2.5), "temperature must be between 0 (argmax) and 2.0"),
    (lambda s: s.check_temperature(-0.1), "temperature must be between 0"),
    (lambda s: s.check_count(9), "n must be between 1 and 8 (this server's max_n), got 9"),
    (lambda s: s.check_count(0), "n must be between 1 and 8"),
    (lambda s: s.check_steps(7, "slerp"), "steps must be between 2 and 6 (this server's max_steps), got 7"),
    (lambda s: s.check_steps(3, "cubic"), "cubic"),
    (lambda s: s.z_rows([[0.0] * 3]), "z must have 4 values per vector; vector 0 has 3"),
    (lambda s: s.z_rows([float("nan")] * 4), "z must be finite numbers"),
    (lambda s: s.z_rows([]), "the number of z vectors must be between 1 and 8"),
    (lambda s: s.midi_window("not base64!", 0, "a"), "a: not base64"),
    (lambda s: s.midi_window("", 0, "a"), "a: empty"),
    (lambda s: s.midi_window(b64(b"MThd but not really"), 0, "b"), "b:"),
    (lambda s: s.midi_window(b64(midi_bytes([(0, False, MELODY)])), 5, "a"), "a:"),
    (lambda s: s.vector("loudness"), "unknown attribute 'loudness'"),
    (lambda s: s.vector("pitch_range"), "no vector for 'pitch_range' in .*raymvae generate attribute"),
])
def test_bad_requests_are_refused_with_a_message(service, call, message):
    with pytest.raises(BadRequest, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        call(service)
    assert 400 <= err.value.status < 500


def test_a_batch_of_jobs_gives_what_each_job_alone_gives(service):
    window, count = service.midi_window(b64(midi_bytes([(0, False, MELODY)])), 0, "a")
    assert count == 1 and window.shape == (1, 32)
    z = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    jobs = [Job(z=z, temperature=0.5, seed=7), Job(windows=window, latent=lambda mu: mu * 2, temperature=0.0),
            Job(z=z[:1], temperature=0.5, seed=8)]
    together = service.run(jobs)
    alone = [service.run([job])[0] for job in jobs]
    for a, b in zip(together, alone):
        assert np.array_equal(a.windows, b.windows)
    assert np.array_equal(together[0].windows, decode_seeded(service.model, z, 0.5, [(7, range(3))]))
    assert np.allclose(together[1].z, together[1].mu * 2)
