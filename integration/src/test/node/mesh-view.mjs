// Drives the mesh view in Debian's headless chromium for MeshViewTest, one command per line
// on stdin, one JSON answer per line on stdout:
//   open URL               load the page, wait for its first refresh
//   wait MS JS-EXPRESSION  wait (up to MS) until the expression is true in the page
//   state                  what the page shows: cytoscape's nodes and edges, the tables, the status line
//   screenshot PATH        a full-page PNG
//   quit
// Every answer is {"ok":true,"state":{...}} or {"ok":false,"error":"..."}, the state taken from the
// rendered page (the graph library's elements and the DOM), never from the server's JSON.
import { chromium } from 'playwright-core';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';

const executablePath = process.env.CHROMIUM
  || ['/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((p) => existsSync(p));
if (!executablePath) {
  console.log(JSON.stringify({ ok: false, error: 'no chromium (apt-get install chromium; make deps installs it)' }));
  process.exit(2);
}
// --no-sandbox: the tests run as root, where chromium refuses its sandbox.
const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
const consoleErrors = [];
page.on('pageerror', (e) => consoleErrors.push(String(e)));
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });

function pageState() {
  const v = window.ambitView;
  const rows = (id) => [...document.querySelectorAll('#' + id + ' tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent));
  return {
    refreshes: v ? v.refreshes : 0,
    status: document.getElementById('status').textContent,
    nodes: v && v.cy ? v.cy.nodes().map((n) => ({ id: n.id(), kind: n.data('kind'), label: n.data('label'),
      visible: n.visible(), x: n.renderedPosition().x, y: n.renderedPosition().y })) : [],
    edges: v && v.cy ? v.cy.edges().map((e) => ({ id: e.id(), source: e.source().id(), target: e.target().id(),
      label: e.data('label'), denied: !!e.data('denied') })) : [],
    edgeRows: rows('edges'),
    denialRows: rows('denials'),
    podRows: rows('pods'),
  };
}

async function answer(line) {
  const space = line.indexOf(' ');
  const cmd = space < 0 ? line : line.slice(0, space);
  const arg = space < 0 ? '' : line.slice(space + 1);
  switch (cmd) {
    case 'open':
      await page.goto(arg);
      await page.waitForFunction(() => window.ambitView && window.ambitView.refreshes > 0, null, { timeout: 15000 });
      break;
    case 'wait': {
      const s = arg.indexOf(' ');
      const ms = Number(arg.slice(0, s));
      await page.waitForFunction(arg.slice(s + 1), null, { timeout: ms, polling: 200 });
      break;
    }
    case 'state':
      break;
    case 'screenshot':
      await page.screenshot({ path: arg, fullPage: true });
      break;
    case 'quit':
      await browser.close();
      console.log(JSON.stringify({ ok: true }));
      process.exit(0);
    default:
      throw new Error('unknown command ' + cmd);
  }
  const state = await page.evaluate(pageState);
  state.consoleErrors = consoleErrors.splice(0);
  return { ok: true, state };
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  let out;
  try {
    out = await answer(line.trim());
  } catch (e) {
    let state = null;
    try { state = await page.evaluate(pageState); } catch (ignored) { /* page gone */ }
    out = { ok: false, error: String(e && e.message || e), state };
  }
  console.log(JSON.stringify(out));
}
await browser.close();
