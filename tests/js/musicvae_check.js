// Load a checkpoint folder with magenta-js's own MusicVAE (Node) and print what it computes, as JSON:
//   node musicvae_check.js URL INPUT.json  ->  {"mu": [[...]], "decoded": [NoteSequence, ...]}
// INPUT.json: {"sequences": [quantized NoteSequence JSON, ...], "z": [[...], ...], "controlArgs"?: {...}}. `mu`
// is encode() of the sequences; `decoded` is decode() of z by argmax (no temperature), both under controlArgs
// (chordProgression, key) where given. NODE_PATH names the node_modules folder.
const fs = require('fs');
const tf = require('@tensorflow/tfjs');
const mvae = require('@magenta/music/node/music_vae');

async function main() {
  const [url, inputPath] = process.argv.slice(2);
  const input = JSON.parse(fs.readFileSync(inputPath, 'utf8'));
  const model = new mvae.MusicVAE(url);
  await model.initialize();
  // one sequence at a time: magenta-js encodes variable-length segments (multitrack) only in batches of one
  const mu = [];
  for (const sequence of input.sequences) {
    const z = await model.encode([sequence], input.controlArgs);
    mu.push((await z.array())[0]);
    z.dispose();
  }
  const decoded = await model.decode(tf.tensor2d(input.z), undefined, input.controlArgs);
  process.stdout.write(JSON.stringify({mu, decoded}) + '\n');
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
