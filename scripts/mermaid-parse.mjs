// Parses Mermaid diagrams with Mermaid's own parser, headless (jsdom, no browser):
// reads a JSON array of diagram texts on stdin, prints one line per diagram, `ok
// <type>` or `error <message>`, and exits 1 when any failed. The directory holding
// node_modules with `mermaid` and `jsdom` is PLANRUN_MERMAID_MODULES (.ci/run
// installs them there).
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const dir = process.env.PLANRUN_MERMAID_MODULES;
if (!dir) {
  console.error('PLANRUN_MERMAID_MODULES is not set');
  process.exit(2);
}
const require = createRequire(dir.replace(/\/?$/, '/'));
const load = (name) => import(pathToFileURL(require.resolve(name)).href);
const { JSDOM } = await load('jsdom');
const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await load('mermaid');
mermaid.initialize({ startOnLoad: false });

let input = '';
for await (const chunk of process.stdin) input += chunk;
let failed = false;
for (const text of JSON.parse(input)) {
  try {
    const r = await mermaid.parse(text);
    console.log(`ok ${r.diagramType}`);
  } catch (e) {
    failed = true;
    console.log(`error ${String(e.message).replace(/\n/g, ' ')}`);
  }
}
process.exit(failed ? 1 : 0);
