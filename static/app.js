// Small glue for htmx 4: CSRF header on htmx requests, the connection chip and its
// watchdog, the unread badge's version guard, de-duplicated inbox items, toasts and
// relative times.
(() => {
  "use strict";
  document.documentElement.classList.add("js");
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content;

  document.addEventListener("htmx:config:request", (event) => {
    if (csrf) event.detail.ctx.request.headers["X-CSRF-Token"] = csrf;
  });

  function setConnection(state, label) {
    const chip = document.getElementById("connection");
    if (!chip) return;
    chip.dataset.state = state;
    chip.textContent = label;
  }
  // Set once the stream says this login has ended: nothing reconnects after that.
  let signedOut = false;
  function reconnecting() {
    if (!signedOut) setConnection("reconnecting", "reconnecting");
  }
  const live = () => document.getElementById("live");

  // How htmx's SSE extension reconnects a dropped stream (vendor/htmx-4.0.1/ext/hx-sse:
  // its defaults, then htmx.config.sse, then the element's hx-config, read per connection):
  // after reconnectDelay, doubling with each failed try up to reconnectMaxDelay, ±30 %
  // jitter, for ever. Its 60 s cap is what kept pages away after an outage: the tries fail
  // while the server is down and the wait grows, so after 41 s down a page came back 23 s
  // after the server did, after 2 minutes up to 71 s. Capped at 2 s (1.4-2.6 s with the
  // jitter) a page is back within about 3 s of its server, and a down server gets one
  // connection attempt per page every 2 s: refused by the kernel, or one cheap 502 at a
  // proxy. The jitter spreads the pages that lost the server together over that window,
  // so its return is no storm. Only the cap: an immediate try on "online" would not help
  // (the browser's network coming back says nothing of the server, and the wait is 2.6 s
  // at most anyway), and a page shown again is retried by the extension itself within
  // 0.5 s (see the visibilitychange handler below).
  const RECONNECT_DELAY = 500;
  const RECONNECT_MAX_DELAY = 2000;
  if (window.htmx) {
    htmx.config.sse = {
      ...htmx.config.sse,
      reconnectDelay: RECONNECT_DELAY,
      reconnectMaxDelay: RECONNECT_MAX_DELAY,
      reconnectJitter: 0.3,
    };
  }

  // A stream can go silent with its connection still open (the server paused, the laptop
  // asleep, a proxy that holds it): no error ever comes, and the prices would freeze under
  // "live". The server sends something at least every keep-alive interval (a "ping" when
  // nothing else), so two intervals without a message means the stream is dead: say so,
  // show the prices as stale, and drop the connection; htmx's extension then reconnects
  // with its backoff. Every whole tile the next stream sends says its true state again.
  // The interval is the server's DASHBOARD_KEEPALIVE_INTERVAL, in seconds, given by the
  // page on #live (data-keepalive); 15 s, its default, when the page does not say.
  function silenceLimit() {
    const seconds = Number(live()?.dataset.keepalive);
    return 2 * (seconds > 0 ? seconds * 1000 : 15000);
  }
  let lastMessage = 0;
  let watchdog = null;
  // One timer, not one per message: it re-arms itself for what is left of the limit.
  // Wall-clock time, so that a laptop waking from sleep counts the sleep as silence.
  function watch() {
    lastMessage = Date.now();
    arm();
  }
  function arm() {
    if (watchdog !== null || document.hidden || !live()) return;
    watchdog = setTimeout(checkSilence, Math.max(0, silenceLimit() - (Date.now() - lastMessage)));
  }
  function unwatch() {
    clearTimeout(watchdog);
    watchdog = null;
  }
  function checkSilence() {
    watchdog = null;
    if (signedOut || document.hidden) return;
    const left = silenceLimit() - Math.max(0, Date.now() - lastMessage);
    if (left > 0) {
      watchdog = setTimeout(checkSilence, left);
      return;
    }
    reconnecting();
    for (const tile of document.querySelectorAll("#tiles > .tile")) markStale(tile);
    live()?._htmx?.sse?.reader?.cancel();
    // A tab that follows another tab's stream (stream.js) takes it over instead.
    live()?.dispatchEvent(new Event("dashboard:silent"));
  }
  function markStale(tile) {
    tile.classList.add("is-stale");
    const head = tile.querySelector(".tile-head");
    if (!head || head.querySelector(".stale-marker")) return;
    const marker = document.createElement("span");
    marker.className = "stale-marker";
    marker.title = "No connection to the server: this price may be out of date";
    marker.textContent = "stale";
    head.append(marker); // where the server puts its own (partials/tile.html)
  }

  // htmx hands /events to the SSE extension only when it answers with an event stream,
  // and only the extension reconnects: a first request that fails (a 503, a reset, a
  // timeout) would leave the page unconnected for good. Start it again as the extension
  // does, backing off to the same cap, until the extension has the stream. No jitter: a
  // first request fails for pages as they load, which are spread out already.
  const FIRST_CONNECT_DELAY = RECONNECT_DELAY;
  const FIRST_CONNECT_MAX_DELAY = RECONNECT_MAX_DELAY;
  let firstConnectDelay = FIRST_CONNECT_DELAY;
  document.addEventListener("htmx:finally:request", (event) => {
    const element = live();
    if (event.target !== element || element._htmx?.sse || signedOut) return;
    reconnecting();
    setTimeout(() => {
      if (signedOut || !element.isConnected || element._htmx?.sse) return;
      htmx.ajax("GET", element.getAttribute("hx-sse:connect"), { source: element });
    }, firstConnectDelay);
    firstConnectDelay = Math.min(2 * firstConnectDelay, FIRST_CONNECT_MAX_DELAY);
  });

  document.addEventListener("htmx:sse:after:connection", () => {
    setConnection("live", "live");
    firstConnectDelay = FIRST_CONNECT_DELAY;
    watch();
  });
  // Named events (a keep-alive, "ready", "end") count as much as swapped ones. A message
  // is also proof that the stream is up, whatever the chip said before.
  document.addEventListener("htmx:sse:after:message", () => {
    watch();
    const chip = document.getElementById("connection");
    if (!signedOut && !document.hidden && chip?.dataset.state === "reconnecting") setConnection("live", "live");
  });
  // htmx's SSE extension handles all the messages of a network chunk in one task: a burst
  // (a reconnect's replay, 1,000 notifications at once) was one task of a second or more,
  // the page frozen meanwhile. Past SLICE ms of one task it waits for a new task before
  // the next message (the extension's waitUntil), so the page paints and answers between.
  // A message of 25 swaps (dashboard.live.fragments) takes up to ~20 ms on a machine at half
  // speed: the task stays under 50.
  const SLICE = 10;
  let sliceStart = null;
  document.addEventListener("htmx:sse:before:message", (event) => {
    const now = performance.now();
    if (sliceStart === null) {
      sliceStart = now;
      setTimeout(() => {
        sliceStart = null;
      });
    } else if (now - sliceStart > SLICE) {
      event.detail.waitUntil(new Promise((resume) => setTimeout(resume)));
    }
  });
  document.addEventListener("htmx:sse:error", reconnecting);
  document.addEventListener("htmx:sse:close", reconnecting);
  document.addEventListener("visibilitychange", () => {
    // htmx pauses the stream of a page it sees hidden and reconnects when it is shown: a
    // hidden tab's silence is expected, and a shown one gets two intervals to reconnect.
    if (signedOut) return;
    if (document.hidden) {
      setConnection("paused", "paused");
      unwatch();
      return;
    }
    // A page opened in the background was never seen hidden by the extension (it listens
    // for the change, and there was none): its stream ran on while hidden, and nothing
    // reconnects when it is shown. It used to say "reconnecting" until its next message,
    // a whole keep-alive interval on a quiet page. A stream still open is judged by its
    // last message as the watchdog does: live if that was within the limit, else dead now.
    // (A tab that shares another tab's stream, static/stream.js, has it open all along.)
    if (live()?._htmx?.sse?.reader || live()?.dataset.shared === "follower") {
      if (Date.now() - lastMessage < silenceLimit()) {
        setConnection("live", "live");
        arm();
      } else {
        checkSilence();
      }
    } else if (document.getElementById("connection")?.dataset.state !== "connecting") {
      // Paused, or between tries: the extension reconnects (a first request still on its
      // way keeps saying "connecting").
      reconnecting();
      watch();
    }
  });
  // A stream that ends cleanly (server restart) is reconnected by htmx; say so meanwhile.
  document.addEventListener("htmx:sse:before:connection", (event) => {
    if (signedOut) event.detail.connection.cancelled = true;
    else if (event.detail.connection?.attempt > 0) reconnecting();
  });
  // The server's "end" event: a restart ("shutdown") is reconnected as usual; a login that
  // ended (signed out in this or another tab or device, expired) shows the signed-out state,
  // hides the private parts of the page and stops reconnecting.
  document.addEventListener("end", (event) => {
    let reason;
    try {
      reason = JSON.parse(event.detail?.data ?? "{}").reason;
    } catch {
      return;
    }
    if (reason === "signed-out") showSignedOut();
  });
  function showSignedOut() {
    signedOut = true;
    document.dispatchEvent(new Event("dashboard:signed-out")); // stream.js lets go
    setConnection("signed-out", "signed out");
    document.body.classList.add("is-signed-out");
    const banner = document.getElementById("signed-out");
    if (banner) banner.hidden = false;
  }
  // An htmx request the server refused: it swaps nothing (HX-Reswap: none) and says why in
  // headers. A login that ended shows the signed-out state; anything else a short notice.
  document.addEventListener("htmx:response:error", (event) => {
    const headers = event.detail?.ctx?.response?.headers;
    if (!headers?.get?.("X-Error")) return;
    if (headers.get("X-Signed-Out") === "true" && document.getElementById("signed-out")) {
      showSignedOut();
      return;
    }
    showRequestError(decodeURIComponent(headers.get("X-Error")));
  });
  function showRequestError(message) {
    let notice = document.getElementById("request-error");
    if (!notice) {
      notice = document.createElement("p");
      notice.id = "request-error";
      notice.className = "request-error";
      notice.setAttribute("role", "alert");
      document.getElementById("main")?.prepend(notice);
    }
    notice.textContent = message;
  }

  // A badge carries (version, cursor). A click's answer and the stream's message about the
  // same click can arrive in either order: the older count must never replace the newer.
  function stamp(el) {
    return [Number(el.dataset.version || 0), Number(el.dataset.cursor || 0)];
  }
  function isOlder(incoming, current) {
    const [v1, c1] = stamp(incoming);
    const [v2, c2] = stamp(current);
    return v1 < v2 || (v1 === v2 && c1 < c2);
  }
  document.addEventListener("htmx:before:swap", (event) => {
    const tasks = event.detail.tasks;
    if (!Array.isArray(tasks)) return;
    for (let i = tasks.length - 1; i >= 0; i--) {
      const { target, fragment, swapSpec } = tasks[i];
      if (!target || !fragment) continue;
      let stale = false;
      if (target.id === "unread-count") {
        const incoming = fragment.querySelector("#unread-count");
        stale = incoming !== null && isOlder(incoming, target);
      } else if (target.id === "inbox" && String(swapSpec?.style).startsWith("afterbegin")) {
        // Never show one notification twice (a reconnect racing a replay, two answers).
        const item = fragment.querySelector("li[id^='notification-']");
        stale = item !== null && document.getElementById(item.id) !== null;
      } else if (target.id === "toasts") {
        const toast = fragment.querySelector(".toast");
        stale = toast !== null && document.getElementById(toast.id) !== null;
      }
      if (stale) tasks.splice(i, 1);
    }
  });

  // The unread count in the tab's title ("(3) Live dashboard"), so a background tab says
  // something arrived; it follows the badge, which the streams keep current.
  const baseTitle = document.title;
  let shownTitle = baseTitle;
  function titleFromBadge() {
    const badge = document.getElementById("unread-count");
    const count = badge ? Number(badge.textContent) : 0;
    const title = count > 0 ? `(${count}) ${baseTitle}` : baseTitle;
    // Only when it changes: read or written per message, the title cost a burst of 1,000
    // notifications a quarter of a second.
    if (title !== shownTitle) document.title = shownTitle = title;
  }
  document.addEventListener("DOMContentLoaded", titleFromBadge);
  // Once per task: a burst of messages moves the count many times, the title once.
  let titleQueued = false;
  document.addEventListener("htmx:after:swap", () => {
    if (titleQueued) return;
    titleQueued = true;
    setTimeout(() => {
      titleQueued = false;
      titleFromBadge();
    });
  });

  // Keyboard focus survives a live tile update. The tile is replaced whole, and the link
  // that had focus with it; so the focused link's tile and place in it are noted before the
  // swap and the same link of the new tile is focused after (no ids: the update stays small).
  let refocus = null;
  document.addEventListener("htmx:before:swap", () => {
    const active = document.activeElement;
    const tile = active && active.closest ? active.closest(".tile[id]") : null;
    refocus = tile ? { tile: tile.id, index: [...tile.querySelectorAll("a, button")].indexOf(active) } : null;
  });
  document.addEventListener("htmx:after:swap", () => {
    if (!refocus) return;
    const tile = document.getElementById(refocus.tile);
    const again = tile ? tile.querySelectorAll("a, button")[refocus.index] : null;
    if (again && again !== document.activeElement) again.focus({ preventScroll: true });
  });

  // A notification's own page marks it read once a person sees it: a POST (no GET changes
  // anything), sent when the page is visible and not being prerendered by the browser.
  function markReadOnView() {
    const form = document.querySelector("form[data-mark-read-on-view]");
    if (!form || document.prerendering || document.hidden) return;
    form.removeAttribute("data-mark-read-on-view");
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { "X-CSRF-Token": csrf ?? "" },
      redirect: "manual",
    }).then((response) => {
      // A redirect (the plain form's answer) or OK: it is read; the button has done its job.
      if (response.ok || response.type === "opaqueredirect") form.remove();
    });
  }
  document.addEventListener("DOMContentLoaded", markReadOnView);
  document.addEventListener("prerenderingchange", markReadOnView);
  document.addEventListener("visibilitychange", markReadOnView);

  // Toasts (critical notifications) stay until dismissed: by their button or Escape. They
  // lie above everything, the phone's inbox drawer too (app.css), and Escape only takes a
  // toast the person can see: the one with focus, else the newest one on top of the page
  // (toasts arrive first in #toasts). A toast something covers waits to be seen; Escape
  // then goes to what is on top (the drawer). Focus in a dismissed toast is not dropped on
  // the page's body: it goes to the next toast, or back to where it was before the toasts.
  const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';
  const shown = (el) => (el.checkVisibility ? el.checkVisibility({ visibilityProperty: true }) : el.getClientRects().length > 0);
  const focusables = (root) => [...root.querySelectorAll(FOCUSABLE)].filter(shown);
  function seen(toast) {
    if (document.hidden || !shown(toast)) return false;
    const box = toast.getBoundingClientRect();
    const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    return hit !== null && toast.contains(hit);
  }
  const seenToasts = () => [...document.querySelectorAll("#toasts .toast")].filter(seen);
  let focusBeforeToasts = null;
  document.addEventListener("focusin", (event) => {
    if (!event.target.closest?.("#toasts")) focusBeforeToasts = event.target;
  });
  function dismiss(toast) {
    const hadFocus = toast.contains(document.activeElement);
    const neighbours = [toast.nextElementSibling, toast.previousElementSibling];
    toast.remove();
    if (!hadFocus) return;
    const others = seenToasts();
    const next = neighbours.find((n) => others.includes(n)) ?? others[0];
    const panel = drawerOpen() ? drawer() : null;
    for (const el of [next?.querySelector("[data-dismiss]"), focusBeforeToasts, panel?.querySelector("[data-close-drawer]")]) {
      if (!el?.isConnected || !shown(el)) continue;
      el.focus();
      if (document.activeElement === el) return;
    }
  }
  document.addEventListener("click", (event) => {
    const button = event.target.closest?.("[data-dismiss]");
    const target = button && document.getElementById(button.dataset.dismiss);
    if (target) dismiss(target);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.defaultPrevented) return;
    const focused = document.activeElement?.closest?.("#toasts .toast");
    const toast = focused && seen(focused) ? focused : seenToasts()[0];
    if (toast) {
      dismiss(toast);
      event.preventDefault();
    } else if (drawerOpen()) {
      setDrawer(false);
      event.preventDefault();
    }
  });
  // With the drawer open, what lies behind it is covered: Tab out of the drawer (either
  // end) goes to the toasts above it, and out of the toasts back into the drawer.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Tab" || event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || !drawerOpen()) return;
    const toastStops = seenToasts().flatMap(focusables);
    const drawerStops = focusables(drawer());
    if (!toastStops.length || !drawerStops.length) return;
    const active = document.activeElement;
    const back = event.shiftKey;
    let target = null;
    if (active === (back ? drawerStops[0] : drawerStops.at(-1))) target = back ? toastStops.at(-1) : toastStops[0];
    else if (active === (back ? toastStops[0] : toastStops.at(-1))) target = back ? drawerStops.at(-1) : drawerStops[0];
    if (target) {
      target.focus();
      event.preventDefault();
    }
  });

  // On narrow screens the inbox is a drawer: the Inbox button opens it, Close or Escape
  // shuts it and gives focus back to the button. (Without JS it stays in the page.) Open
  // means open as a drawer: one left open by a window since widened is just the panel.
  const drawer = () => document.getElementById("inbox-panel");
  const drawerToggle = () => document.getElementById("inbox-toggle");
  function drawerOpen() {
    const toggle = drawerToggle();
    return (drawer()?.classList.contains("is-open") ?? false) && toggle !== null && shown(toggle);
  }
  function setDrawer(open) {
    const panel = drawer();
    const toggle = drawerToggle();
    if (!panel || !toggle) return;
    panel.classList.toggle("is-open", open);
    toggle.setAttribute("aria-expanded", String(open));
    if (open) panel.querySelector("[data-close-drawer]")?.focus();
    else toggle.focus();
  }
  document.addEventListener("click", (event) => {
    if (event.target.closest?.("#inbox-toggle")) setDrawer(!drawerOpen());
    else if (event.target.closest?.("[data-close-drawer]")) setDrawer(false);
  });

  // "Mark all read" marks up to the newest notification the page shows: when one arrives
  // live, the form's bound moves up with it (never down).
  function trackNewestShown(mutations) {
    let newest = 0;
    // What was added only: the newest is among it, and the list may be long.
    for (const m of mutations) {
      for (const item of m.addedNodes) {
        if (item.nodeType !== 1 || !item.id?.startsWith("notification-")) continue;
        newest = Math.max(newest, Number(item.id.slice("notification-".length)) || 0);
      }
    }
    for (const input of document.querySelectorAll("input[data-newest-shown]")) {
      if (newest > Number(input.value || 0)) input.value = String(newest);
    }
  }
  document.addEventListener("DOMContentLoaded", () => {
    const inbox = document.getElementById("inbox");
    if (inbox) new MutationObserver(trackNewestShown).observe(inbox, { childList: true });
  });

  document.addEventListener("DOMContentLoaded", () => {
    // The settings' "Numbers and times" form names what "automatic" means here.
    for (const option of document.querySelectorAll("option[data-browser-locale]")) {
      option.textContent += ` (${navigator.language})`;
    }
    for (const span of document.querySelectorAll("[data-device-zone]")) {
      span.textContent = `(${Intl.DateTimeFormat().resolvedOptions().timeZone})`;
    }
    // "3 min ago" moves on (static/format.js wrote it as each time arrived).
    setInterval(() => {
      for (const el of document.querySelectorAll("time.relative[datetime]")) window.dashboardFormat.renderRelative(el);
    }, 30000);
  });
})();
