// Counts the bytes PouchDB's replication moves, for bench/peer_compare.py.
//
//   node -r /path/to/bench/pouchdb_wire.cjs bench.js N
//
// Loaded into the harness's client process only (its server child runs without it): every TCP
// socket the process opens is kept, and each PouchDB.replicate / PouchDB.sync call prints one
// JSON line {"wire_call": k, "kind", "bytes_sent", "bytes_received"} with what the process's
// sockets wrote and read while that call ran. Socket bytes include HTTP headers, as a phone's
// radio carries them; Fieldline's side counts the same (bench/real_workload.py WireMeter).
'use strict';

const net = require('net');
const path = require('path');

if (path.basename(process.argv[1] || '') === 'bench.js') {
  const sockets = new Set();
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (...args) {
    sockets.add(this);
    return connect.apply(this, args);
  };
  const totals = () => {
    let sent = 0;
    let received = 0;
    for (const socket of sockets) {
      sent += socket.bytesWritten || 0;
      received += socket.bytesRead || 0;
    }
    return [sent, received];
  };

  const PouchDB = require(require.resolve('pouchdb-node', { paths: [process.cwd()] }));
  let calls = 0;
  for (const kind of ['replicate', 'sync']) {
    const original = PouchDB[kind];
    PouchDB[kind] = function (...args) {
      const call = ++calls;
      const [sent0, received0] = totals();
      const report = () => {
        const [sent, received] = totals();
        process.stdout.write(
          JSON.stringify({
            wire_call: call,
            kind,
            bytes_sent: sent - sent0,
            bytes_received: received - received0,
          }) + '\n'
        );
      };
      const running = original.apply(this, args);
      // replicate/sync return an event emitter that is also a promise.
      running.then(report, report);
      return running;
    };
  }
}
