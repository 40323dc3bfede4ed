// Clients the waypoint tests run inside meshed pods (besides curl):
//   node client.js h2 http://host:port/path N      N requests on one HTTP/2 (h2c) session;
//                                                 one line each: "<status> <body>"
//   node client.js grpc host:port N                N unary calls with @grpc/grpc-js (the
//                                                 real gRPC library, NODE_PATH points at it);
//                                                 one line each: "OK <reply>" or "ERR <code> <details>"
//   node client.js ws host:port/path              a WebSocket handshake, then "ping" sent raw;
//                                                 prints the status line and what came back
'use strict';
const http2 = require('http2');
const net = require('net');
const crypto = require('crypto');

const [mode, target, count] = process.argv.slice(2);
const n = Number(count || '1');

function h2() {
  const url = new URL(target);
  const session = http2.connect(url.origin);
  session.on('error', (e) => { console.log(`ERR ${e.code || e.message}`); process.exitCode = 1; });
  let left = n;
  const one = () => {
    const req = session.request({':path': url.pathname + url.search});
    let status = 0;
    let body = '';
    req.on('response', (h) => { status = h[':status']; });
    req.setEncoding('utf8');
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      console.log(`${status} ${body.trim()}`);
      if (--left > 0) one(); else session.close();
    });
    req.on('error', (e) => { console.log(`ERR ${e.code || e.message}`); if (--left > 0) one(); else session.close(); });
    req.end();
  };
  one();
}

function grpcCalls() {
  const grpc = require('@grpc/grpc-js');
  // No .proto: the method is called with hand-written (de)serializers, a string in field 1.
  const encode = (s) => { const b = Buffer.from(s); return Buffer.concat([Buffer.from([0x0a, b.length]), b]); };
  const decode = (b) => b.length > 2 ? b.subarray(2, 2 + b[1]).toString() : '';
  const Client = grpc.makeGenericClientConstructor({
    Hello: {path: '/ambit.test.Echo/Hello', requestStream: false, responseStream: false,
      requestSerialize: encode, requestDeserialize: decode, responseSerialize: encode, responseDeserialize: decode},
  }, 'Echo');
  const client = new Client(target, grpc.credentials.createInsecure());
  let left = n;
  const one = () => client.Hello('hi', (err, reply) => {
    console.log(err ? `ERR ${err.code} ${err.details}` : `OK ${reply}`);
    if (--left > 0) one(); else client.close();
  });
  one();
}

function ws() {
  const slash = target.indexOf('/');
  const [host, port] = target.substring(0, slash).split(':');
  const key = crypto.randomBytes(16).toString('base64');
  const socket = net.connect(Number(port), host, () => {
    socket.write(`GET ${target.substring(slash)} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\n`
        + `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  });
  let got = '';
  let sent = false;
  socket.setEncoding('utf8');
  socket.on('data', (d) => {
    got += d;
    if (!sent && got.includes('\r\n\r\n')) {
      sent = true;
      console.log(got.split('\r\n')[0]);
      got = got.substring(got.indexOf('\r\n\r\n') + 4);
      socket.write('ping');
    }
    if (sent && got.includes('ping')) {
      console.log(`echo ${got}`);
      socket.end();
    }
  });
  socket.setTimeout(5000, () => { console.log('ERR timeout'); process.exitCode = 1; socket.destroy(); });
  socket.on('error', (e) => { console.log(`ERR ${e.code || e.message}`); process.exitCode = 1; });
}

({h2, grpc: grpcCalls, ws})[mode]();
