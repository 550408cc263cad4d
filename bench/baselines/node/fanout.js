// The Node.js reference of the dashboard's own design, for bench/fanout.py ("node-same"):
// read the same SQLite store every 100 ms (better-sqlite3), keep the newest tick of each
// symbol, and write ONE message per poll, holding one quote per changed symbol in the very
// markup the dashboard sends pages (templates/partials/tile_parts.html), to every open
// /events stream. Same store, same design, same bytes: what is left to compare is the cost
// of the runtime and the code around it.
//
//     node fanout.js PORT /path/to/store.db
"use strict";
const http = require("http");
const Database = require("better-sqlite3");

const port = Number(process.argv[2] || 8101);
const db = new Database(process.argv[3], { readonly: true, fileMustExist: true });
db.pragma("busy_timeout = 1000");
const newTicks = db.prepare(
  "SELECT t.id AS id, t.price AS price, i.symbol AS symbol FROM tick t " +
    "JOIN instrument i ON i.id = t.instrument_id WHERE t.id > ? ORDER BY t.id LIMIT 10000",
);
const last = db.prepare("SELECT max(id) AS id FROM tick");

const clients = new Set();
const latest = new Map(); // symbol -> its quote's markup, for a new stream's first message
const reference = new Map(); // symbol -> the first price seen: what change is against
let cursor = last.get().id || 0;

// The dashboard's number rules (dashboard/prices/tiles.py) for a 2-decimal instrument.
const two = { minimumFractionDigits: 2, maximumFractionDigits: 2 };
function signed(value, text) {
  return value > 0 ? `+${text}` : value < 0 ? `\u2212${text}` : text;
}
function quote(symbol, price) {
  const ref = reference.get(symbol);
  const change = price - ref;
  const percent = (change / ref) * 100;
  const trend = change > 0 ? " class=up" : change < 0 ? " class=down" : "";
  return (
    `<p id=q-${symbol}${trend} hx-swap-oob=true><b>${price.toLocaleString("en-US", two)}</b>` +
    `<i>${signed(change, Math.abs(change).toLocaleString("en-US", two))}</i>` +
    `<i>${signed(percent, `${Math.abs(percent).toFixed(2)}%`)}</i></p>`
  );
}

function poll() {
  const rows = newTicks.all(cursor);
  if (rows.length === 0) return;
  cursor = rows[rows.length - 1].id;
  const changed = new Map();
  for (const row of rows) {
    if (!reference.has(row.symbol)) reference.set(row.symbol, row.price);
    changed.set(row.symbol, row.price);
  }
  let data = "";
  for (const [symbol, price] of changed) {
    const markup = quote(symbol, price);
    latest.set(symbol, markup);
    data += markup;
  }
  const message = Buffer.from(`data: ${data}\n\n`); // encoded once, written to every client
  for (const client of clients) client.write(message);
}
setInterval(poll, 100);
setInterval(() => {
  for (const client of clients) client.write(": ping\n\n");
}, 15000);

http
  .createServer((req, res) => {
    if (req.method === "GET" && req.url.startsWith("/events")) {
      res.writeHead(200, {
        "Content-Type": "text/event-stream",
        "Cache-Control": "no-store",
        Connection: "keep-alive",
      });
      res.write(`data: ${[...latest.values()].join("")}\n\n`);
      clients.add(res);
      req.on("close", () => clients.delete(res));
      return;
    }
    if (req.method === "GET" && req.url === "/healthz") {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end('{"status":"ok"}');
      return;
    }
    res.writeHead(404);
    res.end();
  })
  .listen(port, "127.0.0.1");
