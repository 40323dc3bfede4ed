// The apps behind the ingress tests: one Node.js process per pod, Node's standard library only.
// ROLE (env) picks what the pod is:
//   frontend     HTTP 8080: "/" calls http://backend:8080/ (through the mesh) and answers
//                "frontend <pod> -> <backend's answer>"; any other path answers the request's
//                path and headers as JSON (what the gateway added)
//   backend      HTTP 8080: "backend <pod>"
//   orders       HTTP 8080: "orders <VERSION> <pod>"
//   passthrough  HTTPS 8443 with its own certificate (TLS_CERT, TLS_KEY files): terminates TLS
//                itself and answers "passthrough <pod> <SNI>"
'use strict';
const http = require('http');
const https = require('https');
const fs = require('fs');

const pod = process.env.POD_NAME || 'unknown';
const role = process.env.ROLE || 'backend';
const version = process.env.VERSION || 'v0';

function text(res, status, body) {
  res.writeHead(status, {'content-type': 'text/plain', 'content-length': Buffer.byteLength(body)});
  res.end(body);
}

function frontend(req, res) {
  if (req.url !== '/') {
    return text(res, 200, JSON.stringify({path: req.url, headers: req.headers}) + '\n');
  }
  const call = http.get('http://backend:8080/', {timeout: 5000}, (up) => {
    let body = '';
    up.setEncoding('utf8');
    up.on('data', (d) => { body += d; });
    up.on('end', () => text(res, up.statusCode === 200 ? 200 : 502, `frontend ${pod} -> ${body.trim()}\n`));
  });
  call.on('timeout', () => call.destroy(new Error('timeout')));
  call.on('error', (e) => text(res, 502, `frontend ${pod} -> backend failed: ${e.message}\n`));
}

if (role === 'passthrough') {
  const server = https.createServer({cert: fs.readFileSync(process.env.TLS_CERT), key: fs.readFileSync(process.env.TLS_KEY)},
      (req, res) => text(res, 200, `passthrough ${pod} ${req.socket.servername || '-'}\n`));
  server.listen(8443);
} else {
  http.createServer((req, res) => {
    if (role === 'frontend') {
      return frontend(req, res);
    }
    if (role === 'orders') {
      return text(res, 200, `orders ${version} ${pod}\n`);
    }
    return text(res, 200, `backend ${pod}\n`);
  }).listen(8080);
}
