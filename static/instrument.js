// The instrument page's chart: closes of OHLC bars from GET /api/prices/{symbol}/bars for
// the chosen timeframe, and the live tail from WS /ws (each tick moves the last bar's close,
// or opens the next bar).
(() => {
  "use strict";
  const el = document.getElementById("chart");
  if (!el || typeof uPlot === "undefined") return;
  const symbol = el.dataset.symbol;
  const decimals = Number(el.dataset.decimals);
  const priceEl = document.getElementById("instrument-price");
  const stateEl = document.getElementById("chart-state");
  const emptyEl = document.getElementById("chart-empty");
  const changeEl = document.getElementById("instrument-change");
  const staleEl = document.getElementById("instrument-stale");
  const highEl = document.getElementById("ohlc-high");
  const lowEl = document.getElementById("ohlc-low");
  const buttons = Array.from(document.querySelectorAll("[data-timeframe]"));
  // Each timeframe: the bars' resolution (its length in seconds) and how far back it reaches.
  const TIMEFRAMES = {
    "1H": { resolution: "1m", seconds: 60, span: 3600 },
    "1D": { resolution: "5m", seconds: 300, span: 86400 },
    "1W": { resolution: "1h", seconds: 3600, span: 7 * 86400 },
    "1M": { resolution: "1h", seconds: 3600, span: 30 * 86400 },
    "1Y": { resolution: "1d", seconds: 86400, span: 365 * 86400 },
    "All": { resolution: "1d", seconds: 86400, span: null },
  };
  const STORAGE_KEY = "dashboard.chart-timeframe";
  let timeframe = "1D";
  let xs = [];
  let ys = [];
  let lastTickId = 0;
  let plot = null;
  let attempt = 0;
  let loading = 0;

  // The server's rule (dashboard/prices/tiles.py: format_price), so a live figure never
  // disagrees with the ones rendered around it: en-US grouping whatever the browser's
  // locale, the instrument's decimals, and below 1 at least 4 significant digits.
  function format(v) {
    if (v == null) return "";
    const magnitude = Math.abs(v);
    let places = decimals;
    if (magnitude > 0 && magnitude < 1) {
      const first = -Math.floor(Math.log10(magnitude));
      places = Math.max(decimals, Math.min(12, first + 3));
    }
    return v.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: places });
  }

  function setState(state) {
    stateEl.dataset.state = state;
    stateEl.textContent = state;
  }

  // Wide enough for the longest price label (uPlot's fixed default clips "175,000.00").
  function axisWidth(u, values) {
    if (!values) return 60;
    const longest = Math.max(...values.map((v) => String(v).length));
    return Math.ceil(longest * 7.5) + 18;
  }

  function size() { return { width: Math.max(el.clientWidth, 200), height: 320 }; }

  function xRange(u, min, max) {
    const frame = TIMEFRAMES[timeframe];
    const now = Date.now() / 1000;
    if (frame.span) return [now - frame.span, now + frame.seconds];
    if (min == null) return [now - frame.seconds, now + frame.seconds];
    return min === max ? [min - frame.seconds, max + frame.seconds] : [min, max];
  }

  function draw() {
    el.dataset.count = String(xs.length);
    emptyEl.hidden = xs.length > 0;
    el.dataset.timeframe = timeframe;
    el.dataset.lastClose = ys.length ? String(ys[ys.length - 1]) : "";
    if (plot) { plot.setData([xs, ys]); return; }
    const css = getComputedStyle(document.documentElement);
    plot = new uPlot({
      ...size(),
      // The timeframe's whole window, not just the span of its bars: one bar of last year
      // drawn across a scale running years into the future said nothing.
      scales: { x: { time: true, range: xRange } },
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),  // UTC, as the tiles say
      axes: [
        { stroke: css.getPropertyValue("--muted"), grid: { stroke: css.getPropertyValue("--border") } },
        { stroke: css.getPropertyValue("--muted"), grid: { stroke: css.getPropertyValue("--border") },
          values: (u, vals) => vals.map(format), size: axisWidth },
      ],
      series: [{ label: "Time (UTC)" }, { label: `${symbol} close`, stroke: css.getPropertyValue("--accent"), width: 1.5,
        value: (u, v) => format(v) }],
      legend: { show: true },
    }, [xs, ys], el);
    window.addEventListener("resize", () => plot.setSize(size()));
  }

  async function fetchBars(name) {
    const frame = TIMEFRAMES[name];
    const params = new URLSearchParams({ resolution: frame.resolution, limit: "5000" });
    if (frame.span) params.set("from", new Date(Date.now() - frame.span * 1000).toISOString());
    const response = await fetch(`/api/prices/${encodeURIComponent(symbol)}/bars?${params}`);
    return response.ok ? response.json() : null;
  }

  function show(name, bars) {
    timeframe = name;
    xs = bars.map((bar) => Date.parse(bar.start) / 1000);
    ys = bars.map((bar) => bar.close);
    for (const button of buttons) {
      button.setAttribute("aria-pressed", String(button.dataset.timeframe === name));
    }
    draw();
  }

  async function load(name) {
    const mine = ++loading;
    el.setAttribute("aria-busy", "true");
    const bars = await fetchBars(name);
    if (mine !== loading) return;  // a later choice won
    el.removeAttribute("aria-busy");
    if (bars) show(name, bars);
  }

  // Without a remembered choice: the last day if it holds a line, else the last hour (a
  // store that started minutes ago), else all of the history (imported from long ago).
  async function loadFirst() {
    const mine = ++loading;
    let best = null;
    for (const name of ["1D", "1H", "All"]) {
      const bars = await fetchBars(name);
      if (mine !== loading) return;  // the viewer chose a timeframe meanwhile
      if (bars && bars.length >= 2) return show(name, bars);
      if (bars && (!best || bars.length > best[1].length)) best = [name, bars];
    }
    if (best) show(...best);
  }

  // Change and % against the server's reference price, written as the server writes them
  // (dashboard/prices/tiles.py: format_change, format_percent): a true minus, a sign.
  function showChange(price, reference) {
    if (reference == null) return;
    const change = price - reference;
    const sign = change > 0 ? "+" : change < 0 ? "\u2212" : "";
    const percent = reference ? change / reference * 100 : 0;
    changeEl.querySelector(".change").textContent = sign + format(Math.abs(change));
    changeEl.querySelector(".percent").textContent =
      (percent > 0 ? "+" : percent < 0 ? "\u2212" : "") + Math.abs(percent).toFixed(2) + "%";
    changeEl.className = `tile-change trend-${change > 0 ? "up" : change < 0 ? "down" : "flat"}`;
    changeEl.hidden = false;
  }

  // The window's high and low take in every live price (its open stays: it is the past).
  function widenWindow(price) {
    for (const [cell, wider] of [[highEl, (a, b) => a > b], [lowEl, (a, b) => a < b]]) {
      const known = cell.dataset.value === "" ? null : Number(cell.dataset.value);
      if (known == null || wider(price, known)) {
        cell.dataset.value = String(price);
        cell.textContent = format(price);
      }
    }
  }

  function addTick(tickId, ts, price) {
    if (tickId <= lastTickId) return;  // the snapshot and live ticks can repeat one
    lastTickId = tickId;
    const frame = TIMEFRAMES[timeframe];
    const bucket = Math.floor(Date.parse(ts) / 1000 / frame.seconds) * frame.seconds;
    const last = xs.length - 1;
    if (last >= 0 && bucket === xs[last]) {
      ys[last] = price;
    } else if (last < 0 || bucket > xs[last]) {
      xs.push(bucket);
      ys.push(price);
      if (frame.span) {  // the window slides: bars older than it fall off the left
        const from = bucket - frame.span;
        while (xs.length && xs[0] < from) { xs.shift(); ys.shift(); }
      }
    } else {
      return;  // an older bar's tick (history written now): the next load shows it
    }
    draw();
  }

  for (const button of buttons) {
    button.addEventListener("click", () => {
      try { localStorage.setItem(STORAGE_KEY, button.dataset.timeframe); } catch (e) { /* private mode */ }
      load(button.dataset.timeframe);
    });
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
      if (message.type !== "price" || message.symbol !== symbol) return;
      staleEl.hidden = !message.stale;
      if (message.price == null) return;
      priceEl.textContent = format(message.price);
      showChange(message.price, message.reference_price);
      widenWindow(message.price);
      addTick(message.tick_id, message.ts, message.price);
      el.dataset.lastTickId = String(lastTickId);
    };
    ws.onclose = () => {
      setState("reconnecting");
      attempt += 1;
      const delay = Math.min(30000, 500 * 2 ** (attempt - 1)) * (0.7 + Math.random() * 0.6);
      setTimeout(connect, delay);
    };
  }

  let chosen = null;
  try { chosen = localStorage.getItem(STORAGE_KEY); } catch (e) { /* private mode */ }
  (chosen in TIMEFRAMES ? load(chosen) : loadFirst()).finally(connect);
})();
