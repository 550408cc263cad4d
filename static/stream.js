// One stream per browser, not per tab. Over HTTP/1.1 (what `dashboard serve` speaks) a
// browser opens at most six connections to a site, and each open page's stream holds one:
// the seventh page never loaded. So the tabs of one browser showing the same stream (the
// same page kind, user and chart, whatever their cursors) elect a leader with the Web
// Locks API; only the leader connects (htmx's SSE extension, as before), and it passes
// every message on over a BroadcastChannel. The others apply each message as the extension
// would (htmx.swap for swaps, the named event for named ones) and hear of the leader's
// connection through the same htmx:sse:* events, so the rest of the page's code cannot
// tell them apart. When the leader closes, the lock passes to the next tab, which connects
// and resumes from its own cursor. A browser without those APIs connects in every tab.
(() => {
  "use strict";
  const live = document.getElementById("live");
  const url = live?.dataset.stream;
  if (!live || !url) return;

  function connect() {
    live.setAttribute("hx-sse:connect", url);
    htmx.process(live);
  }
  if (!("BroadcastChannel" in window) || !navigator.locks) {
    document.addEventListener("DOMContentLoaded", connect);
    return;
  }

  // The cursor is where this page's own replay starts; the stream is the same without it.
  const shared = new URL(url, location.href);
  shared.searchParams.delete("after");
  const name = `dashboard:stream:${shared.pathname}${shared.search}`;
  const channel = new BroadcastChannel(name);
  let leader = false;
  // A shared stream must not pause in a hidden leader: every other tab depends on it.
  htmx.config.sse = { ...htmx.config.sse, pauseOnBackground: false };
  live.dataset.shared = "follower";

  // ---- Leader: connect, and pass on what the stream brings and how it is.
  let state = null; // the last htmx:sse:* event name, for tabs that join later
  function pass(kind, detail = {}) {
    if (leader) channel.postMessage({ kind, ...detail });
  }
  live.addEventListener("htmx:sse:before:message", (event) => {
    const { data, event: name, id } = event.detail.message;
    pass("message", { data, event: name, id });
  });
  for (const kind of ["htmx:sse:after:connection", "htmx:sse:error", "htmx:sse:close"]) {
    live.addEventListener(kind, () => {
      state = kind;
      pass("state", { state: kind });
    });
  }

  // ---- Follower: apply the leader's messages in order, as the extension does, with the
  // same events around each (app.js's handlers of htmx:sse:before:message may ask it to
  // wait).
  let applying = Promise.resolve();
  async function apply(message) {
    const waits = [];
    const detail = { message, cancelled: false, waitUntil: (promise) => waits.push(promise) };
    if (!htmx.trigger(live, "htmx:sse:before:message", detail)) return;
    await Promise.all(waits);
    if (detail.cancelled) return;
    if (message.event) {
      htmx.trigger(live, message.event, { data: message.data, id: message.id });
    } else {
      await htmx.swap({ sourceElement: live, target: live, text: message.data, swap: "none swapEmpty:false" });
    }
  }
  channel.addEventListener("message", ({ data }) => {
    if (leader) {
      // A tab that just opened asks how the stream is.
      if (data.kind === "hello" && state) pass("state", { state });
      return;
    }
    if (data.kind === "message") {
      const message = { data: data.data, event: data.event, id: data.id };
      applying = applying
        .then(() => apply(message))
        .catch(() => {})
        .then(() => htmx.trigger(live, "htmx:sse:after:message", { message }));
    } else if (data.kind === "state") {
      applying = applying.then(() => htmx.trigger(live, data.state, { connection: { attempt: 0 } }));
    }
  });

  document.addEventListener("DOMContentLoaded", () => {
    channel.postMessage({ kind: "hello" });
    // Held for the life of the page: the next tab in line gets it when this one goes.
    navigator.locks.request(name, () => {
      leader = true;
      live.dataset.shared = "leader";
      connect();
      return new Promise(() => {});
    });
  });
})();
