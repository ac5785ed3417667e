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
    ``pad_to_total_time`` does. Returns (flat events, offsets).
    """
    n = starts.shape[0]
    cap = 16
    if n > 0:
        cap = max(int(ends.max()), pad_to, 16) + 2 * steps_per_bar
    ev = np.empty(cap, np.int64)
    chunks = []
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
        else:
            chunks.append(ev[:length].copy())
    return _flatten(chunks)


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
