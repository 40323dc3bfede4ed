// The backend of the waypoint tests: one Node.js process per pod, Node's standard library only.
//   8080  HTTP/1.1   8081  HTTP/2 cleartext (prior knowledge)   50051  gRPC (unary, hand-framed)
//   9000  TCP echo (greets with the pod name)
// Every HTTP answer names the pod and its version (env VERSION) so the tests can count
// where the waypoint sent each request. Paths:
//   /            200 "<version> <pod>"
//   /headers     200, the request's headers as JSON (plus "version" and "pod")
//   /flaky       fails (503) two calls in three, counted per pod
//   /sleep?ms=N  answers after N ms
//   /status/N    answers status N
//   /seen        how many requests arrived with a Host ending in "-shadow" (mirrors)
//   any request with "Upgrade: websocket" is switched to a raw echo after a 101.
'use strict';
const http = require('http');
const http2 = require('http2');
const net = require('net');
const crypto = require('crypto');

const pod = process.env.POD_NAME || 'unknown';
const version = process.env.VERSION || 'v0';
let calls = 0;
let shadowSeen = 0;

function answer(method, path, headers, respond) {
  const host = String(headers[':authority'] || headers.host || '');
  if (host.replace(/:\d+$/, '').endsWith('-shadow')) {
    shadowSeen++;
  }
  const url = new URL(path, 'http://x');
  if (url.pathname === '/headers') {
    return respond(200, JSON.stringify(Object.assign({version, pod}, headers)) + '\n');
  }
  if (url.pathname === '/flaky') {
    calls++;
    return calls % 3 === 0 ? respond(200, `${version} ${pod} ok\n`) : respond(503, `${version} ${pod} failing\n`);
  }
  if (url.pathname === '/sleep') {
    const ms = Number(url.searchParams.get('ms') || '1000');
    return setTimeout(() => respond(200, `${version} ${pod} slept ${ms}\n`), ms);
  }
  if (url.pathname.startsWith('/status/')) {
    return respond(Number(url.pathname.substring(8)), `${version} ${pod} status\n`);
  }
  if (url.pathname === '/seen') {
    return respond(200, `${shadowSeen}\n`);
  }
  return respond(200, `${version} ${pod} ${method} ${url.pathname}\n`);
}

const h1 = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => answer(req.method, req.url, req.headers, (status, body) => {
    res.writeHead(status, {'content-type': 'text/plain', 'x-backend-version': version});
    res.end(body);
  }));
});
h1.on('upgrade', (req, socket) => {
  // WebSocket's handshake (RFC 6455 4.2.2), then the bytes are echoed raw: enough to show
  // that the waypoint passed the upgrade through and then relays both ways.
  const accept = crypto.createHash('sha1')
      .update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
      + `Sec-WebSocket-Accept: ${accept}\r\nx-backend-version: ${version}\r\n\r\n`);
  socket.pipe(socket);
});
h1.listen(8080);

const h2 = http2.createServer();
h2.on('stream', (stream, headers) => {
  stream.resume();
  stream.on('end', () => answer(headers[':method'], headers[':path'], headers, (status, body) => {
    stream.respond({':status': status, 'content-type': 'text/plain', 'x-backend-version': version});
    stream.end(body);
  }));
});
h2.listen(8081);

// gRPC unary over HTTP/2: any method; the reply message is a protobuf with field 1 (string)
// "<version> <pod>", trailers grpc-status 0. The request body is read and ignored.
const grpc = http2.createServer();
grpc.on('stream', (stream, headers) => {
  stream.on('data', () => {});
  stream.on('end', () => {
    const text = Buffer.from(`${version} ${pod}`);
    const message = Buffer.concat([Buffer.from([0x0a, text.length]), text]);
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt8(0, 0);
    frame.writeUInt32BE(message.length, 1);
    message.copy(frame, 5);
    stream.respond({':status': 200, 'content-type': 'application/grpc'}, {waitForTrailers: true});
    stream.on('wantTrailers', () => stream.sendTrailers({'grpc-status': '0'}));
    stream.end(frame);
  });
});
grpc.listen(50051);

net.createServer((socket) => {
  socket.write(`hello-from-${pod}\n`);
  socket.pipe(socket);
}).listen(9000);
