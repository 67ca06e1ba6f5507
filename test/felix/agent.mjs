// The stand-in for a pod's containers (and for the worker's and the VPC hosts' processes): started by the Felix
// harness inside one network namespace (`ip netns exec NS node agent.mjs ...`), it
//   - listens on every given port for TCP, UDP and (when the kernel has it) SCTP, answering each connection or
//     datagram with its identity, so a probe knows which endpoint it reached;
//   - takes probe requests from the harness over a UNIX socket (a file, so it crosses network namespaces) and
//     opens a NEW connection for each (a fresh source port, so conntrack never carries an old verdict over);
//   - fetches plain HTTP from its own namespace's loopback (Felix's health and metrics endpoints).
// Plain JavaScript, so it starts in milliseconds without a TypeScript loader; the harness is
// test/felix/environment.ts. Usage: node agent.mjs CONTROL_SOCKET IDENTITY PORTS(comma-separated) SCTP(0|1)
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { get } from 'node:http';
import { connect, createServer } from 'node:net';
import { rmSync } from 'node:fs';
import process from 'node:process';
import { clearTimeout, setTimeout } from 'node:timers';

const [controlSocket, identity, portList, sctpFlag] = process.argv.slice(2);
if (!controlSocket || !identity) {
  process.stderr.write('usage: agent.mjs CONTROL_SOCKET IDENTITY PORTS SCTP(0|1)\n');
  process.exit(2);
}
const ports = (portList ?? '')
  .split(',')
  .filter(Boolean)
  .map((p) => Number(p));
const sctp = sctpFlag === '1';
const reply = `${identity}\n`;
const children = [];

function listenTcp(port) {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.end(reply);
    });
    server.on('error', reject);
    server.listen({ port, host: '0.0.0.0' }, resolve);
  });
}

function listenUdp(port) {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.on('error', reject);
    socket.on('message', (_msg, from) => socket.send(reply, from.port, from.address));
    socket.bind(port, '0.0.0.0', resolve);
  });
}

function listenSctp(port) {
  // Node has no SCTP sockets; socat answers each association with the identity.
  const child = spawn('socat', [`SCTP-LISTEN:${port},fork,reuseaddr`, `SYSTEM:echo ${identity}`], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
}

/** One probe: resolves 'allow' with the identity that answered, 'deny' on timeout, 'refused' on RST/ICMP. */
function probeTcp(address, port, timeoutMs) {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port });
    let data = '';
    const done = (result) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done({ observed: 'deny', detail: 'timeout' }), timeoutMs);
    socket.on('data', (d) => {
      data += d.toString();
      if (data.includes('\n')) done({ observed: 'allow', peer: data.trim() });
    });
    socket.on('error', (err) =>
      done({ observed: err.code === 'ECONNREFUSED' ? 'refused' : 'error', detail: err.code ?? String(err) }),
    );
    socket.on('end', () => done({ observed: data ? 'allow' : 'error', peer: data.trim(), detail: 'closed' }));
  });
}

function probeUdp(address, port, timeoutMs) {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    const done = (result) => {
      clearTimeout(timer);
      socket.close();
      resolve(result);
    };
    const timer = setTimeout(() => done({ observed: 'deny', detail: 'timeout' }), timeoutMs);
    socket.on('message', (msg) => done({ observed: 'allow', peer: msg.toString().trim() }));
    socket.on('error', (err) =>
      done({ observed: err.code === 'ECONNREFUSED' ? 'refused' : 'error', detail: err.code ?? String(err) }),
    );
    socket.connect(port, address, () => socket.send('probe\n'));
  });
}

function probeSctp(address, port, timeoutMs) {
  return new Promise((resolve) => {
    const seconds = (timeoutMs / 1000).toFixed(2);
    const child = spawn(
      'socat',
      ['-T', seconds, '-t', seconds, 'STDIO', `SCTP-CONNECT:${address}:${port},connect-timeout=${seconds}`],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d.toString()));
    child.stderr.on('data', (d) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 500);
    child.on('exit', () => {
      clearTimeout(timer);
      if (out.trim()) resolve({ observed: 'allow', peer: out.trim() });
      else if (/refused/i.test(err)) resolve({ observed: 'refused', detail: err.trim() });
      else resolve({ observed: 'deny', detail: err.trim() || 'timeout' });
    });
    child.stdin.end();
  });
}

function httpGet(url, timeoutMs) {
  return new Promise((resolve) => {
    const req = get(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 0, body: String(err) }));
  });
}

async function handle(request) {
  const timeoutMs = Math.min(Math.max(Number(request.timeoutMs) || 1000, 50), 10_000);
  switch (request.op) {
    case 'probe': {
      const started = Date.now();
      const probe = request.protocol === 'TCP' ? probeTcp : request.protocol === 'UDP' ? probeUdp : probeSctp;
      const result = await probe(request.address, Number(request.port), timeoutMs);
      return { ...result, ms: Date.now() - started };
    }
    case 'http':
      return httpGet(request.url, timeoutMs);
    default:
      return { error: `unknown op ${String(request.op)}` };
  }
}

async function main() {
  for (const port of ports) {
    await listenTcp(port);
    await listenUdp(port);
    if (sctp) listenSctp(port);
  }
  rmSync(controlSocket, { force: true });
  const control = createServer((conn) => {
    let buffered = '';
    conn.on('error', () => undefined);
    conn.on('data', (chunk) => {
      buffered += chunk.toString();
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf('\n');
        const request = JSON.parse(line);
        handle(request).then(
          (result) => conn.write(`${JSON.stringify({ id: request.id, ...result })}\n`),
          (err) => conn.write(`${JSON.stringify({ id: request.id, error: String(err) })}\n`),
        );
      }
    });
  });
  control.listen(controlSocket, () => process.stdout.write(`ready ${identity}\n`));
}

function shutdown() {
  for (const child of children) child.kill('SIGTERM');
  rmSync(controlSocket, { force: true });
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

main().catch((err) => {
  process.stderr.write(`agent ${identity}: ${String(err)}\n`);
  for (const child of children) child.kill('SIGTERM');
  process.exit(1);
});
