// The inbox list at volume: it keeps at most data-keep items in the page (older ones a
// click away), holds new arrivals back as "N new" while its reader is scrolled down,
// groups items by day, selects several to mark read or archive, and catches up with the
// server after the stream was away (a reconnect, a hidden tab shown again).
(() => {
  "use strict";
  const inbox = () => document.getElementById("inbox");
  // Scrolled further than this from the top, the reader is reading: arrivals wait.
  const READING = 48;

  function items(list) {
    return list.querySelectorAll(":scope > li.notification");
  }
  // Kept by the list's scroll events: reading scrollTop per arriving message forces a
  // layout each time (3.7 s of a burst of 1,000 notifications).
  let reading = false;

  // ---- At most data-keep items: the oldest go, and "Show older" brings them back.
  function trim(list) {
    const keep = Number(list.dataset.keep);
    if (!(keep > 0)) return;
    const all = items(list);
    if (all.length <= keep) return;
    for (let i = keep; i < all.length; i++) all[i].remove();
    const oldest = all[keep - 1].id.slice("notification-".length);
    list.querySelector(":scope > li.inbox-older")?.remove();
    const older = document.createElement("li");
    older.className = "inbox-older";
    const link = document.createElement("a");
    link.className = "button";
    link.href = `/notifications?before=${oldest}`;
    link.setAttribute("hx-get", `/inbox/items?before=${oldest}`);
    link.setAttribute("hx-target", "closest li");
    link.setAttribute("hx-swap", "outerHTML");
    link.textContent = "Show older";
    older.append(link);
    list.append(older);
    htmx.process(older);
  }

  // ---- "N new": arrivals while the reader is scrolled down are not put in the list (it
  // would grow without bound under them); the button brings the newest page.
  let held = 0;
  function showHeld() {
    const button = document.getElementById("inbox-new");
    if (!button) return;
    button.hidden = held === 0;
    button.textContent = held === 1 ? "1 new notification" : `${held} new notifications`;
  }
  function reloadNewest() {
    const list = inbox();
    if (!list) return Promise.resolve();
    held = 0;
    showHeld();
    return htmx.ajax("GET", "/inbox/items", { target: list, swap: "innerHTML" }).then(() => {
      list.scrollTop = 0;
    });
  }
  document.addEventListener("htmx:before:swap", (event) => {
    const tasks = event.detail.tasks;
    const list = inbox();
    if (!Array.isArray(tasks) || !list || !reading) return;
    for (let i = tasks.length - 1; i >= 0; i--) {
      const { target, swapSpec, fragment } = tasks[i];
      // Only arrivals (prepended); restyles and deletes of shown items go through.
      if (target !== list || !String(swapSpec?.style ?? "").startsWith("afterbegin")) continue;
      const item = fragment?.querySelector?.("li[id^='notification-']");
      if (!item || document.getElementById(item.id)) continue;
      tasks.splice(i, 1);
      held += 1;
    }
    showHeld();
  });
  document.addEventListener("click", (event) => {
    if (!event.target.closest?.("#inbox-new")) return;
    reloadNewest().then(() => inbox()?.querySelector("li.notification a, li.notification button")?.focus());
  });

  // ---- Day headings ("Today", "Yesterday", "Mon, Nov 30"), in the viewer's locale and
  // time zone (static/format.js).
  const display = window.dashboardFormat;
  const zone = { timeZone: display.timeZone };
  const dayFormat = new Intl.DateTimeFormat(display.locale, { weekday: "short", day: "numeric", month: "short", ...zone });
  const yearFormat = new Intl.DateTimeFormat(display.locale, { day: "numeric", month: "short", year: "numeric", ...zone });
  const yearOf = new Intl.DateTimeFormat("en-US", { year: "numeric", ...zone });
  const relativeDay = new Intl.RelativeTimeFormat(display.locale, { numeric: "auto" });
  const capitalised = (text) => text.charAt(0).toLocaleUpperCase(display.locale) + text.slice(1);
  const dayKey = (date) => display.dayNumber(date);
  function dayLabel(date) {
    const days = display.dayNumber(new Date(display.serverNow())) - display.dayNumber(date);
    if (days === 0 || days === 1) return capitalised(relativeDay.format(-days, "day"));
    const thisYear = yearOf.format(new Date(display.serverNow())) === yearOf.format(date);
    return (thisYear ? dayFormat : yearFormat).format(date);
  }
  function groupByDay(list) {
    for (const heading of list.querySelectorAll(":scope > li.inbox-day")) heading.remove();
    let previous = null;
    for (const item of items(list)) {
      const when = new Date(item.querySelector("time[datetime]")?.getAttribute("datetime") ?? "");
      if (Number.isNaN(when.getTime())) continue;
      const key = dayKey(when);
      if (key === previous) continue;
      previous = key;
      const heading = document.createElement("li");
      heading.className = "inbox-day";
      heading.textContent = dayLabel(when);
      item.before(heading);
    }
  }

  // ---- Select several: the form shows with a count once something is selected.
  function selection() {
    return document.getElementById("inbox-selection");
  }
  function selected() {
    return document.querySelectorAll("input.select-item:checked");
  }
  function showSelection() {
    const form = selection();
    if (!form) return;
    const count = selected().length;
    form.classList.toggle("has-selection", count > 0);
    const output = form.querySelector(".selected-count");
    if (output) output.textContent = count === 1 ? "1 selected" : `${count} selected`;
  }
  document.addEventListener("change", (event) => {
    if (event.target.matches?.("input.select-item")) showSelection();
  });
  document.addEventListener("click", (event) => {
    if (!event.target.closest?.("[data-select='none']")) return;
    for (const box of selected()) box.checked = false;
    showSelection();
  });
  // Done: what was selected is read (restyled, unchecked) or archived (gone).
  document.addEventListener("htmx:after:request", (event) => {
    if (event.target !== selection() || !event.detail?.ctx?.response?.raw?.ok) return;
    for (const box of selected()) box.checked = false;
    showSelection();
  });

  // ---- Catch up: a stream that was away (a reconnect, a tab shown again: htmx pauses
  // hidden tabs' streams) replays what arrived, but not what other tabs read or archived
  // meanwhile. The newest page is asked for again; a reader scrolled down is told instead.
  let connections = 0;
  function catchUp() {
    const list = inbox();
    if (!list || !list.dataset.keep) return;
    if (reading) {
      const button = document.getElementById("inbox-new");
      if (button) {
        button.hidden = false;
        if (held === 0) button.textContent = "Show the newest";
      }
    } else {
      reloadNewest();
    }
  }
  document.addEventListener("htmx:sse:after:connection", () => {
    connections += 1;
    if (connections > 1) catchUp();
  });
  // A tab that shares another tab's stream (stream.js) and joined after it had moved on.
  document.addEventListener("dashboard:catch-up", catchUp);

  function tidy() {
    const list = inbox();
    if (!list) return;
    if (!reading) trim(list);
    groupByDay(list);
    showSelection();
  }
  document.addEventListener("DOMContentLoaded", () => {
    const list = inbox();
    if (!list) return;
    tidy();
    // Once per task, after it (a burst of arrivals is tidied once, not per item: per item
    // it was a fifth of a burst's cost), and not watching its own changes: the headings it
    // moves would call it again, for ever. A timer, not an animation frame: a background
    // tab that keeps its stream gets no frames, and its list must stay bounded too.
    let queued = false;
    const observer = new MutationObserver(() => {
      if (queued) return;
      queued = true;
      setTimeout(() => {
        queued = false;
        observer.disconnect();
        tidy();
        observer.takeRecords();
        observer.observe(list, { childList: true });
      });
    });
    observer.observe(list, { childList: true });
    // "Today" becomes "Yesterday" at midnight (the viewer's zone) on a page open all day.
    let today = display.dayNumber(new Date(display.serverNow()));
    setInterval(() => {
      const now = display.dayNumber(new Date(display.serverNow()));
      if (now === today) return;
      today = now;
      observer.disconnect();
      groupByDay(list);
      observer.takeRecords();
      observer.observe(list, { childList: true });
    }, 30000);
    list.addEventListener("scroll", () => {
      reading = list.scrollTop > READING;
      if (!reading && held > 0) reloadNewest();
    }, { passive: true });
  });
})();
