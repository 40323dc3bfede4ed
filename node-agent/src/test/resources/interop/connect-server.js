'use strict';
// HBONE server on Node's own HTTP/2 stack: mutual TLS 1.3, CONNECT to ip:port, relays bytes.
// Usage: node connect-server.js '<json config>'   {host, ca, cert, key}
// Prints JSON lines: {"listening":port}, then one {"connect":...} per tunnel request.
// Runs until killed; exits non-zero if it cannot listen.
const http2 = require('node:http2');
const net = require('node:net');
const fs = require('node:fs');

const cfg = JSON.parse(process.argv[2]);
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');

const server = http2.createSecureServer({
  ca: fs.readFileSync(cfg.ca),
  cert: fs.readFileSync(cfg.cert),
  key: fs.readFileSync(cfg.key),
  requestCert: true,
  rejectUnauthorized: true,
  minVersion: 'TLSv1.3',
  allowHTTP1: false,
});
server.on('tlsClientError', (e) => process.stderr.write('tls client error: ' + e.message + '\n'));
server.on('stream', (stream, headers) => {
  const socket = stream.session.socket;
  const seen = {
    method: headers[':method'],
    authority: headers[':authority'],
    forwarded: headers['forwarded'],
    traceparent: headers['traceparent'],
    baggage: headers['baggage'],
    peer: socket.getPeerCertificate().subjectaltname,
    alpn: socket.alpnProtocol,
    protocol: socket.getProtocol(),
  };
  print({ connect: seen });
  const target = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(seen.authority || '');
  if (seen.method !== 'CONNECT' || !target) {
    stream.respond({ ':status': 400 }, { endStream: true });
    return;
  }
  const upstream = net.connect(Number(target[2]), target[1], () => {
    stream.respond({ ':status': 200 });
    stream.pipe(upstream); // our FIN follows the client's, and the other way round
    upstream.pipe(stream);
  });
  upstream.on('error', (e) => {
    process.stderr.write('upstream ' + seen.authority + ': ' + e.message + '\n');
    stream.close(http2.constants.NGHTTP2_CONNECT_ERROR);
  });
  stream.on('error', (e) => { process.stderr.write('stream: ' + e.message + '\n'); upstream.destroy(); });
});
server.on('error', (e) => { process.stderr.write('server: ' + e.message + '\n'); process.exit(1); });
server.listen(0, cfg.host, () => print({ listening: server.address().port }));
