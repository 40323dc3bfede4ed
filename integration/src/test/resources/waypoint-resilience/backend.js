// The backend of WaypointResilienceTest: one Node.js process per pod, Node's standard library
// only, HTTP/1.1 on 8080. Every answer starts with the pod's name so the test can count where
// the waypoint sent each request, and every request is recorded (time, method, path) so the
// test can ask a pod, from inside it, what reached it and when. Behaviour per pod from env:
//   SLOW=/prefix=MS   requests whose path starts with /prefix are answered after MS ms
//   FAIL=/prefix      requests whose path starts with /prefix are answered 503
// Paths:
//   /sleep?ms=N       answers after N ms            /status/N   answers status N
//   /admin...         the "admin" resource, found the way a lenient framework finds it (below)
//   anything else     200 "<pod> <method> <path as received>"
// Control (asked from inside the pod on 127.0.0.1, never recorded):
//   /_seen?prefix=P   {"count":n,"times":[epoch ms...]} of the requests whose path starts with P
//   /_reset           forgets every recorded request
'use strict';
const http = require('http');

const pod = process.env.POD_NAME || 'unknown';
const [slowPrefix, slowMs] = (process.env.SLOW || '=0').split('=');
const failPrefix = process.env.FAIL || '';
let hits = [];

// How a lenient backend framework resolves a path (percent-decoding, backslashes, ";" path
// parameters, repeated slashes, dot segments, a fragment), so that every normalization bypass
// the waypoint lets through would really reach the admin resource. Case is kept: this backend,
// like most, is case-sensitive (Istio's docs: the waypoint does not change the case either).
function resolve(raw) {
  let p = raw;
  for (const c of ['#', '?']) {
    const i = p.indexOf(c);
    if (i >= 0) p = p.substring(0, i);
  }
  try {
    p = decodeURIComponent(p);
  } catch (e) {
    // not decodable: matched as received
  }
  p = p.replace(/\\/g, '/').split('/').map((s) => s.split(';')[0]).join('/').replace(/\/+/g, '/');
  const out = [];
  for (const s of p.split('/')) {
    if (s === '..') {
      if (out.length > 1) out.pop();
    } else if (s !== '.') {
      out.push(s);
    }
  }
  const resolved = out.join('/');
  return resolved.startsWith('/') ? resolved : '/' + resolved;
}

function handle(req, res) {
  const raw = req.url;
  const reply = (status, body) => {
    res.writeHead(status, {'content-type': 'text/plain'});
    res.end(body);
  };
  if (raw.startsWith('/_')) {
    const url = new URL(raw, 'http://x');
    if (url.pathname === '/_reset') {
      hits = [];
      return reply(200, 'reset\n');
    }
    const prefix = url.searchParams.get('prefix') || '/';
    const times = hits.filter((h) => h.path.startsWith(prefix)).map((h) => h.t);
    return reply(200, JSON.stringify({count: times.length, times}) + '\n');
  }
  if (hits.length < 200000) hits.push({t: Date.now(), path: raw});
  if (resolve(raw).startsWith('/admin')) {
    return reply(200, `${pod} ADMIN-SECRET\n`);
  }
  if (failPrefix && raw.startsWith(failPrefix)) {
    return reply(503, `${pod} failing\n`);
  }
  const url = new URL(raw.replace(/^\/+/, '/'), 'http://x');
  if (url.pathname === '/sleep') {
    const ms = Number(url.searchParams.get('ms') || '1000');
    return setTimeout(() => reply(200, `${pod} slept ${ms}\n`), ms);
  }
  if (url.pathname.startsWith('/status/')) {
    return reply(Number(url.pathname.substring(8)) || 500, `${pod} status\n`);
  }
  const body = `${pod} ${req.method} ${raw}\n`;
  if (slowPrefix && raw.startsWith(slowPrefix) && Number(slowMs) > 0) {
    return setTimeout(() => reply(200, body), Number(slowMs));
  }
  return reply(200, body);
}

// Headers up to 256 KiB (Node's default is 16 KiB): the waypoint's limits, not the backend's,
// are what the hostile-input test must meet.
http.createServer({maxHeaderSize: 256 * 1024}, (req, res) => {
  req.resume();
  req.on('end', () => handle(req, res));
}).listen(8080);
