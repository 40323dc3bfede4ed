// The mesh view: fetches /api/graph on a timer and updates the cytoscape graph in place
// (positions kept, layout only when nodes come or go), the edge, denial and pod tables,
// and, when Zipkin is configured, the recent traces.
'use strict';

const view = { cy: null, graph: null, refreshes: 0, timer: null, selected: null, zipkin: false };
window.ambitView = view; // for the browser test and for poking around in the console

const $ = (id) => document.getElementById(id);
const fmt = (v, digits = 2) => (v === undefined || v === null ? '' : Number(v).toFixed(digits));

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v; else if (k.startsWith('on')) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function nodeLabel(n) {
  let label = n.name + (n.namespace ? '\n' + n.namespace : '');
  if (n.pods) {
    // Pods outside the mesh (istio.io/dataplane-mode: none) are not counted as missing.
    const meshed = n.pods.filter((p) => p.enrolment !== 'not captured').length;
    label += '\n' + (meshed ? (n.enrolled || 0) + '/' + meshed + ' enrolled' : 'not captured');
  }
  return label;
}

function edgeLabel(e) {
  const parts = [];
  if (e.rps !== undefined) {
    parts.push(fmt(e.rps) + ' rps');
    if (e.errorRate > 0) parts.push(fmt(e.errorRate * 100, 1) + '% err');
    if (e.p99 !== undefined) parts.push('p99 ' + fmt(e.p99, 0) + 'ms');
  } else if (e.cps !== undefined) {
    parts.push(fmt(e.cps) + ' conn/s');
  }
  if (e.mtls) parts.push('mTLS');
  if (e.denied) {
    const d = e.denials.map((x) => (x.policy || x.reason) + (x.rule >= 0 ? ' rule ' + x.rule : '') + ' ×' + x.count);
    parts.push('DENIED ' + d.join(', '));
  }
  return parts.join(' · ');
}

function initGraph() {
  view.cy = cytoscape({
    container: $('graph'),
    wheelSensitivity: 0.3,
    style: [
      { selector: 'node', style: {
        'label': 'data(label)', 'text-wrap': 'wrap', 'font-size': 10, 'text-valign': 'bottom', 'text-margin-y': 4,
        'background-color': '#0969da', 'width': 28, 'height': 28 } },
      { selector: 'node[kind = "service"]', style: { 'shape': 'triangle', 'background-color': '#8250df' } },
      { selector: 'node[kind = "waypoint"]', style: { 'shape': 'diamond', 'background-color': '#bf8700', 'width': 34, 'height': 34 } },
      { selector: 'node[kind = "gateway"]', style: { 'shape': 'round-rectangle', 'background-color': '#1a7f37' } },
      { selector: 'node[kind = "unknown"]', style: { 'background-color': '#8c959f' } },
      { selector: 'node[?notEnrolled]', style: { 'border-width': 3, 'border-color': '#cf222e', 'border-style': 'dashed' } },
      { selector: 'edge', style: {
        'curve-style': 'bezier', 'target-arrow-shape': 'triangle', 'width': 2, 'line-color': '#57606a',
        'target-arrow-color': '#57606a', 'label': 'data(label)', 'font-size': 9, 'text-rotation': 'autorotate',
        'text-background-color': '#fff', 'text-background-opacity': 0.85, 'text-background-padding': 1 } },
      { selector: 'edge[?errors]', style: { 'line-color': '#d4a72c', 'target-arrow-color': '#d4a72c' } },
      { selector: 'edge[?denied]', style: { 'line-color': '#cf222e', 'target-arrow-color': '#cf222e',
        'line-style': 'dashed', 'width': 3, 'color': '#cf222e' } },
      { selector: ':selected', style: { 'overlay-color': '#0969da', 'overlay-opacity': 0.15 } },
    ],
  });
  view.cy.on('tap', 'node, edge', (evt) => { view.selected = evt.target.id(); showDetails(); });
  view.cy.on('tap', (evt) => { if (evt.target === view.cy) { view.selected = null; showDetails(); } });
}

function updateGraph(graph) {
  const cy = view.cy;
  const wanted = new Set();
  let added = false;
  cy.batch(() => {
    for (const n of graph.nodes) {
      wanted.add(n.id);
      const data = { id: n.id, kind: n.kind, label: nodeLabel(n),
        notEnrolled: !!n.pods && n.pods.some((p) => p.enrolment === 'not enrolled') };
      const existing = cy.getElementById(n.id);
      if (existing.nonempty()) existing.data(data); else { cy.add({ group: 'nodes', data }); added = true; }
    }
    for (const e of graph.edges) {
      wanted.add(e.id);
      const data = { id: e.id, source: e.source, target: e.target, label: edgeLabel(e), denied: e.denied,
        errors: e.errorRate > 0 };
      const existing = cy.getElementById(e.id);
      if (existing.nonempty()) existing.data(data); else { cy.add({ group: 'edges', data }); added = true; }
    }
    cy.elements().filter((x) => !wanted.has(x.id())).remove();
  });
  if (added) {
    // Left to right, as Kiali draws: breadthfirst's levels turned on their side.
    cy.layout({ name: 'breadthfirst', directed: true, spacingFactor: 1.1, padding: 30, animate: false }).run();
    cy.fit(undefined, 30);
  }
}

function row(cells, cls) {
  const tr = el('tr', cls ? { class: cls } : {});
  for (const c of cells) tr.append(c instanceof Node ? el('td', {}, c) : el('td', typeof c === 'number' ? { class: 'num' } : {}, c));
  return tr;
}

function nodeName(id) {
  const n = view.graph.graph.nodes.find((x) => x.id === id);
  return n ? (n.kind === 'service' ? 'service ' : '') + (n.namespace ? n.namespace + '/' : '') + n.name : id;
}

function updateTables(g) {
  const edges = $('edges').tBodies[0];
  edges.replaceChildren(...g.graph.edges.map((e) => {
    const tr = row([nodeName(e.source), nodeName(e.target), e.protocols.join('+'),
      e.rps !== undefined ? fmt(e.rps) : '', e.rps !== undefined ? fmt(e.errorRate * 100, 1) + '%' : '',
      e.p99 !== undefined ? fmt(e.p99, 0) : '', e.cps !== undefined ? fmt(e.cps) : '', e.mtls ? 'yes' : 'no',
      e.denials.map((d) => d.policy || d.reason).join(', ')], e.denied ? 'denied' : '');
    tr.dataset.edge = e.id;
    return tr;
  }));
  const denials = $('denials').tBodies[0];
  const rows = [];
  for (const e of g.graph.edges) {
    for (const d of e.denials) {
      const policy = d.policy || ('none (' + d.reason + (d.allowPolicies.length ? ': ' + d.allowPolicies.join(', ') : '') + ')');
      const cell = el('span', {}, el('b', {}, policy));
      if (d.rule >= 0) cell.append(el('br'), el('code', {}, 'rule ' + d.rule + ': ' + d.ruleText));
      const tr = row([nodeName(e.source) + ' → ' + nodeName(e.target), cell, d.reason, d.count,
        new Date(d.last).toLocaleTimeString()], 'denied');
      tr.dataset.policy = d.policy;
      rows.push(tr);
    }
  }
  denials.replaceChildren(...(rows.length ? rows : [row(['no denials in the window', '', '', '', ''])]));
  const pods = $('pods').tBodies[0];
  const podRows = [];
  for (const n of g.graph.nodes) {
    for (const p of n.pods || []) {
      podRows.push(row([n.namespace, p.name, n.name, p.node, p.ip, p.phase, p.enrolment]));
    }
  }
  pods.replaceChildren(...podRows);
}

function showDetails() {
  const box = $('details');
  box.replaceChildren(el('h2', {}, 'Details'));
  if (!view.selected || !view.graph) { box.append(el('p', { class: 'hint' }, 'Select a node or an edge.')); return; }
  const g = view.graph.graph;
  const n = g.nodes.find((x) => x.id === view.selected);
  const e = g.edges.find((x) => x.id === view.selected);
  if (n) {
    box.append(el('p', {}, n.kind + ' ', el('b', {}, nodeName(n.id)), n.host ? ' (' + n.host + ')' : ''));
    if (n.pods) {
      const t = el('table', {}, el('tr', {}, el('th', {}, 'pod'), el('th', {}, 'node'), el('th', {}, 'enrolment')));
      n.pods.forEach((p) => t.append(row([p.name, p.node, p.enrolment])));
      box.append(t);
    }
  } else if (e) {
    box.append(el('p', {}, el('b', {}, nodeName(e.source)), ' → ', el('b', {}, nodeName(e.target))));
    box.append(el('p', {}, edgeLabel(e) || 'no traffic in the window'));
    for (const d of e.denials) {
      box.append(el('p', { class: 'denied' }, 'DENIED by ' + (d.policy || 'no policy (' + d.reason + ')'),
        d.rule >= 0 ? ' rule ' + d.rule + ': ' : '', d.rule >= 0 ? el('code', {}, d.ruleText) : '',
        ' — ' + d.count + '× on ' + d.agent + ', last ' + d.last + (d.sourcePrincipal ? ', from ' + d.sourcePrincipal : '')));
    }
  } else {
    view.selected = null;
    box.append(el('p', { class: 'hint' }, 'Select a node or an edge.'));
  }
}

function updateNamespaces(all) {
  const select = $('namespace');
  const chosen = new Set([...select.selectedOptions].map((o) => o.value));
  const have = [...select.options].map((o) => o.value).join(',');
  if (have === all.join(',')) return;
  select.replaceChildren(...all.map((ns) => { const o = el('option', { value: ns }, ns); o.selected = chosen.has(ns); return o; }));
  select.size = Math.min(4, Math.max(1, all.length));
}

function query() {
  const ns = [...$('namespace').selectedOptions].map((o) => o.value).join(',');
  return '?window=' + encodeURIComponent($('window').value) + (ns ? '&namespace=' + encodeURIComponent(ns) : '');
}

async function refresh() {
  const status = $('status');
  try {
    const r = await fetch('api/graph' + query(), { cache: 'no-store' });
    const g = await r.json();
    if (!r.ok) throw new Error(g.error || r.status);
    view.graph = g;
    updateNamespaces(g.namespaces);
    updateGraph(g.graph);
    updateTables(g);
    showDetails();
    view.refreshes++;
    document.body.dataset.refreshes = view.refreshes;
    status.className = g.errors.length ? 'error' : '';
    status.textContent = 'updated ' + new Date(g.generatedAt).toLocaleTimeString() + ' · ' + g.graph.nodes.length
      + ' nodes, ' + g.graph.edges.length + ' edges' + (g.errors.length ? ' · ' + g.errors.join('; ') : '');
    if (view.zipkin) await refreshTraces();
  } catch (err) {
    status.className = 'error';
    status.textContent = 'refresh failed: ' + err.message;
  }
}

async function refreshTraces() {
  const r = await fetch('api/traces?limit=15&window=' + encodeURIComponent($('window').value), { cache: 'no-store' });
  if (!r.ok) return;
  const list = await r.json();
  $('traces').replaceChildren(...list.map((t) => el('li', { onclick: () => showTrace(t.traceId) },
    t.service + ' ' + t.name + ' — ' + fmt(t.durationMs, 1) + ' ms, ' + t.spans + ' spans')));
}

async function showTrace(id) {
  const box = $('trace');
  const r = await fetch('api/trace/' + id, { cache: 'no-store' });
  if (!r.ok) { box.textContent = 'trace ' + id + ': ' + r.status; return; }
  const spans = (await r.json()).sort((a, b) => a.timestamp - b.timestamp);
  const start = Math.min(...spans.map((s) => s.timestamp));
  const end = Math.max(...spans.map((s) => s.timestamp + (s.duration || 0)));
  const scale = 100 / Math.max(1, end - start);
  box.replaceChildren(el('p', {}, 'trace ', el('code', {}, id), ' — ' + fmt((end - start) / 1000, 1) + ' ms'),
    ...spans.map((s) => {
      const d = el('div', { class: 'span', title: JSON.stringify(s.tags || {}) });
      const bar = el('div', { class: 'bar' });
      bar.style.left = ((s.timestamp - start) * scale) + '%';
      bar.style.width = Math.max(0.5, (s.duration || 0) * scale) + '%';
      d.append(bar, el('span', { class: 'name' }, (s.localEndpoint && s.localEndpoint.serviceName || '?') + ' '
        + (s.kind || '') + ' ' + s.name + ' ' + fmt((s.duration || 0) / 1000, 1) + ' ms'));
      return d;
    }));
}

function schedule() {
  clearInterval(view.timer);
  const seconds = Number($('refresh').value);
  if (seconds > 0) view.timer = setInterval(refresh, seconds * 1000);
}

async function main() {
  initGraph();
  const params = new URLSearchParams(location.search);
  if (params.get('refresh')) { const o = el('option', { value: params.get('refresh') }, params.get('refresh') + ' s'); $('refresh').append(o); $('refresh').value = params.get('refresh'); }
  if (params.get('window')) $('window').value = params.get('window');
  try {
    const c = await (await fetch('api/config')).json();
    view.zipkin = c.zipkin;
    $('traces-panel').hidden = !c.zipkin;
  } catch (err) { /* the graph refresh reports the server being away */ }
  for (const id of ['namespace', 'window']) $(id).addEventListener('change', refresh);
  $('refresh').addEventListener('change', schedule);
  $('reload').addEventListener('click', refresh);
  await refresh();
  schedule();
}

main();
