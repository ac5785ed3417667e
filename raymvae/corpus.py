"""The embedded default corpus: real melodies from the music21 corpus, as MIDI.

music21 ships Bach chorales and folk/fiddle collections (Essen, O'Neill's
1850, Ryan's Mammoth Collection). ``export_pieces`` writes them as MIDI files;
pieces music21 cannot parse or render are skipped and counted.
"""
from __future__ import annotations

import logging
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

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

    written: list[Path] = field(default_factory=list)
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


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def export_source(source: Path, out_dir: Path, report: ExportReport, limit: int | None = None) -> None:
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
            target = out_dir / source.parent.name / (f"{source.stem}_{k}.mid" if len(scores) > 1 else
                                                      f"{source.stem}.mid")
            if target.exists():
                report.written.append(target)
                continue
            try:
                data = music21.midi.translate.streamToMidiFile(score).writestr()
            except Exception as exc:  # noqa: BLE001
                report.skip(f"music21 midi: {type(exc).__name__}")
                continue
            write_atomic(target, data)
            report.written.append(target)


def export_pieces(name: str, out_dir: str | Path, limit: int | None = None) -> ExportReport:
    """Export up to ``limit`` pieces of a collection to MIDI files (single process)."""
    out_dir = Path(out_dir)
    report = ExportReport()
    for source in list_sources(name):
        if limit is not None and len(report.written) >= limit:
            break
        export_source(source, out_dir, report, limit)
    log.info("exported %d pieces to %s (skipped: %s)", len(report.written), out_dir, report.skipped or "none")
    return report
