// Numbers and times in the viewer's choice: their browser's language or the locale they
// chose (<html data-locale>), UTC or their device's time zone (<html data-times>).
//
// The server writes every number and time in one canonical form, en-US and UTC
// (dashboard/display.py): a stream's fragments are rendered once for every open page. This
// script renders each one again in the viewer's choice as it enters the page, before it is
// painted (a MutationObserver started while <head> loads sees the parser's nodes too), and
// gives the page's own scripts the same rule as window.dashboardFormat. The canonical form
// is exactly Intl's for en-US and UTC with the same options, so a viewer who chose those
// sees the server's text untouched.
(() => {
  "use strict";
  const root = document.documentElement;
  // Whatever the browser reports, this script must not fail: every other script uses it.
  function supported(wanted) {
    try {
      return Intl.NumberFormat.supportedLocalesOf([wanted])[0] ?? "en-US";
    } catch {
      return "en-US";  // not a well-formed tag
    }
  }
  function localZone() {
    try {
      const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      new Intl.DateTimeFormat("en-US", { timeZone: zone });  // throws for a zone Intl lacks
      return zone;
    } catch {
      return "UTC";
    }
  }
  const locale = supported(root.dataset.locale || navigator.language || "en-US");
  const timeZone = root.dataset.times === "local" ? localZone() : "UTC";
  const canonical = locale === "en-US" && timeZone === "UTC";

  const formats = new Map();
  function numberFormat(key, options) {
    let format = formats.get(key);
    if (!format) formats.set(key, (format = new Intl.NumberFormat(locale, options)));
    return format;
  }
  const fixed = (value, places) =>
    numberFormat(`f${places}`, { minimumFractionDigits: places, maximumFractionDigits: places }).format(value);
  const compactFormat = () => numberFormat("c", { notation: "compact", maximumFractionDigits: 2 });
  // The locale's percent sign and where it goes ("12 %", "%12"), around a figure formatted
  // as a plain number: formatting value / 100 as a percent would round another decimal
  // (0.285 / 100 is 0.0028499…, "0.28%" where the server says 0.29%).
  const percentAround = (() => {
    const parts = new Intl.NumberFormat(locale, { style: "percent" }).formatToParts(1);
    const numeric = (p) => ["integer", "group", "decimal", "fraction"].includes(p.type);
    const first = parts.findIndex(numeric);
    const last = parts.length - 1 - [...parts].reverse().findIndex(numeric);
    const text = (list) => list.map((p) => p.value).join("");
    return [text(parts.slice(0, first)), text(parts.slice(last + 1))];
  })();
  const percentOf = (magnitude, places) => percentAround[0] + fixed(magnitude, places) + percentAround[1];
  const MINUS = "\u2212";
  const sign = (value) => (value > 0 ? "+" : value < 0 ? MINUS : "");

  // dashboard/prices/tiles.py: format_price. The instrument's decimals, and below 1 as many
  // more as show 4 significant digits (0.00001299 on a 2-decimal instrument).
  function price(value, decimals) {
    const magnitude = Math.abs(value);
    let places = decimals;
    if (magnitude > 0 && magnitude < 1) {
      const first = -Math.floor(Math.log10(magnitude));
      places = Math.max(decimals, Math.min(12, first + 3));
    }
    return numberFormat(`p${decimals}-${places}`, { minimumFractionDigits: decimals, maximumFractionDigits: places }).format(value);
  }
  const change = (value, decimals) => sign(value) + price(Math.abs(value), decimals);
  // No sign on what rounds to 0.00% (tiles.py: format_percent).
  function percent(value) {
    const text = percentOf(Math.abs(value), 2);
    return (text === percentOf(0, 2) ? "" : sign(value)) + text;
  }
  const compact = (value) => compactFormat().format(value);

  const timeOfDayFormat = new Intl.DateTimeFormat(locale, {
    hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone, timeZoneName: "short",
  });
  const dateFormat = new Intl.DateTimeFormat(locale, { year: "numeric", month: "short", day: "numeric", timeZone });
  const dateTimeFormat = new Intl.DateTimeFormat(locale, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    timeZone, timeZoneName: "short",
  });
  const timeOfDay = (date) => timeOfDayFormat.format(date);
  const date = (when) => dateFormat.format(when);
  const dateTime = (when) => dateTimeFormat.format(when);
  // dashboard/prices/tiles.py: format_tick_time. The time for a tick of the last 20 hours,
  // else its day.
  const tickTime = (when, now) => (now - when.getTime() < 20 * 3600 * 1000 ? timeOfDay(when) : date(when));

  // Now by the server's clock (the page says when it was rendered): a browser whose clock
  // is two minutes slow would call a fresh notification "in 2 minutes".
  const rendered = Date.parse(document.querySelector('meta[name="server-time"]')?.content ?? "");
  const clockOffset = Number.isNaN(rendered) ? 0 : rendered - Date.now();
  const serverNow = () => Date.now() + clockOffset;

  // The calendar day of a time in the chosen zone, as a day number since the epoch: what
  // "today", "yesterday" and the inbox's day headings count.
  const dayParts = new Intl.DateTimeFormat("en-US", { year: "numeric", month: "numeric", day: "numeric", timeZone });
  function dayNumber(when) {
    const parts = Object.fromEntries(dayParts.formatToParts(when).map((p) => [p.type, p.value]));
    return Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day)) / 86400000;
  }

  // "3 min ago" in the viewer's language, by the server's clock; the date and time in
  // their zone as its tooltip. Whole calendar days (the viewer's) past a day, as the
  // inbox's headings count: by hours, something 30 h old on the day before yesterday
  // said "yesterday" under a heading that named another day.
  const relativeFormat = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
  const STEPS = [["second", 60], ["minute", 60], ["hour", 24], ["day", 7], ["week", 4.35], ["month", 12], ["year", Infinity]];
  const justNow = locale.startsWith("en") ? "just now" : relativeFormat.format(0, "second");
  function ago(when) {
    const now = serverNow();
    // Never in the future: a time a moment ahead of the server's (rounding) is "just now".
    let amount = Math.min(0, when.getTime() - now) / 1000;
    if (-amount < 45) return justNow;
    if (-amount >= 86400) {
      const days = dayNumber(new Date(now)) - dayNumber(when);
      if (days < 7) return relativeFormat.format(-days, "day");
    }
    for (const [unit, size] of STEPS) {
      if (Math.abs(amount) < size) return relativeFormat.format(Math.round(amount), unit);
      amount /= size;
    }
    return "";
  }
  function renderRelative(el) {
    const when = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(when.getTime())) return;
    if (!el.title) el.title = dateTime(when);
    if (!locale.startsWith("en")) el.lang = locale;
    el.textContent = ago(when);
  }

  // ---- The canonical form, read back. "97,663.24", "+1.20", "−0.41%", "143.25M".
  const CANONICAL = /^([+\u2212-]?)(\d{1,3}(?:,\d{3})*)(?:\.(\d+))?(%|[KMBT])?$/;
  const UNITS = { K: 1e3, M: 1e6, B: 1e9, T: 1e12 };
  function parse(text) {
    const m = CANONICAL.exec(text.trim());
    if (!m) return null;
    const magnitude = Number(`${m[2].replace(/,/g, "")}.${m[3] ?? ""}`);
    const value = m[1] === "" || m[1] === "+" ? magnitude : -magnitude;
    return { sign: m[1], magnitude, value, places: m[3]?.length ?? 0, suffix: m[4] ?? "" };
  }
  // The same figure in the viewer's locale: the digits the server chose, other symbols.
  function relocalise(text) {
    const n = parse(text);
    if (!n) return text;
    if (n.suffix === "%") return n.sign + percentOf(n.magnitude, n.places);
    if (n.suffix) return n.sign + compact(n.magnitude * UNITS[n.suffix]);
    return n.sign + fixed(n.magnitude, n.places);
  }

  // A figure's value, whatever the locale it now reads in (the list view sorts by it).
  const values = new WeakMap();
  function value(el) {
    if (!el) return Number.NaN;
    if (values.has(el)) return values.get(el);
    const n = parse(el.title || el.textContent || "");
    if (!n) return Number.NaN;
    return n.suffix === "%" || !n.suffix ? n.value : n.value * UNITS[n.suffix];
  }

  // ---- What the server marks: a tile's quote (price, change, %), <data value> figures,
  // <time datetime> (a tile's tick time, "3 min ago", or a date and time) and the
  // placeholder of a figure people type.
  const done = new WeakSet();
  function renderFigure(el) {
    if (done.has(el)) return;
    done.add(el);
    values.set(el, value(el));
    el.lang = locale;  // so a screen reader reads "1.234,50" as the viewer writes it
    el.textContent = relocalise(el.textContent);
    if (el.title) el.title = relocalise(el.title);
  }
  function renderTime(el) {
    if (done.has(el)) return;
    done.add(el);
    const when = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(when.getTime())) return;
    el.lang = locale;
    if (el.id.startsWith("t-")) el.textContent = tickTime(when, serverNow());
    else el.textContent = dateTime(when);
  }
  const FIGURES = 'p[id^="q-"] > b:not(.empty), p[id^="q-"] > i, data[value]';
  const TIMES = "time[datetime]";
  const TYPED = "input[data-number][placeholder]";
  const RELATIVE = "time.relative[datetime]";
  // "3 min ago" for every viewer; the rest only when their choice is not the canonical one.
  const MARKED = canonical ? RELATIVE : `${FIGURES}, ${TIMES}, ${TYPED}`;
  function renderOne(el) {
    if (el.matches(RELATIVE)) renderRelative(el);
    else if (el.matches(FIGURES)) renderFigure(el);
    else if (el.matches(TIMES)) renderTime(el);
    else if (!done.has(el)) {
      done.add(el);
      el.placeholder = relocalise(el.placeholder);
    }
  }
  // While the page loads, the parser may have added an element and not yet all its text
  // (a network chunk ended inside it; "9,876" then ".54"). Such an element waits until
  // the parser has gone past it (it or an ancestor has a next sibling), or the end.
  function parsed(el) {
    for (let node = el; node && node !== root; node = node.parentNode) {
      if (node.nextSibling) return true;
    }
    return false;
  }
  let waiting = [];
  function visit(el) {
    if (document.readyState === "loading" && !parsed(el)) waiting.push(el);
    else renderOne(el);
  }
  function renderWaiting() {
    const now = waiting;
    waiting = [];
    for (const el of now) visit(el);
  }
  function render(node) {
    if (node.matches(MARKED)) visit(node);
    for (const el of node.querySelectorAll(MARKED)) visit(el);
  }
  new MutationObserver((mutations) => {
    renderWaiting();
    for (const m of mutations) {
      // Only what was added: the whole page again, per arrival, made a burst of 1,000
      // notifications quadratic (tasks of seconds).
      for (const node of m.addedNodes) if (node.nodeType === 1) render(node);
    }
  }).observe(root, { childList: true, subtree: true });
  document.addEventListener("DOMContentLoaded", renderWaiting);

  // ---- Figures people type (input[data-number]): read as the viewer writes them, and sent
  // in the canonical form the server reads ("1.234,50" in German is 1234.50; a German
  // "1,0834" is 1.0834, not 10834). Spaces and apostrophes only ever group; with both "."
  // and "," the last is the decimal mark; a lone mark is a decimal one unless it is this
  // locale's group mark before exactly three digits. Anything else is sent as typed, for
  // the server to refuse.
  const groupMark = new Intl.NumberFormat(locale).formatToParts(1234567).find((p) => p.type === "group")?.value;
  function readNumber(text) {
    const typed = text.trim().replace(/[\s\u00a0\u202f'\u2019]/g, "");
    const m = /^([+-]?)([\d.,]+)$/.exec(typed);
    if (!m) return null;
    const digits = m[2];
    const dot = digits.lastIndexOf(".");
    const comma = digits.lastIndexOf(",");
    let decimal = null;
    if (dot >= 0 && comma >= 0) decimal = dot > comma ? "." : ",";
    else if (digits.split(/[.,]/).length === 2) {
      const mark = dot >= 0 ? "." : ",";
      decimal = mark === groupMark && digits.length - digits.indexOf(mark) - 1 === 3 ? null : mark;
    }
    const [whole, fraction, rest] = decimal ? digits.split(decimal) : [digits];
    if (rest !== undefined || whole === "" || fraction === "") return null;
    const groups = whole.split(/[.,]/);
    if (groups.length > 1 && (groups[0] === "" || groups.slice(1).some((g) => g.length < 2 || g.length > 3))) return null;
    return m[1] + groups.join("") + (fraction === undefined ? "" : `.${fraction}`);
  }
  document.addEventListener("submit", (event) => {
    for (const input of event.target.querySelectorAll?.("input[data-number]") ?? []) {
      const read = readNumber(input.value);
      if (read !== null) input.value = read;
    }
  }, true);

  window.dashboardFormat = {
    locale, timeZone, canonical, price, change, percent, compact, timeOfDay, date, dateTime, tickTime,
    dayNumber, serverNow, relocalise, value, readNumber, renderRelative,
  };
})();
