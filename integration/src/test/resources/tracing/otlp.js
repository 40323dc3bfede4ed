// TracingTest's OTLP/HTTP receiver: takes POST /v1/traces (ExportTraceServiceRequest, protobuf)
// as a collector does, answering 200 with an empty ExportTraceServiceResponse, and keeps each
// body; GET /_received answers them as a JSON array of base64 strings, for the test to decode.
'use strict';
const http = require('http');

const received = [];
http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.method === 'POST' && req.url === '/v1/traces') {
      if (received.length < 10000) received.push(Buffer.concat(chunks).toString('base64'));
      res.writeHead(200, {'content-type': 'application/x-protobuf', 'content-length': 0});
      return res.end();
    }
    if (req.method === 'GET' && req.url === '/_received') {
      res.writeHead(200, {'content-type': 'application/json'});
      return res.end(JSON.stringify(received));
    }
    res.writeHead(404);
    res.end();
  });
}).listen(4318);
