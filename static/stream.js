// One stream per browser, not per tab. Over HTTP/1.1 (what `dashboard serve` speaks) a
// browser opens at most six connections to a site, and each open page's stream holds one:
// the seventh page never loaded. So the tabs of one browser showing the same stream (the
// same page kind, user, watchlist and chart, whatever their cursors) elect a leader with
// the Web Locks API; only the leader connects (htmx's SSE extension, as before), and it
// passes every message on over a BroadcastChannel. The others apply each message as the
// extension would (htmx.swap for swaps, the named event for named ones) and hear of the
// leader's connection through the same htmx:sse:* events, so the rest of the page's code
// cannot tell them apart.
//
// Handing over: when the leader goes (closed, reloaded, navigated), the lock passes to the
// next tab, which connects from the newest message it applied (not from its own page's
// cursor: that would replay hours). A tab whose watchdog (app.js) finds the shared stream
// silent takes the lock from the leader (a frozen background tab, a dead connection) and
// connects itself. A signed-out tab lets go of everything, so a page signed in again leads.
//
// Web Locks exist only in secure contexts (HTTPS, or http://localhost): over plain HTTP to
// another address each tab connects on its own, and the six-connection limit is back (use
// HTTPS or HTTP/2 behind a proxy there: docs/deploy.md).
(() => {
  "use strict";
  const live = document.getElementById("live");
  const url = live?.dataset.stream;
  if (!live || !url) return;

  // The newest notification id this tab has shown from a stream (its own or the leader's).
  let lastId = Number(new URL(url, location.href).searchParams.get("after")) || 0;
  function connect() {
    const from = new URL(url, location.href);
    if (from.searchParams.has("after") || lastId > 0) from.searchParams.set("after", String(lastId));
    live.setAttribute("hx-sse:connect", from.pathname + from.search);
    htmx.process(live);
  }
  if (!("BroadcastChannel" in window) || !navigator.locks) {
    document.addEventListener("DOMContentLoaded", connect);
    return;
  }

  // The cursor is where one page's own replay starts; the stream is the same without it.
  const shared = new URL(url, location.href);
  shared.searchParams.delete("after");
  const name = `dashboard:stream:${shared.pathname}${shared.search}`;
  const channel = new BroadcastChannel(name);
  const me = Math.random().toString(36).slice(2);
  let leader = false;
  let ended = false; // signed out: this tab takes no part any more
  let waiting = null; // the AbortController of this tab's place in the lock's queue
  let release = null; // lets go of the lock while leading
  // A shared stream must not pause in a hidden leader: every other tab depends on it.
  htmx.config.sse = { ...htmx.config.sse, pauseOnBackground: false };
  live.dataset.shared = "follower";

  function noteId(id) {
    const n = Number(id);
    if (n > lastId) lastId = n;
  }

  // ---- Leading: connect, and pass on what the stream brings and how it is.
  let state = null; // the last htmx:sse:* event of the connection, for tabs that join
  // Tabs that said hello and not goodbye: a lone tab copies no message for nobody.
  const followers = new Set();
  function post(message) {
    if (leader && !ended && followers.size > 0) channel.postMessage(message);
  }
  live.addEventListener("htmx:sse:before:message", (event) => {
    if (event.detail.relayed) return; // applied from the channel, not read from the stream
    const { data, event: kind, id } = event.detail.message;
    noteId(id);
    post({ kind: "message", data, event: kind, id });
  });
  for (const kind of ["htmx:sse:after:connection", "htmx:sse:error", "htmx:sse:close"]) {
    live.addEventListener(kind, (event) => {
      if (event.detail?.relayed) return;
      state = kind;
      post({ kind: "state", state, lastId });
    });
  }
  // A tab that no longer leads lets its connection end instead of reconnecting.
  live.addEventListener("htmx:sse:before:connection", (event) => {
    if (!leader) event.detail.connection.cancelled = true;
  });

  function granted() {
    if (ended) return undefined;
    leader = true;
    waiting = null;
    live.dataset.shared = "leader";
    // The other tabs said hello to the tab that led before: they say it again to this one.
    channel.postMessage({ kind: "leading", from: me });
    connect();
    return new Promise((resolve) => {
      release = resolve;
    });
  }
  // Queue for the lock (or take it at once with steal). The promise rejects when another
  // tab steals the lock, or when this tab leaves the queue.
  function lead({ steal = false } = {}) {
    waiting?.abort();
    waiting = steal ? null : new AbortController();
    const options = steal ? { steal: true } : { signal: waiting.signal };
    navigator.locks.request(name, options, granted).catch(() => {
      if (!leader) return; // left the queue: nothing held
      // Stolen: the tab that took it connects; this one follows again.
      leader = false;
      release = null;
      live.dataset.shared = "follower";
      live._htmx?.sse?.reader?.cancel();
      if (!ended) lead();
    });
  }

  // ---- Following: apply the leader's messages in order, as the extension does, with the
  // same events around each (app.js's handlers of htmx:sse:before:message may ask it to
  // wait). A failed swap is reported, not taken for a message that arrived.
  let applying = Promise.resolve();
  let followed = null; // the last connection state applied
  async function apply(message) {
    const waits = [];
    const detail = { message, relayed: true, cancelled: false, waitUntil: (promise) => waits.push(promise) };
    if (!htmx.trigger(live, "htmx:sse:before:message", detail)) return;
    await Promise.all(waits);
    if (detail.cancelled) return;
    noteId(message.id);
    if (message.event) {
      htmx.trigger(live, message.event, { data: message.data, id: message.id });
    } else {
      await htmx.swap({ sourceElement: live, target: live, text: message.data, swap: "none swapEmpty:false" });
    }
    htmx.trigger(live, "htmx:sse:after:message", { message, relayed: true });
  }
  function follow(kind) {
    if (kind === followed) return;
    followed = kind;
    htmx.trigger(live, kind, { connection: { attempt: 0 }, relayed: true });
  }
  channel.addEventListener("message", ({ data }) => {
    if (ended) return;
    if (leader) {
      // A tab that just opened asks how the stream is: answered to it alone.
      if (data.kind === "hello") {
        followers.add(data.from);
        post({ kind: "state", state, lastId, to: data.from });
      } else if (data.kind === "bye") {
        followers.delete(data.from);
      }
      return;
    }
    if (data.to && data.to !== me) return;
    if (data.kind === "leading") {
      channel.postMessage({ kind: "hello", from: me });
    } else if (data.kind === "message") {
      const message = { data: data.data, event: data.event, id: data.id };
      applying = applying.then(() => apply(message)).catch((error) => console.error("shared stream:", error));
    } else if (data.kind === "state") {
      applying = applying.then(() => {
        if (data.state) follow(data.state);
        // What the leader showed that this tab did not (it was loading): ask for it (inbox.js).
        if (data.to === me && data.lastId > lastId) {
          noteId(data.lastId);
          document.dispatchEvent(new Event("dashboard:catch-up"));
        }
      });
    }
  });

  // app.js's watchdog: the shared stream said nothing for two keep-alive intervals. The
  // leader may be frozen in the background, or its connection dead: take the lock over.
  live.addEventListener("dashboard:silent", () => {
    if (!leader && !ended) lead({ steal: true });
  });
  // Signed out (here or anywhere): let go of the lock and the channel, so that a page
  // signed in again leads instead of following a tab that stays signed out.
  document.addEventListener("dashboard:signed-out", () => {
    ended = true;
    waiting?.abort();
    release?.();
    channel.close();
  });
  // Leaving (also into the back/forward cache): the next tab takes over at once.
  window.addEventListener("pagehide", () => {
    if (!ended) channel.postMessage({ kind: "bye", from: me });
    waiting?.abort();
    release?.();
    leader = false;
  });
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted || ended) return;
    // Back from the back/forward cache: follow again, and catch up with what was missed.
    live.dataset.shared = "follower";
    channel.postMessage({ kind: "hello", from: me });
    lead();
  });

  document.addEventListener("DOMContentLoaded", () => {
    channel.postMessage({ kind: "hello", from: me });
    lead();
  });
})();
