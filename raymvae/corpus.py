"""The embedded default corpus: real melodies from the music21 corpus, as MIDI.

music21 ships Bach chorales and folk/fiddle collections (Essen, O'Neill's
1850, Ryan's Mammoth Collection). ``export_pieces`` writes them as MIDI files
(to a local folder or object storage); pieces music21 cannot parse or render
are skipped and counted.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from raymvae import storage

log = logging.getLogger(__name__)

# Cheapest first: small single-piece files before the big multi-tune ABC opera.
COLLECTIONS = {
    "folk": [("bach", "bwv*.mxl"), ("ryansMammoth", "*.abc"), ("oneills1850", "*.abc"),
             ("essenFolksong", "*.abc")],
    "chorales": [("bach", "bwv*.mxl")],
}


@dataclass
class ExportReport:
    """What an export wrote and what it skipped (with reasons)."""

    written: list[str] = field(default_factory=list)  # paths or URIs of the MIDI files
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def corpus_root() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


def list_sources(name: str) -> list[Path]:
    """Corpus files of a named collection, in a fixed order."""
    if name not in COLLECTIONS:
        raise ValueError(f"unknown corpus {name!r}; choose from {', '.join(COLLECTIONS)}")
    root = corpus_root()
    return [p for folder, pattern in COLLECTIONS[name] for p in sorted((root / folder).glob(pattern))]


def export_source(source: Path, out_dir: str, report: ExportReport, limit: int | None = None) -> None:
    """Export every piece of one corpus file to ``out_dir/<folder>/<stem>[_k].mid``."""
    import music21

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = music21.converter.parse(source)
        except Exception as exc:  # noqa: BLE001 - music21 raises many types
            report.skip(f"music21 parse: {type(exc).__name__}")
            return
        scores = list(parsed.scores) if hasattr(parsed, "scores") else [parsed]
        for k, score in enumerate(scores):
            if limit is not None and len(report.written) >= limit:
                return
            target = storage.join(out_dir, source.parent.name, f"{source.stem}_{k}.mid" if len(scores) > 1 else
                                  f"{source.stem}.mid")
            if storage.is_file(target):
                report.written.append(target)
                continue
            try:
                data = music21.midi.translate.streamToMidiFile(score).writestr()
            except Exception as exc:  # noqa: BLE001
                report.skip(f"music21 midi: {type(exc).__name__}")
                continue
            storage.write_bytes(target, data)
            report.written.append(target)


def _export_batch(batch: dict, out_dir: str, limit: int | None) -> dict:
    """Ray Data task: export a batch of corpus files; one row per written piece or skip reason."""
    rows: dict[str, list] = {"order": [], "path": [], "skipped": [], "count": []}
    for order, source in zip(batch["order"], batch["source"]):
        report = ExportReport()
        export_source(Path(source), out_dir, report, limit)
        for path in report.written:
            rows["order"].append(int(order)); rows["path"].append(str(path))
            rows["skipped"].append(""); rows["count"].append(1)
        for reason, n in report.skipped.items():
            rows["order"].append(int(order)); rows["path"].append("")
            rows["skipped"].append(reason); rows["count"].append(n)
    return {k: np.asarray(v, dtype=object if k in ("path", "skipped") else np.int64) for k, v in rows.items()}


def export_pieces(name: str, out_dir: str | Path, limit: int | None = None) -> ExportReport:
    """Export up to ``limit`` pieces (default all) of a collection to MIDI, in parallel Ray tasks.

    Corpus files are spread over Ray Data tasks; with a limit they go in
    waves, in corpus order, until enough pieces are written. Pieces music21
    cannot parse or render are skipped and counted by reason. A finished
    export is recorded in the folder, so running it again returns at once.
    """
    out_dir = storage.normalize(out_dir)
    done = storage.join(out_dir, f".export-{name}-{limit if limit is not None else 'all'}.json")
    if storage.is_file(done):
        cached = storage.read_json(done)
        report = ExportReport([storage.join(out_dir, p) for p in cached["written"]], cached["skipped"])
        present = {storage.join(out_dir, p) for p in storage.list_files(out_dir)}
        if all(p in present for p in report.written):
            log.info("corpus %s already exported to %s (%d pieces)", name, out_dir, len(report.written))
            return report
    import ray.data

    from raymvae.runtime import init_ray

    init_ray()
    sources = list_sources(name)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    wave = len(sources) if limit is None else max(8, 4 * cpus)
    report = ExportReport()
    for start in range(0, len(sources), wave):
        if limit is not None and len(report.written) >= limit:
            break
        chunk = sources[start:start + wave]
        remaining = None if limit is None else limit - len(report.written)
        items = [{"order": start + j, "source": str(s)} for j, s in enumerate(chunk)]
        ds = ray.data.from_items(items, override_num_blocks=min(len(items), 256))
        rows = ds.map_batches(_export_batch, batch_size=1, batch_format="numpy",
                              fn_kwargs=dict(out_dir=out_dir, limit=remaining)).take_all()
        for row in sorted(rows, key=lambda r: (r["order"], r["path"])):
            if row["skipped"]:
                report.skipped[row["skipped"]] = report.skipped.get(row["skipped"], 0) + int(row["count"])
            elif limit is None or len(report.written) < limit:
                report.written.append(row["path"])
            else:
                storage.delete(row["path"])
    log.info("exported %d pieces to %s (skipped: %s)", len(report.written), out_dir, report.skipped or "none")
    storage.write_json(done, {"written": [p[len(out_dir) + 1:] for p in report.written], "skipped": report.skipped})
    return report
