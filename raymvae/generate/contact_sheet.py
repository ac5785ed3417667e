"""Contact sheets: a PNG of piano rolls of generated MIDI files, so a run's output can be judged at a glance."""
from __future__ import annotations

import io
import math

from raymvae import storage


def write_contact_sheet(output: str, paths: list[str]) -> str:
    """``OUTPUT/contact_sheet.png``: piano rolls (pitch x 16th-note steps) of up to 16 of its MIDI files
    (paths relative to ``output``), 4 per row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from raymvae.music import midi_to_note_sequence

    cols = 4
    rows = max(1, math.ceil(len(paths) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, rel in zip(axes.ravel(), paths):
        ns = midi_to_note_sequence(storage.read_bytes(storage.join(output, rel)))
        if not ns.notes:  # an empty sample is easy to miss as a blank panel: say so
            ax.text(0.5, 0.5, "empty", transform=ax.transAxes, ha="center", va="center", color="tab:red",
                    fontsize=14)
            for spine in ax.spines.values():
                spine.set_color("tab:red")
        for n in ns.notes:
            s, e = n.start_time * 8, max(n.end_time * 8, n.start_time * 8 + 0.8)
            ax.add_patch(plt.Rectangle((s, n.pitch - 0.4), e - s, 0.8,
                                       color="tab:red" if n.is_drum else "tab:blue"))
        ax.set_xlim(0, max(8.0, ns.total_time * 8))
        ax.set_ylim(20, 109)
        ax.set_title(storage.name_of(rel) + ("" if ns.notes else " (empty)"), fontsize=7,
                     color="black" if ns.notes else "tab:red")
        ax.axis("on")
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=80)
    plt.close(fig)
    target = storage.join(output, "contact_sheet.png")
    storage.write_bytes(target, png.getvalue())
    return target
