// The instrument page's live chart: history from the JSON API, then ticks over WS /ws.
(() => {
  "use strict";
  const el = document.getElementById("chart");
  if (!el || typeof uPlot === "undefined") return;
  const symbol = el.dataset.symbol;
  const decimals = Number(el.dataset.decimals);
  const maxPoints = Number(el.dataset.points) || 600;
  const priceEl = document.getElementById("instrument-price");
  const stateEl = document.getElementById("chart-state");
  const xs = [];
  const ys = [];
  let lastTickId = 0;
  let plot = null;
  let attempt = 0;

  const format = (v) => v == null ? "" : v.toLocaleString(undefined, {
    minimumFractionDigits: decimals, maximumFractionDigits: decimals });

  function setState(state) {
    stateEl.dataset.state = state;
    stateEl.textContent = state;
  }

  function add(tickId, ts, price) {
    if (tickId <= lastTickId) return;  // history and live can overlap: keep each tick once
    lastTickId = tickId;
    xs.push(Date.parse(ts) / 1000);
    ys.push(price);
    // Bounded memory: the series flows right to left and old points fall off.
    if (xs.length > maxPoints) { xs.splice(0, xs.length - maxPoints); ys.splice(0, ys.length - maxPoints); }
  }

  function size() { return { width: Math.max(el.clientWidth, 200), height: 320 }; }

  function draw() {
    el.dataset.count = String(xs.length);
    if (plot) { plot.setData([xs, ys]); return; }
    const css = getComputedStyle(document.documentElement);
    plot = new uPlot({
      ...size(),
      scales: { x: { time: true } },
      axes: [
        { stroke: css.getPropertyValue("--muted"), grid: { stroke: css.getPropertyValue("--border") } },
        { stroke: css.getPropertyValue("--muted"), grid: { stroke: css.getPropertyValue("--border") },
          values: (u, vals) => vals.map(format), size: 80 },
      ],
      series: [{}, { label: symbol, stroke: css.getPropertyValue("--accent"), width: 1.5,
        value: (u, v) => format(v) }],
      legend: { show: true },
    }, [xs, ys], el);
    window.addEventListener("resize", () => plot.setSize(size()));
  }

  async function preload() {
    const response = await fetch(`/api/prices/${encodeURIComponent(symbol)}/history?limit=${maxPoints}`);
    if (!response.ok) return;
    for (const point of await response.json()) add(point.tick_id, point.ts, point.price);
    draw();
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    ws.onopen = () => {
      attempt = 0;
      setState("live");
      ws.send(JSON.stringify({ type: "subscribe", symbols: [symbol] }));
    };
    ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type !== "price" || message.symbol !== symbol || message.price == null) return;
      add(message.tick_id, message.ts, message.price);
      priceEl.textContent = format(message.price);
      draw();
      el.dataset.lastTickId = String(lastTickId);
    };
    ws.onclose = () => {
      setState("reconnecting");
      attempt += 1;
      const delay = Math.min(30000, 500 * 2 ** (attempt - 1)) * (0.7 + Math.random() * 0.6);
      setTimeout(connect, delay);
    };
  }

  preload().finally(connect);
})();
