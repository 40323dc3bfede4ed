// TracingTest's application: one Node.js process per pod, Node's standard library only, HTTP/1.1
// on 8080. With CALL set (the frontend) each request is passed on to CALL + its path, carrying
// the trace headers as Istio's docs ask every application to (the proxies cannot tie an inbound
// request to the outbound one it causes), plus x-custom, the test's own header; the answer is
// "<pod> -> " and the callee's answer. Without CALL (the backend): "<pod> <path>".
'use strict';
const http = require('http');

const pod = process.env.POD_NAME || 'unknown';
const call = process.env.CALL || '';
const PROPAGATED = ['x-request-id', 'traceparent', 'tracestate', 'x-b3-traceid', 'x-b3-spanid',
  'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags', 'b3', 'x-custom'];
// A connection per call: a proxy keeps the configuration a connection started with (as Envoy
// does until it drains), and the test changes the Telemetry between requests.
const agent = false;

function reply(res, status, body) {
  res.writeHead(status, {'content-type': 'text/plain'});
  res.end(body);
}

http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (!call) {
      return reply(res, 200, `${pod} ${req.url}\n`);
    }
    const headers = {};
    for (const h of PROPAGATED) {
      if (req.headers[h] !== undefined) headers[h] = req.headers[h];
    }
    const out = http.get(call + req.url, {headers, agent, timeout: 5000}, (up) => {
      let body = '';
      up.setEncoding('utf8');
      up.on('data', (d) => { body += d; });
      up.on('end', () => reply(res, up.statusCode, `${pod} -> ${body}`));
    });
    out.on('timeout', () => out.destroy(new Error('timeout')));
    out.on('error', (e) => reply(res, 502, `${pod} -> error ${e.message}\n`));
  });
}).listen(8080);
