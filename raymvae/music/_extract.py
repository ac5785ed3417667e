"""Compiled ports of note-seq's melody and drum-track extraction loops.

``extract_melodies`` follows ``Melody.from_quantized_sequence`` +
``melody_pipelines.extract_melodies`` step for step (polyphony -> highest
pitch, later onsets cut earlier notes, gap rule, trailing NOTE_OFF removal,
bar padding that re-closes a sustained note, truncation). ``extract_drums``
follows ``DrumTrack.from_quantized_sequence`` + ``extract_drum_tracks``.
Events: NO_EVENT = -2, NOTE_OFF = -1, otherwise a MIDI pitch / drum bitmask.
"""
import numpy as np
from numba import njit

NO_EVENT = -2
NOTE_OFF = -1


@njit(cache=True)
def _flatten(chunks):
    """Concatenate event arrays; returns (flat events, offsets)."""
    offsets = np.zeros(len(chunks) + 1, np.int64)
    for i in range(len(chunks)):
        offsets[i + 1] = offsets[i] + chunks[i].shape[0]
    out = np.empty(offsets[-1], np.int64)
    for i in range(len(chunks)):
        out[offsets[i]:offsets[i + 1]] = chunks[i]
    return out, offsets


@njit(cache=True)
def _pad_melody(ev, length, new_length):
    """Melody.set_length to the right: pad with NO_EVENT, close a sustained note."""
    if new_length > length:
        for i in range(length, new_length):
            ev[i] = NO_EVENT
        for i in range(length - 1, -1, -1):
            if ev[i] == NOTE_OFF:
                break
            if ev[i] != NO_EVENT:
                ev[length] = NOTE_OFF
                break
    return new_length


@njit(cache=True)
def extract_melodies(starts, ends, pitches, velocities, is_drum, steps_per_bar,
                     gap_steps, max_steps, pad_to):
    """Melodies of one instrument, notes sorted by (start, -pitch).

    gap_steps < 0 disables the gap rule, max_steps < 0 disables truncation,
    pad_to > 0 left/right pads the (single) melody to that total length as
    ``pad_to_total_time`` does. Returns (flat events, offsets, start step of each melody).
    """
    n = starts.shape[0]
    cap = 16
    if n > 0:
        cap = max(int(ends.max()), pad_to, 16) + 2 * steps_per_bar
    ev = np.empty(cap, np.int64)
    chunks = []
    first_steps = []
    search = 0
    i0 = 0
    while True:
        while i0 < n and starts[i0] < search:
            i0 += 1
        if i0 >= n:
            break
        first = starts[i0]
        mstart = first - (first - search) % steps_per_bar
        length = 0
        last_on = 0
        for k in range(i0, n):
            if is_drum[k] or velocities[k] == 0:
                continue
            s = starts[k] - mstart
            e = ends[k] - mstart
            if length > 0:
                if s == last_on:
                    continue
                if gap_steps >= 0 and s - (length - 1) >= gap_steps:
                    break
            if e + 1 > length:
                _pad_melody(ev, length, e + 1)
            length = e + 1
            ev[s] = pitches[k]
            for i in range(s + 1, e):
                ev[i] = NO_EVENT
            ev[e] = NOTE_OFF
            last_on = s
        if length == 0:
            break
        if ev[length - 1] == NOTE_OFF:
            length -= 1
        padded = length + (-length) % steps_per_bar
        length = _pad_melody(ev, length, padded)
        end_step = mstart + length
        search = end_step + (0 - end_step) % steps_per_bar
        if length < steps_per_bar:
            continue
        if max_steps >= 0 and length > max_steps:
            length = max_steps - max_steps % steps_per_bar
        if pad_to > 0:
            full = np.empty(max(pad_to, mstart + length), np.int64)
            full[:mstart] = NO_EVENT
            full[mstart:mstart + length] = ev[:length]
            flen = _pad_melody(full, mstart + length, pad_to) if pad_to > mstart + length else pad_to
            chunks.append(full[:flen].copy())
            first_steps.append(0)
        else:
            chunks.append(ev[:length].copy())
            first_steps.append(mstart)
    flat, offsets = _flatten(chunks)
    return flat, offsets, np.array(first_steps, np.int64)


@njit(cache=True)
def extract_drums(steps, masks, steps_per_bar, gap_steps, max_steps, pad_to):
    """Drum tracks from hit groups (unique sorted steps, OR-ed class bitmasks).

    Returns (flat events as bitmasks, offsets). gap_steps < 0 disables the
    gap rule, max_steps < 0 truncation; pad_to > 0 pads to a total length.
    """
    n = steps.shape[0]
    chunks = []
    search = 0
    i0 = 0
    while True:
        while i0 < n and steps[i0] < search:
            i0 += 1
        if i0 >= n:
            break
        tstart = steps[i0] - (steps[i0] - search) % steps_per_bar
        gap_start = 0
        length = 0
        k = i0
        while k < n:
            idx = steps[k] - tstart
            if length > 0 and gap_steps >= 0 and idx - gap_start >= gap_steps:
                break
            length = idx + 1
            gap_start = idx + 1
            k += 1
        length += (-length) % steps_per_bar
        ev = np.zeros(length, np.int64)
        for j in range(i0, k):
            ev[steps[j] - tstart] = masks[j]
        end_step = tstart + length
        search = end_step + (search - end_step) % steps_per_bar
        i0 = k
        if length < steps_per_bar:
            continue
        if max_steps >= 0 and length > max_steps:
            length = max_steps - max_steps % steps_per_bar
        if pad_to > 0:
            full = np.zeros(max(pad_to, tstart + length), np.int64)
            full[tstart:tstart + length] = ev[:length]
            chunks.append(full[:pad_to].copy())
        else:
            chunks.append(ev[:length].copy())
    return _flatten(chunks)


@njit(cache=True)
def unique_rows(w):
    """Indices of the first occurrence of each distinct row of ``w``, in order (Magenta's set(), made
    deterministic): open-addressing hash set over the rows."""
    n, t = w.shape
    keep = np.zeros(n, np.bool_)
    cap = 16
    while cap < 2 * n:
        cap *= 2
    table = np.full(cap, -1, np.int64)
    for i in range(n):
        h = np.uint64(14695981039346656037)
        for j in range(t):
            h = (h ^ np.uint64(w[i, j])) * np.uint64(1099511628211)
        slot = np.int64(h & np.uint64(cap - 1))
        while True:
            k = table[slot]
            if k < 0:
                table[slot] = i
                keep[i] = True
                break
            same = True
            for j in range(t):
                if w[k, j] != w[i, j]:
                    same = False
                    break
            if same:
                break
            slot = (slot + 1) & (cap - 1)
    return np.flatnonzero(keep)


@njit(cache=True)
def melody_slices(start, end, pitch, velocity, is_drum, instrument, program, program_lo, program_hi,
                  min_pitch, max_pitch, steps_per_bar, gap_steps, max_steps, window_steps):
    """Class-index windows of a quantized piece's melodies with the step each starts at, not deduplicated.

    Notes in the program range (``program_lo`` < 0: any) and pitch range are
    taken instrument by instrument, sorted by (start, -pitch) as note-seq
    iterates them; per instrument ``extract_melodies``, then every
    ``window_steps`` slice with a one-bar hop, events mapped to classes
    (0 NO_EVENT, 1 NOTE_OFF, pitch - min_pitch + 2) and NOTE_OFFs before the
    first note turned into NO_EVENTs, as a sliced ``Melody`` does.
    """
    keep = (pitch >= min_pitch) & (pitch <= max_pitch)
    if program_lo >= 0:
        keep &= (program >= program_lo) & (program <= program_hi)
    kept = np.flatnonzero(keep)
    key = (instrument[kept] << 40) | (start[kept] << 8) | (255 - pitch[kept])
    idx = kept[np.argsort(key, kind="mergesort")]
    s, e, p, v, d, inst = start[idx], end[idx], pitch[idx], velocity[idx], is_drum[idx], instrument[idx]
    bounds = [0]
    for k in range(1, idx.shape[0]):
        if inst[k] != inst[k - 1]:
            bounds.append(k)
    bounds.append(idx.shape[0])
    melodies = []
    melody_starts = []
    total = 0
    for i in range(len(bounds) - 1):
        a, b = bounds[i], bounds[i + 1]
        ev, offs, firsts = extract_melodies(s[a:b], e[a:b], p[a:b], v[a:b], d[a:b], steps_per_bar, gap_steps,
                                            max_steps, 0)
        for m in range(offs.shape[0] - 1):
            length = offs[m + 1] - offs[m]
            if length >= window_steps:
                melodies.append(ev[offs[m]:offs[m + 1]])
                melody_starts.append(firsts[m])
                total += (length - window_steps) // steps_per_bar + 1
    out = np.empty((total, window_steps), np.int16)
    at = np.empty(total, np.int64)
    r = 0
    for seq, first in zip(melodies, melody_starts):
        for h in range(0, seq.shape[0] - window_steps + 1, steps_per_bar):
            seen_note = False
            for j in range(window_steps):
                x = seq[h + j]
                if x == NO_EVENT:
                    out[r, j] = 0
                elif x == NOTE_OFF:
                    out[r, j] = 1 if seen_note else 0
                else:
                    out[r, j] = x - min_pitch + 2
                    seen_note = True
            at[r] = first + h
            r += 1
    return out, at


@njit(cache=True)
def melody_windows(start, end, pitch, velocity, is_drum, instrument, program, program_lo, program_hi,
                   min_pitch, max_pitch, steps_per_bar, gap_steps, max_steps, window_steps):
    """Deduplicated class-index windows of a quantized piece's melodies (``melody_slices``), in one call."""
    out, _ = melody_slices(start, end, pitch, velocity, is_drum, instrument, program, program_lo, program_hi,
                           min_pitch, max_pitch, steps_per_bar, gap_steps, max_steps, window_steps)
    return out[unique_rows(out)]
