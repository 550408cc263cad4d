// The instrument page's chart: OHLC bars from GET /api/prices/{symbol}/bars for the chosen
// timeframe, as candles or a line of closes, and the live tail from the page's one stream
// (/events?chart=SYMBOL: named "price" events; each tick moves the last bar, or opens the
// next). Drag across it to zoom; the buttons pan, zoom and reset;
// the read-out gives the bar under the pointer; the viewer's alert levels are dashed lines.
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
  const styleButtons = Array.from(document.querySelectorAll("[data-chart-style]"));
  const readoutEl = document.getElementById("chart-readout");
  // Each timeframe: the bars' resolution (its length in seconds) and how far back it reaches.
  const TIMEFRAMES = {
    "1H": { resolution: "1m", seconds: 60, span: 3600 },
    "1D": { resolution: "5m", seconds: 300, span: 86400 },
    "1W": { resolution: "1h", seconds: 3600, span: 7 * 86400 },
    "1M": { resolution: "1h", seconds: 3600, span: 30 * 86400 },
    "1Y": { resolution: "1d", seconds: 86400, span: 365 * 86400 },
    // Its resolution follows the history's length (fetchAll): daily, hourly or 5-minute.
    "All": { resolution: "1d", seconds: 86400, span: null },
  };
  const STORAGE_KEY = "dashboard.chart-timeframe";
  const STYLE_KEY = "dashboard.chart-style";
  let timeframe = "1D";
  // The style the viewer chose (remembered, on any instrument); null: the bars decide.
  let style = null;
  // The bars: start times (s), opens, highs, lows and closes (ys).
  let xs = [];
  let opens = [];
  let highs = [];
  let lows = [];
  let ys = [];
  // The x range the viewer zoomed or panned to; null: the timeframe's whole window.
  let view = null;
  let lastTickId = 0;
  let plot = null;
  let loading = 0;

  // The page's one rule for figures and times (static/format.js): the server's, in the
  // viewer's locale and time zone, so a live figure never disagrees with those around it.
  const display = window.dashboardFormat;
  const format = (v) => (v == null ? "" : display.price(v, decimals));

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
    if (view) return view;
    const frame = TIMEFRAMES[timeframe];
    const now = Date.now() / 1000;
    if (frame.span) return [now - frame.span, now + frame.seconds];
    if (min == null) return [now - frame.seconds, now + frame.seconds];
    // To the end of the last bar: its candle is drawn across its whole length of time.
    return min === max ? [min - frame.seconds, max + frame.seconds] : [min, max + frame.seconds];
  }

  // The bars within the x range shown: [first, last] indexes, or null.
  function shown(u) {
    const { min, max } = u.scales.x;
    let first = 0;
    while (first < xs.length && xs[first] + TIMEFRAMES[timeframe].seconds <= min) first++;
    let last = xs.length - 1;
    while (last >= first && xs[last] > max) last--;
    return first <= last ? [first, last] : null;
  }

  // The price axis spans the highs and lows of the bars shown (candles need their wicks).
  function yRange(u, min, max) {
    const range = shown(u);
    if (!range) return [min ?? 0, max ?? 1];
    let low = Infinity;
    let high = -Infinity;
    for (let i = range[0]; i <= range[1]; i++) {
      low = Math.min(low, lows[i]);
      high = Math.max(high, highs[i]);
    }
    const pad = (high - low) * 0.05 || Math.abs(high) * 0.001 || 1;
    return [low - pad, high + pad];
  }

  // The viewer's alert levels (the alert list below renders them as data-level).
  function alertLevels() {
    const mine = document.querySelectorAll(`.alert-item[data-level][data-symbol="${CSS.escape(symbol)}"]`);
    return Array.from(mine, (item) => ({
      level: Number(item.dataset.level),
      armed: item.dataset.armed === "true",
    })).filter((a) => Number.isFinite(a.level));
  }

  function drawCandles(u, css) {
    const range = shown(u);
    if (!range) return;
    const ctx = u.ctx;
    const seconds = TIMEFRAMES[timeframe].seconds;
    const width = Math.abs(u.valToPos(xs[0] + seconds, "x", true) - u.valToPos(xs[0], "x", true));
    const body = Math.max(1, Math.min(width * 0.7, 24 * devicePixelRatio));
    ctx.save();
    for (let i = range[0]; i <= range[1]; i++) {
      const x = Math.round(u.valToPos(xs[i] + seconds / 2, "x", true));
      const [o, h, l, c] = [opens[i], highs[i], lows[i], ys[i]].map((v) => u.valToPos(v, "y", true));
      const colour = ys[i] >= opens[i] ? css.up : css.down;
      ctx.strokeStyle = colour;
      ctx.fillStyle = colour;
      ctx.lineWidth = devicePixelRatio;
      ctx.beginPath();
      ctx.moveTo(x, h);
      ctx.lineTo(x, l);
      ctx.stroke();
      ctx.fillRect(Math.round(x - body / 2), Math.min(o, c), Math.round(body), Math.max(devicePixelRatio, Math.abs(c - o)));
    }
    ctx.restore();
  }

  function drawAlertLevels(u, css) {
    const ctx = u.ctx;
    const { min, max } = u.scales.y;
    const left = u.bbox.left;
    const right = u.bbox.left + u.bbox.width;
    ctx.save();
    ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
    ctx.textBaseline = "middle";
    ctx.textAlign = "left";  // uPlot leaves the context as its last axis label set it
    const levels = alertLevels();
    el.dataset.alertLevels = levels.map((a) => `${a.level}${a.armed ? "" : " fired"}`).join(",");
    for (const { level, armed } of levels) {
      // A level off the scale is pinned to its edge, so an alert is never out of sight.
      const clamped = Math.min(max, Math.max(min, level));
      const y = Math.round(u.valToPos(clamped, "y", true)) + 0.5;
      ctx.strokeStyle = ctx.fillStyle = armed ? css.warn : css.muted;
      ctx.lineWidth = devicePixelRatio;
      ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(right, y);
      ctx.stroke();
      const mark = level > max ? " \u2191" : level < min ? " \u2193" : "";
      const text = `alert ${format(level)}${armed ? "" : " (fired)"}${mark}`;
      // A label on the panel's colour at the left end, readable over the candles.
      const pad = 4 * devicePixelRatio;
      const labelWidth = ctx.measureText(text).width + 2 * pad;
      const labelHeight = 16 * devicePixelRatio;
      const top = Math.min(Math.max(y - labelHeight / 2, u.bbox.top), u.bbox.top + u.bbox.height - labelHeight);
      ctx.setLineDash([]);
      ctx.fillStyle = css.panel;
      ctx.fillRect(left + pad, top, labelWidth, labelHeight);
      ctx.strokeRect(left + pad, top, labelWidth, labelHeight);
      ctx.fillStyle = armed ? css.warn : css.muted;
      ctx.fillText(text, left + 2 * pad, top + labelHeight / 2);
    }
    ctx.restore();
  }

  // The read-out: the bar under the pointer, else the newest bar.
  function readout(u) {
    const i = u && u.cursor.idx != null ? u.cursor.idx : xs.length - 1;
    if (i < 0 || i >= xs.length) {
      readoutEl.textContent = "";
      return;
    }
    const start = new Date(xs[i] * 1000);
    const when = daily() ? `${utcDay.format(start)} (UTC)` : display.dateTime(start);
    readoutEl.textContent =
      // A letter and its figure never part at a line's end (a phone's read-out wrapped "C"
      // from its price).
      `${when}  O\u00a0${format(opens[i])}  H\u00a0${format(highs[i])}  L\u00a0${format(lows[i])}  C\u00a0${format(ys[i])}`;
    readoutEl.dataset.index = String(i);
  }

  // Time labels in the viewer's time zone and 24-hour time, as everywhere else: "14:00", a
  // day's start as its date ("Nov 30"), and only dates once the labels are a day or more
  // apart. (Ticks fall on the zone's whole hours and days: uPlot's tzDate below.)
  // Daily bars are UTC days (the bars API): their timeframes draw and label in UTC, so a
  // day's candle sits on its own date in any zone.
  const daily = () => TIMEFRAMES[timeframe].seconds >= 86400;
  const chartZone = () => (daily() ? "UTC" : display.timeZone);
  const utcDay = new Intl.DateTimeFormat(display.locale, { year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });
  const formatsIn = (timeZone) => ({
    day: new Intl.DateTimeFormat(display.locale, { day: "numeric", month: "short", timeZone }),
    year: new Intl.DateTimeFormat(display.locale, { month: "short", year: "numeric", timeZone }),
    hour: new Intl.DateTimeFormat(display.locale, { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone }),
    midnight: new Intl.DateTimeFormat("en-US", { hour: "numeric", minute: "numeric", hourCycle: "h23", timeZone }),
  });
  const labelFormats = { UTC: formatsIn("UTC"), [display.timeZone]: formatsIn(display.timeZone) };
  function timeLabels(u, splits, axis, space, step) {
    const f = labelFormats[chartZone()];
    return splits.map((ts) => {
      const date = new Date(ts * 1000);
      if (step >= 28 * 86400) return f.year.format(date);
      if (step >= 86400 || f.midnight.format(date) === "00:00") return f.day.format(date);
      return f.hour.format(date);
    });
  }

  function cssColours() {
    const css = getComputedStyle(document.documentElement);
    const get = (name) => css.getPropertyValue(name).trim();
    return { up: get("--up"), down: get("--down"), warn: get("--warn"), muted: get("--muted"),
      border: get("--border"), accent: get("--accent"), panel: get("--panel") };
  }

  function draw() {
    el.dataset.count = String(xs.length);
    emptyEl.hidden = xs.length > 0;
    el.dataset.timeframe = timeframe;
    const shown = shownStyle();
    el.dataset.style = shown;
    for (const button of styleButtons) {
      button.setAttribute("aria-pressed", String(button.dataset.chartStyle === shown));
    }
    el.dataset.lastClose = ys.length ? String(ys[ys.length - 1]) : "";
    el.dataset.zoomed = String(view !== null);
    readout(plot);
    if (plot) {
      plot.setSeries(1, { show: shown === "line" });
      plot.setData([xs, ys]);
      return;
    }
    const css = cssColours();
    plot = new uPlot({
      ...size(),
      // The timeframe's whole window, not just the span of its bars: one bar of last year
      // drawn across a scale running years into the future said nothing.
      scales: { x: { time: true, range: xRange }, y: { range: yRange } },
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), chartZone() === "UTC" ? "Etc/UTC" : chartZone()),
      axes: [
        { stroke: css.muted, grid: { stroke: css.border }, values: timeLabels },
        { stroke: css.muted, grid: { stroke: css.border }, values: (u, vals) => vals.map(format), size: axisWidth },
      ],
      series: [{ label: `Time (${display.timeZone})` }, { label: `${symbol} close`, stroke: css.accent, width: 1.5, show: shown === "line" }],
      legend: { show: false },  // the read-out says more: open, high, low and close
      cursor: { drag: { x: true, y: false, setScale: false } },
      hooks: {
        draw: [(u) => { if (shownStyle() === "candles") drawCandles(u, css); drawAlertLevels(u, css); }],
        setCursor: [readout],
        setSelect: [(u) => {
          if (u.select.width < 2) return;
          zoomTo([u.posToVal(u.select.left, "x"), u.posToVal(u.select.left + u.select.width, "x")]);
          u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
        }],
      },
    }, [xs, ys], el);
    window.addEventListener("resize", () => plot.setSize(size()));
    el.addEventListener("dblclick", () => zoomTo(null));
  }

  // Zoom and pan: ``range`` is [from, to] in seconds, or null for the whole timeframe.
  function zoomTo(range) {
    view = range;
    el.dataset.zoomed = String(view !== null);
    if (!plot) return;
    const [min, max] = xRange(plot, xs[0], xs[xs.length - 1]);
    plot.setScale("x", { min, max });
  }
  function currentRange() {
    return plot ? [plot.scales.x.min, plot.scales.x.max] : null;
  }
  document.querySelector(".chart-tools")?.addEventListener("click", (event) => {
    const button = event.target.closest?.("[data-zoom]");
    const range = currentRange();
    if (!button || !range) return;
    const [min, max] = range;
    const span = max - min;
    const action = button.dataset.zoom;
    if (action === "reset") zoomTo(null);
    else if (action === "in") zoomTo([min + span / 4, max - span / 4]);
    else if (action === "out") zoomTo([min - span / 2, max + span / 2]);
    else if (action === "left") zoomTo([min - span / 3, max - span / 3]);
    else if (action === "right") zoomTo([min + span / 3, max + span / 3]);
  });

  async function getBars(resolution, from) {
    const params = new URLSearchParams({ resolution, limit: "5000" });
    if (from) params.set("from", from);
    const response = await fetch(`/api/prices/${encodeURIComponent(symbol)}/bars?${params}`);
    return response.ok ? response.json() : null;
  }

  // A timeframe's bars: { bars, resolution, seconds }, or null when they could not be had.
  async function fetchBars(name) {
    const frame = TIMEFRAMES[name];
    if (!frame.span) return fetchAll();
    const from = new Date(Date.now() - frame.span * 1000).toISOString();
    const bars = await getBars(frame.resolution, from);
    return bars && { bars, resolution: frame.resolution, seconds: frame.seconds };
  }

  // All of the history, in bars that suit its length: a day of imported trades was one
  // daily candle. Up to two days: 5-minute bars; up to two months: hourly; longer: daily.
  // Minute bars (and so 5-minute ones) are pruned after a while (the retention settings):
  // a day from long ago has hourly bars only.
  const FINER = [[2 * 86400, [["5m", 300], ["1h", 3600]]], [62 * 86400, [["1h", 3600]]]];
  async function fetchAll() {
    const daily = await getBars("1d");
    if (!daily) return null;
    const result = { bars: daily, resolution: "1d", seconds: 86400 };
    if (daily.length === 0) return result;
    const span = (Date.parse(daily[daily.length - 1].start) - Date.parse(daily[0].start)) / 1000 + 86400;
    const finer = FINER.find(([longest]) => span <= longest);
    for (const [resolution, seconds] of finer ? finer[1] : []) {
      const bars = await getBars(resolution, daily[0].start);
      if (bars && bars.length >= 2) return { bars, resolution, seconds };
    }
    return result;
  }

  function show(name, { bars, resolution, seconds }) {
    if (name === "All") Object.assign(TIMEFRAMES.All, { resolution, seconds });
    el.dataset.resolution = resolution;
    timeframe = name;
    view = null;
    xs = bars.map((bar) => Date.parse(bar.start) / 1000);
    opens = bars.map((bar) => bar.open);
    highs = bars.map((bar) => bar.high);
    lows = bars.map((bar) => bar.low);
    ys = bars.map((bar) => bar.close);
    const flat = bars.length > 0 && bars.every((bar) => bar.open === bar.close && bar.high === bar.close && bar.low === bar.close);
    styleOfBars = flat ? "line" : "candles";
    for (const button of buttons) {
      button.setAttribute("aria-pressed", String(button.dataset.timeframe === name));
    }
    draw();
  }

  // A timeframe that ends before the newest price (history imported from long ago) holds
  // no bars: its button says so and is off, rather than opening an empty chart. A live
  // price turns them back on.
  let newest = Date.parse(el.dataset.newest || "");  // ms; NaN: no price yet
  function markEmptyTimeframes() {
    const now = Date.now();
    for (const button of buttons) {
      const span = TIMEFRAMES[button.dataset.timeframe]?.span;
      button.dataset.title ??= button.title;
      const empty = Boolean(span) && newest < now - span * 1000;
      button.disabled = empty;
      button.title = empty
        ? `${button.dataset.title}: no prices, the newest is from ${display.date(new Date(newest))}`
        : button.dataset.title;
    }
  }

  async function load(name) {
    const mine = ++loading;
    el.setAttribute("aria-busy", "true");
    const found = await fetchBars(name);
    if (mine !== loading) return;  // a later choice won
    el.removeAttribute("aria-busy");
    if (found) show(name, found);
  }

  // The timeframe the viewer last chose (on any instrument) if it holds a line here, else
  // the last day, else the last hour (a store that started minutes ago), else all of the
  // history (imported from long ago): a remembered "1W" drew an empty chart for history
  // that ended last year.
  async function loadFirst(remembered) {
    const mine = ++loading;
    let best = null;
    const order = [remembered, "1D", "1H", "All"].filter((name, i, all) => name in TIMEFRAMES && all.indexOf(name) === i);
    for (const name of order) {
      const found = await fetchBars(name);
      if (mine !== loading) return;  // the viewer chose a timeframe meanwhile
      if (found && found.bars.length >= 2) return show(name, found);
      if (found && (!best || found.bars.length > best[1].bars.length)) best = [name, found];
    }
    if (best) show(...best);
  }

  // Change and % against the server's reference price, written as the server writes them
  // (dashboard/prices/tiles.py: format_change, format_percent): a true minus, a sign.
  function showChange(price, reference) {
    if (reference == null) return;
    const change = price - reference;
    const percent = reference ? change / reference * 100 : 0;
    changeEl.querySelector(".change").textContent = display.change(change, decimals);
    changeEl.querySelector(".percent").textContent = display.percent(percent);
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
    // A price from before the window (the last one of an instrument quiet for a year) is
    // no bar of it: drawn, it stood alone outside the axis and hid "No prices".
    if (frame.span && bucket + frame.seconds <= Date.now() / 1000 - frame.span) return;
    const last = xs.length - 1;
    if (last >= 0 && bucket === xs[last]) {
      ys[last] = price;
      highs[last] = Math.max(highs[last], price);
      lows[last] = Math.min(lows[last], price);
    } else if (last < 0 || bucket > xs[last]) {
      xs.push(bucket);
      opens.push(price);
      highs.push(price);
      lows.push(price);
      ys.push(price);
      if (frame.span) {  // the window slides: bars older than it fall off the left
        const from = bucket - frame.span;
        while (xs.length && xs[0] < from) {
          for (const values of [xs, opens, highs, lows, ys]) values.shift();
        }
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

  // The page's one stream (templates/_base.html, #live) carries this chart's prices too.
  function onPrice(event) {
    let message;
    try {
      message = JSON.parse(event.detail?.data ?? "");
    } catch {
      return;
    }
    if (message.type !== "price" || message.symbol !== symbol) return;
    staleEl.hidden = !message.stale;
    if (message.price == null) return;
    priceEl.textContent = format(message.price);
    const at = Date.parse(message.ts);
    if (!(at <= newest)) {
      newest = at;
      markEmptyTimeframes();
    }
    showChange(message.price, message.reference_price);
    widenWindow(message.price);
    if (early) {
      early.push(message);  // the bars are still loading: applied on top of them
      return;
    }
    addTick(message.tick_id, message.ts, message.price);
    el.dataset.lastTickId = String(lastTickId);
  }
  // Prices that came before the first bars did (the stream opens with the page).
  let early = [];
  function applyEarly() {
    const waiting = early;
    early = null;
    for (const message of waiting) addTick(message.tick_id, message.ts, message.price);
    el.dataset.lastTickId = String(lastTickId);
  }
  function connect() {
    const live = document.getElementById("live");
    if (!live) return;
    live.addEventListener("price", onPrice);
    live.addEventListener("htmx:sse:after:connection", () => setState("live"));
    for (const name of ["htmx:sse:error", "htmx:sse:close"]) {
      live.addEventListener(name, () => setState("reconnecting"));
    }
    // The stream may have opened before this deferred script ran.
    if (live._htmx?.sse?.reader || document.getElementById("connection")?.dataset.state === "live") {
      setState("live");
    }
  }

  // Candles, unless every bar loaded is a single price (open = high = low = close: a
  // history of daily or monthly closes, or a slow feed's one tick a bar), whose candles
  // are dashes too thin to see; then a line of closes. Decided when bars are loaded (not
  // as live ticks come, which would flip the chart), and a style the viewer chose is kept.
  let styleOfBars = "candles";
  function shownStyle() { return style ?? styleOfBars; }

  function setStyle(name) {
    style = name;
    draw();
  }
  for (const button of styleButtons) {
    button.addEventListener("click", () => {
      try { localStorage.setItem(STYLE_KEY, button.dataset.chartStyle); } catch (e) { /* private mode */ }
      setStyle(button.dataset.chartStyle);
    });
  }
  // Alerts set, re-armed or deleted (the list is swapped in): redraw their levels.
  document.addEventListener("htmx:after:swap", () => plot && plot.redraw(false));
  // One of this instrument's alerts fired (its toast arrived on the page's stream): show the
  // alert list as the server now has it, "fired" with its time and a Re-arm button.
  const seenToasts = new Set();
  new MutationObserver(() => {
    for (const toast of document.querySelectorAll("#toasts .toast")) {
      if (seenToasts.has(toast.id)) continue;
      seenToasts.add(toast.id);
      const link = toast.querySelector(".toast-link")?.getAttribute("href");
      if (link === `/instruments/${encodeURIComponent(symbol)}` && document.getElementById("alerts")) {
        htmx.ajax("GET", location.pathname, { target: "#alerts", select: "#alerts", swap: "outerHTML" });
      }
    }
  }).observe(document.getElementById("toasts") ?? document.body, { childList: true, subtree: true });

  let chosen = null;
  try {
    chosen = localStorage.getItem(STORAGE_KEY);
    const remembered = localStorage.getItem(STYLE_KEY);
    if (remembered === "line" || remembered === "candles") style = remembered;
  } catch (e) { /* private mode */ }
  markEmptyTimeframes();
  connect();
  loadFirst(chosen).finally(applyEarly);
})();
