"""The Ray Serve application: a FastAPI ingress over one model per replica, with dynamic batching.

``build_app(args)`` is the application builder that ``raymvae serve``,
``serve run configs/serve/default.yaml`` and ``serve deploy`` use. Each
replica loads the model once; concurrent requests meet in one ``@serve.batch``
queue (each request's encoding and decoding run in the same batch) and the
model runs in a worker thread, so the event loop keeps parsing requests
while a batch computes.
"""

import asyncio
import gc
import logging
import mimetypes
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from ray import serve
from ray.serve import Application

from raymvae import storage
from raymvae.export import has_export
from raymvae.generate.constraints import apply_actor
from raymvae.errors import UserError
from raymvae.generate.plan import check_transfer, interpolate, looped, prior_z, similar_z
from raymvae.model import grid
from raymvae.model.seeded import window_ids
from raymvae.serve.schemas import (AttributeRequest, DecodeRequest, Encoded, EncodeRequest, GridRequest,
                                   InterpolateRequest, Performance, PerformanceRequest, SampleRequest, Sequences,
                                   SimilarRequest, TransferRequest)
from raymvae.serve.service import BadRequest, Job, ModelService, Result
from raymvae.serve.settings import ServeSettings

log = logging.getLogger(__name__)
WEB = (Path(__file__).parent / "web").resolve()  # the page's files, shipped in the package

api = FastAPI(title="raymvae", description="MusicVAE over HTTP: sample, encode, decode, interpolate and edit "
              "symbolic music. MIDI travels as base64 strings; every result comes back as base64 MIDI plus its "
              "NoteSequence as JSON.")


class BodyLimit:
    """ASGI middleware: bodies over ``app.state.max_body_bytes`` get a 413 before any parsing."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = getattr(scope["app"].state, "max_body_bytes", ServeSettings.model_fields["max_body_bytes"].default)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await self._reject(scope, receive, send, limit)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            size += len(message.get("body", b""))
            if size > limit:
                return await self._reject(scope, receive, send, limit)
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    @staticmethod
    async def _reject(scope, receive, send, limit: int) -> None:
        await JSONResponse({"detail": f"request body larger than this server's max_body_bytes ({limit})"},
                           status_code=413)(scope, receive, send)


api.add_middleware(BodyLimit)


@api.exception_handler(RequestValidationError)
async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    """422 listing what is wrong where, without echoing inputs (they may be megabytes, or NaN)."""
    return JSONResponse({"detail": [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                                    for e in exc.errors()]}, status_code=422)


@api.exception_handler(BadRequest)
async def _bad_request(_: Request, exc: BadRequest) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)


def _seed(seed: int | None) -> int:
    return secrets.randbelow(2**31) if seed is None else seed


@serve.deployment(name="MusicVAE")
@serve.ingress(api)
class MusicVAEServer:
    """One replica: the model, loaded once, behind the HTTP routes below."""

    def __init__(self, settings: dict[str, Any]):
        s = ServeSettings(**settings)
        torch.set_num_threads(max(1, int(s.num_cpus)))
        self.service = ModelService(s, "cuda" if s.num_gpus > 0 and torch.cuda.is_available() else "cpu")
        api.state.max_body_bytes = s.max_body_bytes
        self._batch.set_max_batch_size(s.max_batch_size)
        self._batch.set_batch_wait_timeout_s(s.batch_wait_timeout_s)
        self.counts = {"batches": 0, "requests": 0, "largest_batch": 0}
        self._free: asyncio.Event | None = None
        model = self.service.model
        controls = np.zeros((1, model.seq_len, model.control_depth), np.float32) if model.control_depth else None
        warm = self.service.run([Job(z=np.zeros((1, model.z_size), np.float32), controls=controls)])[0]
        self.service.render(warm.windows, warm.z)  # lazy imports and first-call set-up happen here, not in a request
        log.info("serving %s (step %s) on %s", s.model, self.service.export.get("step"), self.service.device)

    async def _run(self, job: Job) -> Result:
        """Queue ``job`` once the model is free, so that requests waiting meanwhile fill the next batch.

        Serve 2.60 forms a batch as soon as one is due and only then waits for
        ``max_concurrent_batches``; without this gate, requests arriving during
        a batch each became a batch of their own (measured: 1.5 requests per
        batch at 16 clients).
        """
        if self._free is None:  # made here, in the replica's event loop
            self._free = asyncio.Event()
            self._free.set()
        self.service.check_job(job)
        await self._free.wait()
        return await self._batch(job)

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.002)
    async def _batch(self, jobs: list[Job]) -> list[Result]:
        self.counts["batches"] += 1
        self.counts["requests"] += len(jobs)
        self.counts["largest_batch"] = max(self.counts["largest_batch"], len(jobs))
        self._free.clear()
        try:
            return await asyncio.to_thread(self.service.run, jobs)
        finally:
            if self.counts["batches"] == 1:
                self._settle_gc()
            self._free.set()

    @staticmethod
    def _settle_gc() -> None:
        """Move everything alive after the first batch (model, Serve's and FastAPI's lazily built state) out
        of the cyclic collector's reach. Measured at 16 clients: full collections scanned ~150k objects for
        up to 65 ms every few seconds (p99 spikes); after this, ~5k objects in ~1.5 ms."""
        gc.collect()
        gc.freeze()

    async def _sequences(self, result: Result, temperature: float, seed: int, ts: np.ndarray | None = None,
                         fmt: str = "midi") -> dict:
        """The answer of a route that returns sequences (rendered off the event loop: WAV takes FluidSynth time)."""
        results = await asyncio.to_thread(self.service.render, result.windows, result.z, ts, fmt)
        return {"seed": seed, "temperature": temperature, "results": results}

    @api.get("/", include_in_schema=False)
    async def page(self) -> HTMLResponse:
        """The web page: interpolate, sample, edit and grid with piano rolls, playback and downloads."""
        return HTMLResponse((WEB / "index.html").read_text("utf-8"))

    @api.get("/web/{name:path}", include_in_schema=False)
    async def web_file(self, name: str) -> FileResponse:
        """The page's own files (scripts, styles, example MIDI), shipped in the package."""
        path = (WEB / name).resolve()
        if not path.is_relative_to(WEB) or not path.is_file():
            raise BadRequest(f"no such file: web/{name}", status=404)
        return FileResponse(path, media_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream")

    @api.get("/healthz")
    async def healthz(self) -> dict[str, str]:
        """Liveness: the replica is up and its model is loaded."""
        return {"status": "ok"}

    @api.get("/model")
    async def model(self) -> dict[str, Any]:
        """Config name, sizes, training step, attributes, this server's limits, its batch counts and the
        objects moved out of the garbage collector's reach after the first batch."""
        return {**self.service.info(), "served": {**self.counts, "gc_frozen": gc.get_freeze_count()}}

    def _common(self, req) -> tuple[float, int, np.ndarray | None]:
        """(temperature, seed, chord controls) of a request that decodes, each checked (422s), and its format."""
        self.service.check_format(req.format)
        chords = self.service.chord_controls(req.chords, req.chords_per_bar, req.key)
        return self.service.check_temperature(req.temperature), _seed(req.seed), chords

    @api.post("/sample", response_model=Sequences)
    async def sample(self, req: SampleRequest) -> dict:
        """n samples from the prior; with a seed, the same files as `generate sample --seed`."""
        self.service.check_count(req.n)
        temperature, seed, chords = self._common(req)
        z = prior_z(self.service.model.z_size, seed, range(req.n))
        result = await self._run(Job(z=z, temperature=temperature, seed=seed, chords=chords))
        return await self._sequences(result, temperature, seed, fmt=req.format)

    @api.post("/interpolate", response_model=Sequences)
    async def interpolate(self, req: InterpolateRequest) -> dict:
        """steps sequences from MIDI a to MIDI b (means of their windows), endpoints included."""
        self.service.check_steps(req.steps, req.method)
        temperature, seed, chords = self._common(req)
        wa, _ = self.service.midi_window(req.a, req.window, "a")
        wb, _ = self.service.midi_window(req.b, req.window, "b")
        positions: np.ndarray | None = None

        def latent(mu: np.ndarray) -> np.ndarray:
            nonlocal positions
            positions, z = interpolate(mu[0], mu[1], req.steps, req.method)
            return z

        result = await self._run(Job(np.concatenate([wa, wb]), latent, temperature=temperature, seed=seed,
                                     chords=chords))
        return await self._sequences(result, temperature, seed, positions, req.format)

    @api.post("/encode", response_model=Encoded)
    async def encode(self, req: EncodeRequest) -> dict:
        """The latent mean and standard deviation of one window of a MIDI file."""
        window, count = self.service.midi_window(req.midi, req.window, "midi")
        result = await self._run(Job(window, decode=False))
        return {"z": result.mu[0].tolist(), "sigma": result.sigma[0].tolist(), "window": req.window,
                "num_windows": count}

    @api.post("/decode", response_model=Sequences)
    async def decode(self, req: DecodeRequest) -> dict:
        """Sequences from latent vectors (one, or a list)."""
        z = self.service.z_rows(req.z)
        temperature, seed, chords = self._common(req)
        result = await self._run(Job(z=z, temperature=temperature, seed=seed, chords=chords))
        return await self._sequences(result, temperature, seed, fmt=req.format)

    @api.post("/similar", response_model=Sequences)
    async def similar(self, req: SimilarRequest) -> dict:
        """n variations of one window of a MIDI file (magenta-js's similar(), by slerp): z ``similarity`` of the
        way from a prior draw to the input's mean; with a seed, the same files as `generate similar --seed`."""
        self.service.check_count(req.n)
        temperature, seed, chords = self._common(req)
        window, _ = self.service.midi_window(req.midi, req.window, "midi")

        def latent(mu: np.ndarray) -> np.ndarray:
            return similar_z(mu[0], req.similarity, seed, range(req.n))

        result = await self._run(Job(window, latent, temperature=temperature, seed=seed, chords=chords))
        return await self._sequences(result, temperature, seed, np.full(req.n, req.similarity), req.format)

    @api.post("/grid", response_model=Sequences)
    async def grid(self, req: GridRequest) -> dict:
        """A steps x steps bilinear grid over 4 corner files (magenta-js style), row by row; with a seed, the
        same files as `generate interpolate --grid --seed`."""
        self.service.check_steps(req.steps, "linear")
        self.service.check_count(req.steps * req.steps, "steps x steps")
        temperature, seed, chords = self._common(req)
        windows = np.concatenate([self.service.midi_window(c, req.window, f"corners[{k}]")[0]
                                  for k, c in enumerate(req.corners)])

        def latent(mu: np.ndarray) -> np.ndarray:
            return grid(torch.from_numpy(mu), req.steps).reshape(req.steps * req.steps, -1).numpy()

        result = await self._run(Job(windows, latent, temperature=temperature, seed=seed, chords=chords))
        return await self._sequences(result, temperature, seed, fmt=req.format)

    @api.post("/attribute", response_model=Sequences)
    async def attribute(self, req: AttributeRequest) -> dict:
        """A MIDI file moved along an attribute: decode(mu + amount * vector), or decode(actor(mu, target))."""
        if req.method == "actor":
            actor = self.service.actor(req.attribute)

            def edit(mu: np.ndarray) -> np.ndarray:
                return apply_actor(actor, mu, req.target)
        else:
            vector = self.service.vector(req.attribute)

            def edit(mu: np.ndarray) -> np.ndarray:
                return mu + req.amount * vector
        temperature, seed, chords = self._common(req)
        window, _ = self.service.midi_window(req.midi, req.window, "midi")
        result = await self._run(Job(window, edit, temperature=temperature, seed=seed, chords=chords))
        return await self._sequences(result, temperature, seed, fmt=req.format)


    async def _performance(self, windows: np.ndarray, qpm: float, temperature: float, seed: int | None,
                           latent=None, pattern: np.ndarray | None = None, fmt: str = "midi") -> dict:
        """Decode a file of several windows (window j samples with (seed, 0, j), as `generate` does)."""
        self.service.check_format(fmt)
        temperature, seed = self.service.check_temperature(temperature), _seed(seed)
        pattern = windows if pattern is None else pattern
        job = Job(windows, latent or (lambda mu: mu), temperature=temperature, seed=seed,
                  controls=self.service.controls(pattern), ids=window_ids([0], len(pattern)))
        result = await self._run(job)
        rendered = await asyncio.to_thread(self.service.render_performance, result.windows, result.z, qpm, fmt)
        return {"seed": seed, "temperature": temperature, **rendered}

    @api.post("/humanize", response_model=Performance)
    async def humanize(self, req: PerformanceRequest) -> dict:
        """GrooVAE: a quantized drum beat played with velocities and micro-timing, at its tempo; with a seed,
        the file of `generate humanize --seed`."""
        windows, qpm = self.service.performance(req.midi, "midi")
        return await self._performance(windows, qpm, req.temperature, req.seed, fmt=req.format)

    @api.post("/tap2drum", response_model=Performance)
    async def tap2drum(self, req: PerformanceRequest) -> dict:
        """GrooVAE: any rhythm (every note of any instrument is a tap) made a full drum pattern, at its tempo."""
        windows, qpm = self.service.performance(req.midi, "midi", taps=True)
        return await self._performance(windows, qpm, req.temperature, req.seed, fmt=req.format)

    @api.post("/groove-transfer", response_model=Performance)
    async def groove_transfer(self, req: TransferRequest) -> dict:
        """GrooVAE with hits as controls: the pattern's hits played with the groove's feel (its z, looped
        over the pattern's windows), at the pattern's tempo."""
        try:
            check_transfer(self.service.model)
        except UserError as exc:
            raise BadRequest(str(exc)) from exc
        groove, _ = self.service.performance(req.groove, "groove")
        pattern, qpm = self.service.performance(req.pattern, "pattern")
        return await self._performance(groove, qpm, req.temperature, req.seed,
                                       lambda mu: looped(mu, len(pattern)), pattern, req.format)


def build_app(args: dict[str, Any]) -> Application:
    """The Serve application of ``args`` (ServeSettings fields): the builder for `serve run` and the CLI."""
    settings = ServeSettings(**args)
    run_dir = storage.normalize(settings.model)  # a URI every replica can read, whatever node it is on
    if not has_export(run_dir):
        raise FileNotFoundError(f"{settings.model} has no model export (export/config.json); train a model "
                                f"or run `raymvae import-magenta` first")
    settings = settings.model_copy(update={"model": run_dir})
    return MusicVAEServer.options(
        num_replicas=settings.replicas, max_ongoing_requests=settings.max_ongoing_requests,
        ray_actor_options={"num_cpus": settings.num_cpus, "num_gpus": settings.num_gpus},
    ).bind(settings.model_dump())
