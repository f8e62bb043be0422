// Runs a Node server program (an emulator's CLI) with every listen() on a wildcard address moved to
// one loopback address, and reports the ports it listens on.
//
//   node loopback.cjs <package-dir> <entry.js> [program arguments...]
//
// kinesalite's CLI and kinesis-local (kinesis-mock) listen on every address (listen(port) and
// "0.0.0.0"); the tests must never open a port beyond the machine. The program runs from its own
// package folder (kinesis-local reads server.json from there) with process.argv as if started
// directly.
//
// Environment:
//   SLUICE_BIND         address to listen on (default 127.0.0.1)
//   SLUICE_PORTS_FILE   if set, each port bound is appended there, one per line, once listening
//   SLUICE_ANY_PORT     "1": every listen() gets port 0 (the kernel picks a free one) whatever the
//                       program asked for (kinesalite's CLI turns --port 0 into its default 4567)
"use strict";
const net = require("node:net");
const fs = require("node:fs");
const path = require("node:path");

const bind = process.env.SLUICE_BIND || "127.0.0.1";
const wildcard = new Set([undefined, null, "", "0.0.0.0", "::", "localhost"]);
const portsFile = process.env.SLUICE_PORTS_FILE;
const anyPort = process.env.SLUICE_ANY_PORT === "1";

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
    const [first] = args;
    if (first !== null && typeof first === "object" && !Array.isArray(first) && first.path == null) {
        if (wildcard.has(first.host)) args[0] = { ...first, host: bind };
        if (anyPort) args[0] = { ...args[0], port: 0 };
    } else if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
        if (anyPort) args[0] = 0;
        // listen(port[, host][, backlog][, cb])
        if (typeof args[1] !== "string" || wildcard.has(args[1])) {
            args.splice(1, typeof args[1] === "string" ? 1 : 0, bind);
        }
    }
    this.once("listening", () => {
        const a = this.address();
        if (a.address !== bind) {
            console.error(`loopback: a server listens on ${a.address}, not ${bind}; refusing to run`);
            process.exit(3);
        }
        if (portsFile) fs.appendFileSync(portsFile, `${a.port}\n`);
    });
    return listen.apply(this, args);
};

const [dir, entry, ...rest] = process.argv.slice(2);
if (!dir || !entry) {
    console.error("usage: node loopback.cjs <package-dir> <entry.js> [arguments...]");
    process.exit(2);
}
process.chdir(dir);
const program = path.resolve(entry);
process.argv = [process.argv[0], program, ...rest];
require(program);
