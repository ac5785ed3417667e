"""Compiled MIDI tokenizer with mido + pretty_midi semantics (numba).

One pass over the bytes yields pretty_midi's notes (paired exactly as
``PrettyMIDI._load_instruments`` pairs them), its instrument table, and the
tempo / time-signature events of track 0. Corrupt data ends the track it is
in (earlier events are kept) instead of losing the whole file.
"""
import numpy as np
from numba import njit, types
from numba.typed import Dict

# Status codes returned by scan_midi (translated into MidiError messages).
OK = 0
NOT_MIDI = 1
BAD_HEADER = 2
NO_TRACKS = 3
BAD_DIVISION = 4
NAMES = {
    NOT_MIDI: "not a MIDI file (no MThd header)",
    BAD_HEADER: "truncated or malformed MThd header",
    NO_TRACKS: "the header declares no tracks",
    BAD_DIVISION: "SMPTE or zero time division is not supported",
}

_MAX_VARLEN = 1 << 40


@njit(cache=True)
def _varlen(data, pos, end):
    value = 0
    while pos < end:
        b = data[pos]
        pos += 1
        value = (value << 7) | (b & 0x7F)
        if b < 0x80:
            return value, pos
        if value > _MAX_VARLEN:
            return -1, pos
    return -1, pos


@njit(cache=True)
def scan_midi(data):
    """Tokenize ``data`` (uint8 array). Returns status, header facts and arrays."""
    n = data.shape[0]
    empty_i = np.zeros(0, np.int64)
    if n < 8 or not (data[0] == 77 and data[1] == 84 and data[2] == 104 and data[3] == 100):
        return (NOT_MIDI, 0, 0, 0, empty_i, empty_i, empty_i, empty_i, empty_i,
                empty_i, empty_i, empty_i, empty_i, empty_i, empty_i, empty_i, empty_i, 0)
    size = (np.int64(data[4]) << 24) | (np.int64(data[5]) << 16) | (np.int64(data[6]) << 8) | np.int64(data[7])
    if size < 6 or n < 14:
        return (BAD_HEADER, 0, 0, 0, empty_i, empty_i, empty_i, empty_i, empty_i,
                empty_i, empty_i, empty_i, empty_i, empty_i, empty_i, empty_i, empty_i, 0)
    fmt = (np.int64(data[8]) << 8) | np.int64(data[9])
    ntracks = (np.int64(data[10]) << 8) | np.int64(data[11])
    division = (np.int64(data[12]) << 8) | np.int64(data[13])
    if ntracks >= 32768:
        ntracks -= 65536
    if division >= 32768:
        division -= 65536
    if ntracks <= 0:
        return (NO_TRACKS, fmt, ntracks, division, empty_i, empty_i, empty_i, empty_i, empty_i,
                empty_i, empty_i, empty_i, empty_i, empty_i, empty_i, empty_i, empty_i, 0)
    if division <= 0:
        return (BAD_DIVISION, fmt, ntracks, division, empty_i, empty_i, empty_i, empty_i, empty_i,
                empty_i, empty_i, empty_i, empty_i, empty_i, empty_i, empty_i, empty_i, 0)

    cap = n // 3 + 1
    pool_tick = np.empty(cap, np.int64)
    pool_vel = np.empty(cap, np.int64)
    pool_next = np.empty(cap, np.int64)
    note_inst = np.empty(cap, np.int64)
    note_start = np.empty(cap, np.int64)
    note_end = np.empty(cap, np.int64)
    note_pitch = np.empty(cap, np.int64)
    note_vel = np.empty(cap, np.int64)
    inst_prog = np.empty(cap, np.int64)
    inst_chan = np.empty(cap, np.int64)
    inst_track = np.empty(cap, np.int64)
    tempo_tick = np.empty(cap, np.int64)
    tempo_val = np.empty(cap, np.int64)
    ts_tick = np.empty(cap, np.int64)
    ts_num = np.empty(cap, np.int64)
    ts_den = np.empty(cap, np.int64)
    n_notes = 0
    n_inst = 0
    n_tempo = 0
    n_ts = 0
    problems = 0
    inst_map = Dict.empty(key_type=types.int64, value_type=types.int64)
    head = np.empty(2048, np.int64)
    tail = np.empty(2048, np.int64)
    cur_prog = np.zeros(16, np.int64)

    pos = 8 + size
    track = 0
    while track < ntracks:
        if pos + 8 > n:
            problems += 1
            break
        is_mtrk = data[pos] == 77 and data[pos + 1] == 84 and data[pos + 2] == 114 and data[pos + 3] == 107
        csize = (np.int64(data[pos + 4]) << 24) | (np.int64(data[pos + 5]) << 16) | (np.int64(data[pos + 6]) << 8) | np.int64(data[pos + 7])
        pos += 8
        end = pos + csize
        if end > n:
            end = n
            problems += 1
        if not is_mtrk:
            pos = end
            continue
        head[:] = -1
        tail[:] = -1
        cur_prog[:] = 0
        pool_used = 0
        tick = 0
        last_status = -1
        while pos < end:
            delta, pos = _varlen(data, pos, end)
            if delta < 0 or pos >= end:
                problems += 1
                break
            tick += delta
            status = np.int64(data[pos])
            if status < 0x80:
                if last_status < 0:
                    problems += 1
                    break
                status = last_status
            else:
                pos += 1
                if status != 0xFF:
                    last_status = status
            if status == 0xFF:
                if pos >= end:
                    problems += 1
                    break
                mtype = data[pos]
                pos += 1
                length, pos = _varlen(data, pos, end)
                if length < 0 or pos + length > end:
                    problems += 1
                    break
                if track == 0:
                    if mtype == 0x51:
                        if length >= 3:
                            tempo = (np.int64(data[pos]) << 16) | (np.int64(data[pos + 1]) << 8) | np.int64(data[pos + 2])
                            if tempo > 0:
                                tempo_tick[n_tempo] = tick
                                tempo_val[n_tempo] = tempo
                                n_tempo += 1
                            else:
                                problems += 1
                        else:
                            problems += 1
                    elif mtype == 0x58:
                        if length >= 2:
                            ts_tick[n_ts] = tick
                            ts_num[n_ts] = data[pos]
                            ts_den[n_ts] = data[pos + 1]
                            n_ts += 1
                        else:
                            problems += 1
                pos += length
            elif status == 0xF0 or status == 0xF7:
                length, pos = _varlen(data, pos, end)
                if length < 0 or pos + length > end:
                    problems += 1
                    break
                pos += length
            elif status >= 0xF0:
                if status == 0xF2:
                    pos += 2
                elif status == 0xF1 or status == 0xF3:
                    pos += 1
                elif status == 0xF4 or status == 0xF5 or status == 0xF9 or status == 0xFD:
                    problems += 1
                    break
                if pos > end:
                    problems += 1
                    break
            else:
                kind = status & 0xF0
                chan = status & 0x0F
                nbytes = 1 if (kind == 0xC0 or kind == 0xD0) else 2
                if pos + nbytes > end:
                    problems += 1
                    break
                a = np.int64(data[pos])
                b = np.int64(data[pos + 1]) if nbytes == 2 else np.int64(0)
                if a > 127 or b > 127:
                    problems += 1
                    break
                pos += nbytes
                if kind == 0xC0:
                    cur_prog[chan] = a
                elif kind == 0x90 and b > 0:
                    slot = chan * 128 + a
                    if pool_used >= cap:
                        problems += 1
                        break
                    e = pool_used
                    pool_used += 1
                    pool_tick[e] = tick
                    pool_vel[e] = b
                    pool_next[e] = -1
                    if head[slot] < 0:
                        head[slot] = e
                    else:
                        pool_next[tail[slot]] = e
                    tail[slot] = e
                elif kind == 0x80 or kind == 0x90:
                    slot = chan * 128 + a
                    if head[slot] >= 0:
                        closed = 0
                        keep_head = -1
                        keep_tail = -1
                        e = head[slot]
                        while e >= 0:
                            nxt = pool_next[e]
                            if pool_tick[e] != tick:
                                key = (track * 16 + chan) * 128 + cur_prog[chan]
                                if key in inst_map:
                                    ins = inst_map[key]
                                else:
                                    ins = n_inst
                                    inst_map[key] = ins
                                    inst_prog[ins] = cur_prog[chan]
                                    inst_chan[ins] = chan
                                    inst_track[ins] = track
                                    n_inst += 1
                                note_inst[n_notes] = ins
                                note_start[n_notes] = pool_tick[e]
                                note_end[n_notes] = tick
                                note_pitch[n_notes] = a
                                note_vel[n_notes] = pool_vel[e]
                                n_notes += 1
                                closed += 1
                            else:
                                pool_next[e] = -1
                                if keep_head < 0:
                                    keep_head = e
                                else:
                                    pool_next[keep_tail] = e
                                keep_tail = e
                            e = nxt
                        if closed > 0 and keep_head >= 0:
                            head[slot] = keep_head
                            tail[slot] = keep_tail
                        else:
                            head[slot] = -1
                            tail[slot] = -1
        pos = end
        track += 1
    return (OK, fmt, ntracks, division,
            note_inst[:n_notes].copy(), note_start[:n_notes].copy(), note_end[:n_notes].copy(),
            note_pitch[:n_notes].copy(), note_vel[:n_notes].copy(),
            inst_prog[:n_inst].copy(), inst_chan[:n_inst].copy(), inst_track[:n_inst].copy(),
            tempo_tick[:n_tempo].copy(), tempo_val[:n_tempo].copy(),
            ts_tick[:n_ts].copy(), ts_num[:n_ts].copy(), ts_den[:n_ts].copy(), problems)
