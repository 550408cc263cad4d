// Baseline (b): a minimal Node.js SSE broadcaster, for comparison in bench/fanout.py.
// GET /events holds a client; POST /tick (from the benchmark's publisher, once per tick it
// has committed to the store) is written to every client as its own SSE event. Node cannot
// read SQLite here without a native module this offline machine cannot build, so the
// publisher pushes the ticks to it instead.
"use strict";
const http = require("http");
const clients = new Set();
const port = Number(process.argv[2] || 8100);

http
  .createServer((req, res) => {
    if (req.method === "GET" && req.url.startsWith("/events")) {
      res.writeHead(200, {
        "Content-Type": "text/event-stream",
        "Cache-Control": "no-store",
        Connection: "keep-alive",
      });
      res.write(": connected\n\n");
      clients.add(res);
      req.on("close", () => clients.delete(res));
      return;
    }
    if (req.method === "POST" && req.url === "/tick") {
      let body = "";
      req.on("data", (chunk) => (body += chunk));
      req.on("end", () => {
        const tick = JSON.parse(body);
        const message =
          `data: <article id="tile-${tick.symbol}" data-tick-id="${tick.id}" hx-swap-oob="true">` +
          `<span class="tile-price">${tick.price.toFixed(2)}</span></article>\n\n`;
        for (const client of clients) client.write(message);
        res.writeHead(204);
        res.end();
      });
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
