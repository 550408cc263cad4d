// Reference for bench/ingest.py: POST /api/ticks on Node.js with better-sqlite3, into the
// dashboard's own SQLite file (same schema, WAL). It does what a lean hand-written endpoint
// does: checks the bearer token against api_token (by SHA-256, as the dashboard stores it),
// reads a JSON array (or one object) of {symbol, price, ts?}, looks the symbols up, and
// inserts every tick in one transaction; it answers {"ids": [...]}.
//     node ticks.js DATABASE_FILE PORT
"use strict";
const http = require("http");
const crypto = require("crypto");
const Database = require("better-sqlite3");

const db = new Database(process.argv[2]);
db.pragma("journal_mode = WAL");
db.pragma("busy_timeout = 30000");
db.pragma("synchronous = NORMAL"); // as the dashboard sets it
const port = Number(process.argv[3] || 8200);

const tokenOk = db.prepare(
  "SELECT 1 FROM api_token WHERE token_hash = ? AND revoked_at IS NULL"
);
const instrument = db.prepare(
  "SELECT id FROM instrument WHERE symbol = ? AND retired_at IS NULL"
);
const insert = db.prepare(
  "INSERT INTO tick (instrument_id, price, ts, received_at) VALUES (?, ?, ?, ?)"
);

// The store's timestamp text: UTC, "YYYY-MM-DD HH:MM:SS.ffffff" (as SQLAlchemy writes it).
const stored = (date) => date.toISOString().replace("T", " ").replace("Z", "000");

const write = db.transaction((ticks) => {
  const ids = [];
  const received = stored(new Date());
  const known = new Map();
  for (const tick of ticks) {
    let id = known.get(tick.symbol);
    if (id === undefined) {
      const row = instrument.get(tick.symbol);
      if (row === undefined) throw new Error(`unknown symbol ${tick.symbol}`);
      id = row.id;
      known.set(tick.symbol, id);
    }
    const ts = tick.ts ? stored(new Date(tick.ts)) : received;
    ids.push(Number(insert.run(id, tick.price, ts, received).lastInsertRowid));
  }
  return ids;
});

function answer(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
  });
  res.end(text);
}

http
  .createServer((req, res) => {
    if (req.method === "POST" && req.url.startsWith("/api/ticks")) {
      const chunks = [];
      req.on("data", (chunk) => chunks.push(chunk));
      req.on("end", () => {
        const auth = req.headers.authorization || "";
        const token = auth.startsWith("Bearer ") ? auth.slice(7).trim() : "";
        const digest = crypto.createHash("sha256").update(token).digest("hex");
        if (!token || tokenOk.get(digest) === undefined) return answer(res, 401, {});
        let ticks;
        try {
          ticks = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch (error) {
          return answer(res, 422, { detail: String(error) });
        }
        if (!Array.isArray(ticks)) ticks = [ticks];
        for (const tick of ticks) {
          if (
            typeof tick !== "object" || tick === null ||
            typeof tick.symbol !== "string" ||
            typeof tick.price !== "number" || !(tick.price > 0) || !isFinite(tick.price)
          ) {
            return answer(res, 422, { detail: "bad tick" });
          }
        }
        try {
          answer(res, 200, { ids: write(ticks) });
        } catch (error) {
          answer(res, 422, { detail: String(error.message) });
        }
      });
      return;
    }
    if (req.method === "GET" && req.url === "/healthz") return answer(res, 200, { status: "ok" });
    res.writeHead(404);
    res.end();
  })
  .listen(port, "127.0.0.1");
