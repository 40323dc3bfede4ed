'use strict';
// HBONE client on Node's own HTTP/2 stack: one CONNECT tunnel, a payload, the whole answer.
// Usage: node connect-client.js '<json config>'
//   {host, port, localAddress?, authority, ca, cert?, key?, expectPeer, payload, expectRefused?}
// Prints one JSON line; exits 0 only if the outcome is the expected one.
const http2 = require('node:http2');
const fs = require('node:fs');

const cfg = JSON.parse(process.argv[2]);
const result = {};
let finished = false;

function finish(ok, extra) {
  if (finished) return;
  finished = true;
  Object.assign(result, extra, { ok });
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(ok ? 0 : 1);
}
function failed(error) {
  const message = String(error && (error.code || error.message) || error);
  if (cfg.expectRefused && result.status === undefined) {
    finish(true, { refused: true, error: message });
  } else {
    finish(false, { error: message });
  }
}
setTimeout(() => failed('timeout'), 10000).unref();

const options = {
  ca: fs.readFileSync(cfg.ca),
  minVersion: 'TLSv1.3',
  ALPNProtocols: ['h2'],
  // Mesh certificates carry only a SPIFFE URI SAN: no host name check, the identity instead.
  checkServerIdentity: (host, cert) => cert.subjectaltname === 'URI:' + cfg.expectPeer
    ? undefined : new Error('server identity: ' + cert.subjectaltname + ' (expected: ' + cfg.expectPeer + ')'),
};
if (cfg.localAddress) options.localAddress = cfg.localAddress; // the source pod's IP
if (cfg.cert) {
  options.cert = fs.readFileSync(cfg.cert);
  options.key = fs.readFileSync(cfg.key);
}

const client = http2.connect(`https://${cfg.host}:${cfg.port}`, options);
client.on('error', failed);
client.on('connect', (session, socket) => {
  result.peer = socket.getPeerCertificate().subjectaltname;
  result.alpn = socket.alpnProtocol;
  result.protocol = socket.getProtocol();
});

const req = client.request({ ':method': 'CONNECT', ':authority': cfg.authority }, { endStream: false });
const chunks = [];
req.on('error', failed);
req.on('response', (headers) => {
  result.status = headers[':status'];
  if (result.status !== 200) return failed('status ' + result.status);
  req.end(cfg.payload); // data, then our FIN: the app answers and half-closes
});
req.on('data', (chunk) => chunks.push(chunk));
req.on('end', () => {
  result.received = Buffer.concat(chunks).toString('latin1');
  client.close();
  if (cfg.expectRefused) return finish(false, { error: 'tunnel was not refused' });
  finish(true);
});
req.on('close', () => failed('stream closed (code ' + req.rstCode + ') before its end'));
