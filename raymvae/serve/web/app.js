// raymvae's page: the Serve app's routes with piano rolls, a Web Audio synth and downloads. No dependencies.
'use strict';

const $ = (id) => document.getElementById(id);
const SLOTS = ['a', 'b', 'c', 'd'];
const MODES = ['interpolate', 'sample', 'attribute', 'grid'];
const EXAMPLES = {melody: 'melody', chord_melody: 'melody', drums: 'drums', groove: 'drums', trio: 'trio',
                  multitrack: 'multitrack'};
// General MIDI drum pitches by row of the drum grid (kick, snare, closed hat, open hat, toms, crash, ride)
const DRUM_ROWS = [[35, 36], [37, 38, 39, 40], [22, 42, 44], [26, 46], [41, 43, 45], [47, 48, 50],
                   [49, 52, 55, 57], [51, 53, 59]];
const state = {model: null, files: {}, results: [], mode: 'interpolate', audio: null, voices: [], noise: null};
window.raymvae = state;  // for people poking at the page (and the browser test)

// ---------------------------------------------------------------------------------------------- HTTP
function messageOf(body, status) {
  const d = body && body.detail;
  if (typeof d === 'string') return d;
  if (Array.isArray(d)) return d.map((e) => `${(e.loc || []).filter((x) => x !== 'body').join('.')}: ${e.msg}`).join('; ');
  return `HTTP ${status}`;
}

async function post(path, body) {
  const r = await fetch(path, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body)});
  const json = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(messageOf(json, r.status));
  return json;
}

function toBase64(buffer) {
  const bytes = new Uint8Array(buffer);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

// ---------------------------------------------------------------------------------------------- inputs
function setFile(slot, name, buffer) {
  state.files[slot] = {name, b64: toBase64(buffer)};
  $(`name-${slot}`).textContent = name;
}

function wireSlot(slot) {
  const input = $(`file-${slot}`);
  input.addEventListener('change', async () => {
    const f = input.files[0];
    if (f) setFile(slot, f.name, await f.arrayBuffer());
  });
  const zone = document.querySelector(`.slot[data-slot="${slot}"]`);
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', async (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    const f = e.dataTransfer.files[0];
    if (f) setFile(slot, f.name, await f.arrayBuffer());
  });
}

async function useExamples() {
  const index = await (await fetch('web/examples/index.json')).json();
  const names = index[EXAMPLES[state.model.family] || 'melody'];
  await Promise.all(SLOTS.map(async (slot, i) => {
    const r = await fetch(`web/examples/${names[i]}`);
    setFile(slot, names[i], await r.arrayBuffer());
  }));
}

function need(...slots) {
  const missing = slots.filter((s) => !state.files[s]);
  if (missing.length) throw new Error(`pick a MIDI file for ${missing.map((s) => s.toUpperCase()).join(', ')}`);
  return slots.map((s) => state.files[s].b64);
}

function controls() {
  const out = {};
  if (state.model && state.model.chord_conditioned) out.chords = $('chords').value;
  if (state.model && state.model.condition_on_key && $('key').value) out.key = $('key').value;
  return out;
}

function number(id, fallback) {
  const v = $(id).value;
  return v === '' ? fallback : Number(v);
}

// ---------------------------------------------------------------------------------------------- modes
const RUN = {
  async interpolate() {
    const [a, b] = need('a', 'b');
    return post('interpolate', {a, b, steps: number('steps', 5), method: $('method').value,
                                temperature: number('temperature-i', 0), ...controls()});
  },
  async sample() {
    const seed = $('seed').value === '' ? undefined : Number($('seed').value);
    return post('sample', {n: number('n', 4), temperature: number('temperature-s', 0.5), seed, ...controls()});
  },
  async attribute() {
    const [midi] = need('a');
    return post('attribute', {midi, attribute: $('attribute').value, method: $('edit-method').value,
                              amount: number('amount', 1), target: $('target').value, ...controls()});
  },
  async grid() {
    return post('grid', {corners: need('a', 'b', 'c', 'd'), steps: number('grid-steps', 3), ...controls()});
  },
};

async function run(mode) {
  $('error').textContent = '';
  $('status').textContent = `${mode}...`;
  try {
    const answer = await RUN[mode]();
    state.results = answer.results;
    state.mode = mode;
    render(answer.results, mode === 'grid' ? number('grid-steps', 3) : 0);
    $('status').textContent = `${answer.results.length} result${answer.results.length === 1 ? '' : 's'} (seed ${answer.seed})`;
  } catch (err) {
    $('status').textContent = '';
    $('error').textContent = err.message;
  }
}

function selectMode(mode) {
  for (const m of MODES) {
    $(`tab-${m}`).setAttribute('aria-selected', String(m === mode));
    $(`panel-${m}`).hidden = m !== mode;
  }
  document.body.classList.toggle('grid-mode', mode === 'grid');
}

// ---------------------------------------------------------------------------------------------- rolls
function notesOf(ns) {
  return (ns.notes || []).map((n) => ({pitch: n.pitch, velocity: n.velocity || 80, start: n.startTime || 0,
                                        end: n.endTime || 0, drum: !!n.isDrum, instrument: n.instrument || 0}));
}

function drumRow(pitch) {
  const row = DRUM_ROWS.findIndex((pitches) => pitches.includes(pitch));
  return row < 0 ? DRUM_ROWS.length : row;
}

function draw(canvas, notes, total) {
  const scale = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 250;
  const h = canvas.clientHeight || 120;
  canvas.width = w * scale;
  canvas.height = h * scale;
  const g = canvas.getContext('2d');
  g.scale(scale, scale);
  g.clearRect(0, 0, w, h);
  const x = (t) => (t / total) * w;
  const family = state.model.family;
  const colors = ['#2a6fdb', '#d9822b', '#2b9a66', '#a23bd6', '#c0392b', '#16a085', '#7f8c8d', '#8e6c3a'];
  if (family === 'drums' || family === 'groove') {  // a drum grid: one row per drum
    const rows = DRUM_ROWS.length + 1;
    for (const n of notes) {
      g.fillStyle = colors[drumRow(n.pitch) % colors.length];
      g.globalAlpha = 0.35 + 0.65 * (n.velocity / 127);
      g.fillRect(x(n.start), (drumRow(n.pitch) * h) / rows + 1, Math.max(3, x(n.end) - x(n.start)), h / rows - 2);
    }
    g.globalAlpha = 1;
    return;
  }
  // piano rolls: trios in three lanes (melody, bass, drums), everything else in one, coloured by instrument
  const lanes = family === 'trio' ? [(n) => !n.drum && n.instrument === 0, (n) => !n.drum && n.instrument !== 0,
                                     (n) => n.drum] : [() => true];
  lanes.forEach((inLane, k) => {
    const mine = notes.filter(inLane);
    if (!mine.length) return;
    const top = (k * h) / lanes.length;
    const height = h / lanes.length;
    const lo = Math.min(...mine.map((n) => n.pitch)) - 2;
    const hi = Math.max(...mine.map((n) => n.pitch)) + 2;
    const row = height / (hi - lo + 1);
    for (const n of mine) {
      g.fillStyle = colors[(lanes.length > 1 ? k : n.instrument) % colors.length];
      g.fillRect(x(n.start), top + (hi - n.pitch) * row, Math.max(2, x(n.end) - x(n.start) - 1), Math.max(2, row));
    }
    if (k) {
      g.fillStyle = '#ccc';
      g.fillRect(0, top, w, 1);
    }
  });
}

function render(results, columns) {
  stop();
  const box = $('rolls');
  box.replaceChildren();
  box.classList.toggle('grid', columns > 0);
  box.style.setProperty('--cols', String(columns || 1));
  const total = Math.max(2, ...results.map((r) => r.note_sequence.totalTime || 0));
  results.forEach((result, i) => {
    const notes = notesOf(result.note_sequence);
    const card = document.createElement('div');
    card.className = 'roll';
    const caption = document.createElement('p');
    caption.className = 'caption';
    caption.textContent = `${i + 1}${result.t == null ? '' : ` · t = ${result.t.toFixed(2)}`} · ${notes.length} notes`;
    const canvas = document.createElement('canvas');
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', `piano roll of result ${i + 1}: ${notes.length} notes`);
    canvas.dataset.notes = JSON.stringify(notes.map((n) => [n.pitch, +n.start.toFixed(4), +n.end.toFixed(4)])
      .sort((p, q) => p[1] - q[1] || p[0] - q[0]));
    const buttons = document.createElement('div');
    buttons.className = 'buttons';
    const playButton = document.createElement('button');
    playButton.className = 'play';
    playButton.textContent = 'Play';
    playButton.addEventListener('click', () => play(notes, card));
    const link = document.createElement('a');
    link.className = 'download';
    link.textContent = 'Download MIDI';
    link.download = `${state.mode}_${String(i).padStart(2, '0')}.mid`;
    link.href = URL.createObjectURL(new Blob([fromBase64(result.midi)], {type: 'audio/midi'}));
    buttons.append(playButton, link);
    card.append(caption, canvas, buttons);
    box.append(card);
    draw(canvas, notes, total);
  });
  $('result-actions').hidden = !results.length;
}

// ---------------------------------------------------------------------------------------------- sound
function audio() {
  if (!state.audio) {
    state.audio = new (window.AudioContext || window.webkitAudioContext)();
    const buffer = state.audio.createBuffer(1, state.audio.sampleRate, state.audio.sampleRate);
    const data = buffer.getChannelData(0);
    for (let i = 0; i < data.length; i++) data[i] = Math.random() * 2 - 1;
    state.noise = buffer;
  }
  return state.audio;
}

function voice(ac, n, at) {
  const gain = ac.createGain();
  const level = 0.25 * (n.velocity / 127);
  let source;
  if (n.drum) {
    const row = drumRow(n.pitch);
    source = ac.createBufferSource();
    source.buffer = state.noise;
    const filter = ac.createBiquadFilter();
    filter.type = row === 0 ? 'lowpass' : row <= 1 ? 'bandpass' : 'highpass';
    filter.frequency.value = row === 0 ? 150 : row <= 1 ? 1800 : 7000;
    source.connect(filter).connect(gain);
    const length = row === 0 ? 0.25 : row <= 1 ? 0.18 : 0.08;
    gain.gain.setValueAtTime(level * (row === 0 ? 3 : 1.5), at);
    gain.gain.exponentialRampToValueAtTime(0.001, at + length);
    source.start(at);
    source.stop(at + length + 0.02);
  } else {
    source = ac.createOscillator();
    source.type = 'triangle';
    source.frequency.value = 440 * Math.pow(2, (n.pitch - 69) / 12);
    source.connect(gain);
    const length = Math.max(0.05, n.end - n.start);
    gain.gain.setValueAtTime(0, at);
    gain.gain.linearRampToValueAtTime(level, at + 0.01);
    gain.gain.setTargetAtTime(0, at + length, 0.05);
    source.start(at);
    source.stop(at + length + 0.3);
  }
  gain.connect(ac.destination);
  return source;
}

async function play(notes, card) {
  const ac = audio();
  await ac.resume();
  document.body.dataset.audio = ac.state;
  stop();
  const t0 = ac.currentTime + 0.05;
  state.voices = notes.map((n) => voice(ac, n, t0 + n.start));
  card.classList.add('playing');
  const end = Math.max(0, ...notes.map((n) => n.end));
  state.playingCard = card;
  state.playTimer = setTimeout(() => card.classList.remove('playing'), (end + 0.4) * 1000);
  $('status').textContent = `audio: ${ac.state}`;
}

function stop() {
  for (const v of state.voices) { try { v.stop(); } catch (e) { /* already stopped */ } }
  state.voices = [];
  clearTimeout(state.playTimer);
  if (state.playingCard) state.playingCard.classList.remove('playing');
}

// ---------------------------------------------------------------------------------------------- zip
const CRC = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes) {
  let c = 0xFFFFFFFF;
  for (const b of bytes) c = CRC[(c ^ b) & 0xFF] ^ (c >>> 8);
  return (c ^ 0xFFFFFFFF) >>> 0;
}

function zip(files) {  // stored (uncompressed) entries: MIDI files are small
  const parts = [];
  const central = [];
  let offset = 0;
  for (const {name, bytes} of files) {
    const nameBytes = new TextEncoder().encode(name);
    const crc = crc32(bytes);
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true); local.setUint16(4, 20, true); local.setUint32(14, crc, true);
    local.setUint32(18, bytes.length, true); local.setUint32(22, bytes.length, true);
    local.setUint16(26, nameBytes.length, true);
    parts.push(new Uint8Array(local.buffer), nameBytes, bytes);
    const entry = new DataView(new ArrayBuffer(46));
    entry.setUint32(0, 0x02014b50, true); entry.setUint16(4, 20, true); entry.setUint16(6, 20, true);
    entry.setUint32(16, crc, true); entry.setUint32(20, bytes.length, true); entry.setUint32(24, bytes.length, true);
    entry.setUint16(28, nameBytes.length, true); entry.setUint32(42, offset, true);
    central.push(new Uint8Array(entry.buffer), nameBytes);
    offset += 30 + nameBytes.length + bytes.length;
  }
  const size = central.reduce((s, p) => s + p.length, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true); end.setUint16(8, files.length, true); end.setUint16(10, files.length, true);
  end.setUint32(12, size, true); end.setUint32(16, offset, true);
  return new Blob([...parts, ...central, new Uint8Array(end.buffer)], {type: 'application/zip'});
}

function downloadAll() {
  const files = state.results.map((r, i) => ({name: `${state.mode}_${String(i).padStart(2, '0')}.mid`,
                                              bytes: fromBase64(r.midi)}));
  const a = document.createElement('a');
  a.href = URL.createObjectURL(zip(files));
  a.download = `raymvae_${state.mode}.zip`;
  document.body.append(a);
  a.click();
  a.remove();
}

// ---------------------------------------------------------------------------------------------- start
async function start() {
  SLOTS.forEach(wireSlot);
  MODES.forEach((m, i) => {
    $(`tab-${m}`).addEventListener('click', () => selectMode(m));
    $(`tab-${m}`).addEventListener('keydown', (e) => {
      const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
      if (step) {
        const next = MODES[(i + step + MODES.length) % MODES.length];
        selectMode(next);
        $(`tab-${next}`).focus();
      }
    });
    $(`run-${m}`).addEventListener('click', () => run(m));
  });
  $('use-examples').addEventListener('click', () => useExamples().catch((e) => { $('error').textContent = e.message; }));
  $('download-all').addEventListener('click', downloadAll);
  $('stop').addEventListener('click', stop);
  try {
    const m = await (await fetch('model')).json();
    state.model = m;
    $('model').textContent = `${m.config} · ${m.family} · z ${m.z_size} · trained ${m.step ?? '?'} steps · ${m.device}`;
    $('chords-row').hidden = !m.chord_conditioned;
    const attrs = m.attributes || {};
    const usable = [...new Set([...(attrs.saved || []), ...(attrs.actors || [])])];
    $('attribute').replaceChildren(...(usable.length ? usable : attrs.available || []).map((a) => new Option(a, a)));
    document.body.dataset.ready = 'true';
  } catch (err) {
    $('error').textContent = `cannot reach the model: ${err.message}`;
  }
}

start();
