"""Requests/s and p50/p99 latency of POST /interpolate on Ray Serve: batched vs --max-batch-size 1, same run.

    python benchmarks/serve.py [--model RUN_DIR] [--clients 1 8 16 32] [--seconds 10] [--steps 8]

Without --model, a cat-mel_2bar_small model (full size, untrained weights:
serving cost does not depend on training) is exported to a temporary run
dir. Each client is an asyncio task sending one request after another over
HTTP to 127.0.0.1 (the client, Serve's proxy and the replica share this
machine). Each request carries two 2-bar melodies as base64 MIDI and gets
``steps`` sequences back. Targets on 2 cores: p99 < 250 ms at 16 clients,
and batching >= 3x the throughput of batch 1.

Two ceilings are measured in the same run, to show what bounds the ratio:
the model alone in this process (one request's work at batch 1 against a
batch of --batch-size requests, on --num-cpus threads), which is the most
batching can gain, and GET /healthz requests/s, which is Serve's own cost
per request before any model work.

It starts its own 2-CPU Ray, or joins the cluster RAY_ADDRESS names; either
way it shuts Serve down when it ends, so run it where no other Serve
application runs.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from raymvae.settings import PRECISIONS


def melody_b64(conv, seed: int) -> str:
    """A 2-bar melody (notes and rests drawn from ``seed``) as base64 MIDI."""
    rng = np.random.default_rng(seed)
    w = np.where(rng.random(32) < 0.4, rng.integers(40, 70, 32), np.where(rng.random(32) < 0.5, 0, 1))
    w[0] = 50
    return base64.b64encode(conv.to_midi_bytes(conv.decode(w[None])[0])).decode()


async def load(url: str, bodies: list[bytes] | None, clients: int, seconds: float) -> tuple[list[float], int]:
    """``clients`` loops of POSTs (GETs when ``bodies`` is None) for ``seconds``; latencies (s) of the 200s
    and the count of other statuses."""
    import aiohttp

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client(session: aiohttp.ClientSession, k: int) -> None:
        nonlocal errors
        i = k
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            request = session.get(url) if bodies is None else session.post(
                url, data=bodies[i % len(bodies)], headers={"content-type": "application/json"})
            async with request as r:
                await r.read()
                if r.status == 200:
                    latencies.append(time.perf_counter() - t)
                else:
                    errors += 1
            i += clients

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:
        await asyncio.gather(*(client(session, k) for k in range(clients)))
    return latencies, errors


def model_ceiling(run_dir: str, bodies: list[bytes], batch: int, num_cpus: float, precision: str,
                  num_gpus: float = 0.0) -> tuple[float, float, str]:
    """ms of model work per request at batch 1 and in a batch of ``batch`` requests (best of 3), in this process,
    and the precision that ran."""
    import torch

    from raymvae.generate.plan import interpolate
    from raymvae.serve.service import Job, ModelService
    from raymvae.serve.settings import ServeSettings

    torch.set_num_threads(max(1, int(num_cpus)))
    device = "cuda" if num_gpus > 0 and torch.cuda.is_available() else "cpu"
    service = ModelService(ServeSettings(model=run_dir, precision=precision, num_gpus=num_gpus), device)
    jobs = []
    for i in range(batch):
        req = json.loads(bodies[i % len(bodies)])
        windows = np.concatenate([service.midi_window(req[k], 0, k)[0] for k in ("a", "b")])
        jobs.append(Job(windows, lambda mu, steps=req["steps"]: interpolate(mu[0], mu[1], steps)[1], seed=i))

    def per_request(groups: list[list]) -> float:
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            for group in groups:
                service.run(group)
            best = min(best, time.perf_counter() - t)
        return best / len(jobs) * 1e3

    service.run(jobs[:1])
    return per_request([[j] for j in jobs]), per_request([jobs]), service.precision


def run_case(run_dir: str, base: str, batch: int, bodies: list[bytes], clients: list[int], seconds: float,
             num_cpus: float, num_gpus: float, precision: str, replicas: int,
             healthz: bool = False) -> tuple[list[dict], float | None]:
    """One application's points; with ``healthz`` also GET /healthz requests/s at the most clients."""
    from ray import serve

    from raymvae.serve.app import build_app

    app = build_app({"model": run_dir, "max_batch_size": batch, "num_cpus": num_cpus, "num_gpus": num_gpus,
                     "precision": precision, "replicas": replicas})
    serve.run(app, name="bench", route_prefix="/", blocking=False)
    url = f"{base}/interpolate"
    asyncio.run(load(url, bodies, 4, 2.0))
    rows = []
    for c in clients:
        lat, errors = asyncio.run(load(url, bodies, c, seconds))
        lat = np.array(lat)
        rows.append({"batch": batch, "clients": c, "rps": len(lat) / seconds, "p50": np.percentile(lat, 50) * 1e3,
                     "p99": np.percentile(lat, 99) * 1e3, "errors": errors})
        r = rows[-1]
        print(f"max_batch_size {batch:3d}  {c:3d} clients  {r['rps']:7.1f} req/s  p50 {r['p50']:6.1f} ms  "
              f"p99 {r['p99']:6.1f} ms  non-200: {errors}", flush=True)
    health = None
    if healthz:
        ok, _ = asyncio.run(load(f"{base}/healthz", None, max(clients), seconds))
        health = len(ok) / seconds
    serve.delete("bench")
    return rows, health


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="run dir (default: a fresh cat-mel_2bar_small)")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8, 16, 32])
    ap.add_argument("--seconds", type=float, default=10.0, help="per measurement (default 10)")
    ap.add_argument("--steps", type=int, default=8, help="sequences per interpolation (default 8)")
    ap.add_argument("--batch-size", type=int, default=16, help="max_batch_size of the batched case (default 16)")
    ap.add_argument("--precision", choices=PRECISIONS, default="auto",
                    help="the model's precision, as `raymvae serve --precision` (default auto)")
    ap.add_argument("--bf16", dest="precision", action="store_const", const="bf16", help="the same as --precision bf16")
    ap.add_argument("--num-gpus", type=float, default=0.0, help="GPUs of the replica (default 0: CPU)")
    ap.add_argument("--replicas", type=int, default=1, help="model replicas (default 1)")
    ap.add_argument("--num-cpus", type=float, default=1.0, help="CPUs (torch threads) of the replica (default 1)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import ray
    from ray import serve

    from raymvae.export import save_export
    from raymvae.model import build
    from raymvae.music import converter_for
    from raymvae.serve.launch import start_http

    work = Path(tempfile.mkdtemp(prefix="raymvae-servebench-"))
    try:
        run_dir = args.model
        if run_dir is None:
            run_dir = str(work / "run")
            save_export(run_dir, build("cat-mel_2bar_small").eval(), 0)
        conv = converter_for("cat-mel_2bar_small")
        melodies = [melody_b64(conv, s) for s in range(16)]
        bodies = [json.dumps({"a": melodies[i], "b": melodies[(i + 1) % 16], "steps": args.steps,
                              "seed": i}).encode() for i in range(16)]
        solo, batched_ms, ran = model_ceiling(run_dir, bodies, args.batch_size, args.num_cpus, args.precision,
                                         args.num_gpus)
        if os.environ.get("RAY_ADDRESS"):
            ray.init(logging_level=logging.WARNING, log_to_driver=False)
        else:
            ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
        base = start_http()
        case = dict(bodies=bodies, clients=args.clients, seconds=args.seconds, num_cpus=args.num_cpus,
                    num_gpus=args.num_gpus, precision=args.precision, replicas=args.replicas)
        batched, health = run_case(run_dir, base, args.batch_size, **case, healthz=True)
        single, _ = run_case(run_dir, base, 1, **case)
        print(f"\n/interpolate, {args.steps} steps per request, {args.replicas} replica(s) ({args.num_cpus:g} CPU, "
              f"{args.num_gpus:g} GPU, {ran}), {args.seconds:.0f} s per point")
        print("clients  batched req/s  p50 ms  p99 ms | batch-1 req/s  p50 ms  p99 ms | throughput ratio")
        for b, s in zip(batched, single):
            print(f"{b['clients']:7d}  {b['rps']:13.1f}  {b['p50']:6.1f}  {b['p99']:6.1f} | {s['rps']:13.1f}  "
                  f"{s['p50']:6.1f}  {s['p99']:6.1f} | {b['rps'] / s['rps']:.2f}x")
        print(f"\nCeilings, same run: the model alone takes {solo:.1f} ms per request at batch 1 and {batched_ms:.1f} "
              f"ms in a batch of {args.batch_size} ({solo / batched_ms:.2f}x: the model's own gain from batching, "
              f"which costs outside the model only dilute); GET /healthz serves {health:.0f} req/s "
              f"at {max(args.clients)} clients (Serve's own cost per request, before any model work).")
        serve.shutdown()
        ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
