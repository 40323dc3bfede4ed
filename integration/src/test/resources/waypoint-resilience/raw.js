// A raw HTTP/1.1 client for WaypointResilienceTest, for requests curl will not send as written
// (a fragment, unnormalized paths, smuggling framings, oversized heads). Node's standard library.
//   node raw.js HOST PORT CASE...    one connection per case, in order; one line per case:
//                                    "<case>\t<status or ERR/TIMEOUT>\t<first line of the body>"
// Cases: big-headers (one 61 KiB header), headers-59k (one 59 KiB header, the control),
//   many-headers (101 header lines with Host), headers-100 (100, the control), cl-te
//   (Content-Length and Transfer-Encoding: chunked), dup-cl (two different Content-Lengths),
//   path:<raw path> (a GET of that path exactly as written).
'use strict';
const net = require('net');

const [host, port, ...cases] = process.argv.slice(2);

function request(name) {
  const head = (method, path, headers) => [`${method} ${path} HTTP/1.1`, `Host: ${host}:${port}`,
    ...headers, 'Connection: close', '', ''].join('\r\n');
  const numbered = (n) => Array.from({length: n}, (_, i) => `x-h-${i}: v`);
  if (name === 'big-headers') return head('GET', '/hostile/big', [`x-big: ${'a'.repeat(61 * 1024)}`]);
  if (name === 'headers-59k') return head('GET', '/control/big', [`x-big: ${'a'.repeat(59 * 1024)}`]);
  // Host and Connection are two of the lines: 99 more make 101, 98 more make 100.
  if (name === 'many-headers') return head('GET', '/hostile/many', numbered(99));
  if (name === 'headers-100') return head('GET', '/control/many', numbered(98));
  if (name === 'cl-te') {
    return head('POST', '/hostile/cl-te', ['Content-Length: 4', 'Transfer-Encoding: chunked']) + '0\r\n\r\n';
  }
  if (name === 'dup-cl') return head('POST', '/hostile/dup-cl', ['Content-Length: 4', 'Content-Length: 5']) + 'abcde';
  if (name.startsWith('path:')) return head('GET', name.substring(5), []);
  throw new Error(`unknown case ${name}`);
}

function run(name) {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    let done = false;
    const finish = (status) => {
      if (done) return;
      done = true;
      const text = got.toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      const split = text.indexOf('\r\n\r\n');
      let rest = split >= 0 ? text.substring(split + 4) : '';
      // A streamed body comes chunked (Envoy forwards it so): skip the first chunk's size line.
      if (split >= 0 && /\r\ntransfer-encoding:\s*chunked/i.test(text.substring(0, split))) {
        const nl = rest.indexOf('\r\n');
        rest = nl >= 0 ? rest.substring(nl + 2) : '';
      }
      const body = rest.split('\n')[0].trim();
      console.log(`${name}\t${m ? m[1] : status}\t${body}`);
      socket.destroy();
      resolve();
    };
    const socket = net.connect(Number(port), host, () => socket.write(request(name)));
    socket.on('data', (d) => { got = Buffer.concat([got, d]); });
    socket.on('end', () => finish('EOF'));
    socket.on('error', (e) => finish(`ERR-${e.code || e.message}`));
    socket.setTimeout(8000, () => finish('TIMEOUT'));
  });
}

(async () => {
  for (const c of cases) {
    await run(c);
  }
})();
