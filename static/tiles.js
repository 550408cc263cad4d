// The dashboard's instruments as tiles or a dense list: filtered by text and kind, sorted
// by any column, grouped by kind, all remembered per user in this browser. The list is the
// same elements as the tiles laid out as rows (app.css, ".tiles.is-list"), so the live
// updates (out-of-band swaps by id) reach either view and nothing is rendered twice.
(() => {
  "use strict";
  const container = document.getElementById("tiles");
  const form = document.getElementById("dashboard-tools");
  if (!container || !form) return;
  const storageKey = `dashboard.tiles.${container.dataset.user || "anonymous"}`;
  const defaults = { view: "tiles", sort: "", dir: "asc", q: "", kind: "", group: false };
  let prefs = { ...defaults };
  try {
    prefs = { ...defaults, ...JSON.parse(localStorage.getItem(storageKey) || "{}") };
  } catch {
    // A value another version wrote: start from the defaults.
  }
  const save = () => {
    try {
      localStorage.setItem(storageKey, JSON.stringify(prefs));
    } catch {
      // Storage full or blocked: the view still works, it is just not remembered.
    }
  };

  const tiles = () => container.querySelectorAll(":scope > .tile");
  // "As arranged": the order the page came in (the user's watchlist order).
  const arranged = new Map([...tiles()].map((tile, i) => [tile.id, i]));
  // A figure's value in any locale it reads in ("−1.234,50" -> -1234.5; 143.25M's is its
  // tooltip's whole figure); NaN when there is none (static/format.js).
  const number = (el) => window.dashboardFormat.value(el);
  const columns = {
    symbol: (t) => t.dataset.symbol,
    name: (t) => t.querySelector(".tile-name")?.textContent ?? "",
    last: (t) => number(t.querySelector(":scope > p > b:not(.empty)")),
    change: (t) => number(t.querySelector(":scope > p > i")),
    pct: (t) => number(t.querySelector(":scope > p > i + i")),
    time: (t) => Date.parse(t.querySelector(".tile-foot > time")?.getAttribute("datetime") ?? ""),
  };
  const missing = (v) => v === "" || (typeof v === "number" && Number.isNaN(v));

  // Each tile's sort value is read once per arrangement, not once per comparison.
  function compare([a, va], [b, vb]) {
    if (prefs.group) {
      const byKind = a.dataset.kind.localeCompare(b.dataset.kind);
      if (byKind) return byKind;
    }
    if (va !== undefined) {
      if (missing(va) !== missing(vb)) return missing(va) ? 1 : -1; // no price: last
      const order = typeof va === "string" ? va.localeCompare(vb) : va - vb;
      if (order) return prefs.dir === "desc" ? -order : order;
    }
    return (arranged.get(a.id) ?? Infinity) - (arranged.get(b.id) ?? Infinity);
  }

  const headings = new Map();
  function heading(kind) {
    if (!headings.has(kind)) {
      const h = document.createElement("h2");
      h.className = "group-head";
      h.textContent = kind;
      headings.set(kind, h);
    }
    return headings.get(kind);
  }

  // The indexes of a longest increasing run (not necessarily contiguous) in ``values``.
  function longestIncreasing(values) {
    const tails = []; // tails[k]: index of the smallest last value of a run of length k + 1
    const previous = new Array(values.length);
    for (let i = 0; i < values.length; i++) {
      let lo = 0;
      let hi = tails.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (values[tails[mid]] < values[i]) lo = mid + 1;
        else hi = mid;
      }
      previous[i] = lo > 0 ? tails[lo - 1] : -1;
      tails[lo] = i;
    }
    const run = new Set();
    for (let i = tails.length ? tails[tails.length - 1] : -1; i >= 0; i = previous[i]) run.add(i);
    return run;
  }

  // The moves that put the tiles (and group headings) in order with the fewest of them:
  // the longest run already in order stays, the rest is moved. A live re-sort of 500 rows
  // then moves the few whose rank changed, not every row after the first change (a long
  // task).
  //
  // Each move is [element, the element it goes before (null: the end)], to be made in
  // this order: from the end, each element out of the run goes just before its successor,
  // which is then in place (in the run, or moved just before).
  function plan() {
    const value = columns[prefs.sort];
    const sorted = [...tiles()]
      .map((tile) => [tile, value ? value(tile) : undefined])
      .sort(compare)
      .map(([tile]) => tile);
    const wanted = [];
    let kind = null;
    for (const tile of sorted) {
      if (prefs.group && tile.dataset.kind !== kind) {
        kind = tile.dataset.kind;
        wanted.push(heading(kind));
      }
      wanted.push(tile);
    }
    for (const h of container.querySelectorAll(":scope > .group-head")) {
      if (!wanted.includes(h)) h.remove();
    }
    const now = new Map([...container.children].map((el, i) => [el, i]));
    const staying = longestIncreasing(wanted.map((el) => now.get(el) ?? -1));
    const moves = [];
    let next = null;
    for (let i = wanted.length - 1; i >= 0; i--) {
      const el = wanted[i];
      if (!staying.has(i) || !el.isConnected) moves.push([el, next]);
      next = el;
    }
    return moves;
  }

  // A row moved with moveBefore keeps its state (the focus in it, a running mark); one
  // taken out and put back (insertBefore, in browsers without it) loses focus to the page.
  // A group heading just made is not in the page yet: inserted.
  function move(el, next) {
    if (container.moveBefore && el.isConnected) {
      try {
        container.moveBefore(el, next);
        return;
      } catch {
        // A state moveBefore refuses: the plain move below still works.
      }
    }
    container.insertBefore(el, next);
  }

  // A live re-sort under way: its moves, until made (or overtaken by arrange()).
  let live = null;
  function arrange() {
    live = null;
    for (const [el, next] of plan()) move(el, next);
    if (headings.size) filter(); // a heading just added takes its group's visibility
  }

  // A live re-sort is planned at once and made at most this many moves a frame: each
  // moved row's style and layout are computed again, and 500 rows sorted by price moved
  // ~380 at once, frames of 40-90 ms. At 20 a frame, frames of up to 50 ms on this machine
  // running at half speed; at 10 the order settles within about a second.
  const MOVES_PER_FRAME = 10;
  let rearrange = false;
  function arrangeLive() {
    if (live) {
      rearrange = true; // still making the last one (a hidden tab has no frames): next time
      return;
    }
    const moves = plan();
    live = moves;
    let made = 0;
    const step = () => {
      if (live !== moves) return;
      for (const end = Math.min(made + MOVES_PER_FRAME, moves.length); made < end; made++) {
        const [el, next] = moves[made];
        if ((!el.isConnected && el.matches(".tile")) || (next && !next.isConnected)) {
          // A tile was swapped whole meanwhile (stale, fresh again): plan again next time.
          live = null;
          rearrange = true;
          return;
        }
        move(el, next);
      }
      if (made < moves.length) {
        requestAnimationFrame(step);
      } else {
        live = null;
        if (headings.size) filter(); // a kind renamed live may have brought a heading
      }
    };
    requestAnimationFrame(step);
  }

  function filter() {
    const q = prefs.q.trim().toLowerCase();
    let shown = 0;
    let all = 0;
    const visibleKinds = new Set();
    for (const tile of tiles()) {
      all++;
      const text = `${tile.dataset.symbol} ${tile.querySelector(".tile-name")?.textContent ?? ""}`;
      const hide = (q !== "" && !text.toLowerCase().includes(q)) || (prefs.kind !== "" && tile.dataset.kind !== prefs.kind);
      if (tile.hidden !== hide) tile.hidden = hide;
      if (!hide) {
        shown++;
        visibleKinds.add(tile.dataset.kind);
      }
    }
    for (const [kind, h] of headings) h.hidden = !visibleKinds.has(kind);
    const count = form.querySelector(".tile-count");
    const noun = all === 1 ? "instrument" : "instruments";
    if (count) count.textContent = shown === all ? `${all} ${noun}` : `${shown} of ${all} ${noun}`;
  }

  function render() {
    container.classList.toggle("is-list", prefs.view === "list");
    for (const button of form.querySelectorAll("[data-view]")) {
      button.setAttribute("aria-pressed", String(button.dataset.view === prefs.view));
    }
    form.elements.q.value = prefs.q;
    form.elements.kind.value = prefs.kind;
    form.elements.sort.value = prefs.sort;
    form.elements.group.checked = prefs.group;
    const dir = form.elements.dir;
    dir.dataset.dir = prefs.dir;
    dir.textContent = prefs.dir === "desc" ? "▼" : "▲";
    dir.setAttribute("aria-label", prefs.dir === "desc" ? "Sort descending" : "Sort ascending");
    for (const button of container.querySelectorAll(".list-head [data-sort]")) {
      button.dataset.active = button.dataset.sort === prefs.sort ? prefs.dir : "";
    }
    arrange();
    filter();
  }
  function change(update) {
    prefs = { ...prefs, ...update };
    save();
    render();
  }

  form.addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("input", (event) => {
    const field = event.target;
    if (field.name === "q") change({ q: field.value });
    else if (field.name === "kind") change({ kind: field.value });
    else if (field.name === "sort") change({ sort: field.value });
    else if (field.name === "group") change({ group: field.checked });
  });
  form.addEventListener("click", (event) => {
    const view = event.target.closest?.("[data-view]");
    if (view) change({ view: view.dataset.view });
    else if (event.target.closest?.("[name=dir]")) change({ dir: prefs.dir === "desc" ? "asc" : "desc" });
  });
  container.addEventListener("click", (event) => {
    const column = event.target.closest?.(".list-head [data-sort]");
    if (!column) return;
    const sort = column.dataset.sort;
    change({ sort, dir: prefs.sort === sort && prefs.dir === "asc" ? "desc" : "asc" });
  });

  // Tiles this page has not got: an instrument added, or one given its first price, since
  // the page loaded (the server sends its whole tile, swapped by id). Each gets an empty,
  // hidden tile at the end for the swap to replace; the arrangement then moves it to its
  // place. A retired instrument's tile is taken off by the server's delete swap, or, when
  // it was retired while the stream was down, by the next connection's snapshot: it holds
  // the whole tile of every instrument the page shows, before its "ready" event.
  const WHOLE_TILE = /<article id="(tile-[^"]+)" class="tile/g;
  const entities = document.createElement("textarea"); // decodes the id's HTML escapes
  const pageTiles = container.getElementsByClassName("tile"); // live: always the page's tiles
  let cameOrWent = false; // a message added or removed a tile: count them again after it
  let snapshot = null; // the tile ids of this connection's snapshot, until "ready"
  document.addEventListener("htmx:sse:before:message", (event) => {
    const data = event.detail.message?.data;
    if (typeof data !== "string" || !data.includes('<article id="tile-')) return;
    if (data.includes('hx-swap-oob="delete"')) cameOrWent = true;
    for (const [, escaped] of data.matchAll(WHOLE_TILE)) {
      entities.innerHTML = escaped;
      const id = entities.value;
      snapshot?.add(id);
      if (document.getElementById(id)) continue;
      const tile = document.createElement("article");
      tile.id = id;
      tile.className = "tile";
      tile.hidden = true;
      container.append(tile);
      container.querySelector(":scope > .empty")?.remove();
      cameOrWent = true;
    }
  });
  const stream = document.getElementById("live");
  stream?.addEventListener("htmx:sse:after:connection", () => {
    snapshot = new Set();
  });
  stream?.addEventListener("ready", () => {
    // An empty snapshot says nothing (a tab that joined another tab's stream mid-way).
    if (snapshot?.size) {
      const gone = [...pageTiles].filter((tile) => !snapshot.has(tile.id));
      for (const tile of gone) tile.remove();
      if (gone.length) tilesCameOrWent();
    }
    snapshot = null;
  });
  function tilesCameOrWent() {
    cameOrWent = false;
    const kinds = form.elements.kind;
    const listed = new Set([...kinds.options].map((option) => option.value));
    for (const tile of pageTiles) {
      const kind = tile.dataset.kind;
      if (kind && !listed.has(kind)) {
        listed.add(kind);
        kinds.add(new Option(kind, kind));
      }
    }
    filter(); // the count, and a new tile's visibility
    if (prefs.sort || prefs.group) rearrange = true;
  }

  // Live updates: a whole tile swapped in comes without its hidden flag, so filter at once;
  // a sort by a live column is kept, at most once a second, so rows do not jump on every
  // tick.
  document.addEventListener("htmx:after:swap", () => {
    if (cameOrWent) {
      tilesCameOrWent();
    } else if (prefs.q || prefs.kind) {
      filter();
    }
    if (prefs.sort && prefs.sort !== "symbol" && prefs.sort !== "name") rearrange = true;
  });
  setInterval(() => {
    if (rearrange) {
      rearrange = false;
      arrangeLive();
    }
  }, 1000);

  form.hidden = false;
  render();
})();
