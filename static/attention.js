// Signals that reach a person who is not looking at the right spot: the unread count as a
// badge on the tab's icon, and, opted in per browser on the settings page, a desktop
// notification (while the tab is hidden) and a sound for what raises a toast: a critical
// notification or one's own price alert firing.
(() => {
  "use strict";
  const toasts = () => document.getElementById("toasts");
  const user = toasts()?.dataset.user;
  if (!user) return;
  const storageKey = `dashboard:attention:${user}`;

  function preferences() {
    try {
      return { desktop: false, sound: false, ...JSON.parse(localStorage.getItem(storageKey) ?? "{}") };
    } catch {
      return { desktop: false, sound: false };
    }
  }
  function remember(change) {
    const next = { ...preferences(), ...change };
    try {
      localStorage.setItem(storageKey, JSON.stringify(next));
    } catch {
      // Storage refused (private mode, quota): the choice lasts as long as the page.
    }
    return next;
  }

  // A hidden tab's stream is paused by htmx unless told otherwise, and a paused stream
  // brings nothing to notify about. With desktop notifications on, this browser keeps the
  // stream open in the background. Set before htmx connects (this script is deferred,
  // htmx starts at DOMContentLoaded).
  if (preferences().desktop && window.htmx) {
    htmx.config.sse = { ...htmx.config.sse, pauseOnBackground: false };
  }

  // ---- The tab's icon with the unread count on it.
  const icon = document.querySelector('link[rel="icon"]');
  const plainIcon = icon?.getAttribute("href");
  let iconSource = null;
  if (plainIcon) {
    fetch(plainIcon)
      .then((response) => (response.ok ? response.text() : null))
      .then((svg) => {
        iconSource = svg;
        badgeIcon();
      })
      .catch(() => {});
  }
  let shownCount = -1;
  function badgeIcon() {
    const badge = document.getElementById("unread-count");
    const count = badge ? Number(badge.textContent) || 0 : 0;
    if (!icon || iconSource === null || count === shownCount) return;
    shownCount = count;
    if (count === 0) {
      icon.setAttribute("href", plainIcon);
      return;
    }
    const label = count > 99 ? "99+" : String(count);
    const size = label.length > 2 ? 9 : 11;
    const dot =
      `<circle cx="22" cy="10" r="10" fill="#d92d20" stroke="#fff" stroke-width="1.5"/>` +
      `<text x="22" y="10" dy=".35em" text-anchor="middle" font-family="system-ui,sans-serif" ` +
      `font-weight="700" font-size="${size}" fill="#fff">${label}</text>`;
    const svg = iconSource.replace(/<\/svg>\s*$/, `${dot}</svg>`);
    icon.setAttribute("href", `data:image/svg+xml,${encodeURIComponent(svg)}`);
  }
  // Once per task: a burst of messages moves the count many times, the icon once.
  let iconQueued = false;
  document.addEventListener("htmx:after:swap", () => {
    if (iconQueued) return;
    iconQueued = true;
    setTimeout(() => {
      iconQueued = false;
      badgeIcon();
    });
  });

  // ---- Sound: a short two-tone chime made on the spot (no file to fetch). Browsers let a
  // page play sound only after the person has clicked or typed in it since it loaded, so
  // the audio is readied on the first such gesture.
  let audio = null;
  function readyAudio() {
    if (!preferences().sound || !window.AudioContext) return;
    audio ??= new AudioContext();
    if (audio.state === "suspended") audio.resume().catch(() => {});
  }
  document.addEventListener("pointerdown", readyAudio, { capture: true });
  document.addEventListener("keydown", readyAudio, { capture: true });
  function chime() {
    readyAudio();
    if (!audio || audio.state !== "running") return;
    const start = audio.currentTime;
    for (const [offset, pitch] of [[0, 880], [0.14, 1320]]) {
      const tone = audio.createOscillator();
      const level = audio.createGain();
      tone.frequency.value = pitch;
      level.gain.setValueAtTime(0.0001, start + offset);
      level.gain.exponentialRampToValueAtTime(0.15, start + offset + 0.02);
      level.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.35);
      tone.connect(level).connect(audio.destination);
      tone.start(start + offset);
      tone.stop(start + offset + 0.4);
    }
  }

  // ---- Is any of this person's dashboard tabs in view? Every tab gets each toast: a
  // desktop notification while another tab shows it is noise, and one chime per tab is a
  // chord. Tabs in view say so in this browser's storage, renewed while they stay in view.
  const tab = Math.random().toString(36).slice(2);
  const seenKey = `dashboard:in-view:${user}:`;
  const FRESH = 8000;
  function sayInView() {
    try {
      if (document.hidden) localStorage.removeItem(seenKey + tab);
      else localStorage.setItem(seenKey + tab, String(Date.now()));
    } catch {
      // No storage: each tab judges by itself.
    }
  }
  function someTabInView() {
    if (!document.hidden) return true;
    try {
      for (let i = 0; i < localStorage.length; i++) {
        const key = localStorage.key(i);
        if (key?.startsWith(seenKey) && Date.now() - Number(localStorage.getItem(key)) < FRESH) return true;
      }
    } catch {
      return false;
    }
    return false;
  }
  document.addEventListener("visibilitychange", sayInView);
  window.addEventListener("pagehide", () => {
    try {
      localStorage.removeItem(seenKey + tab);
    } catch {
      // Nothing to tidy.
    }
  });
  setInterval(() => {
    if (!document.hidden) sayInView();
  }, FRESH / 2);
  sayInView();
  // The one tab that speaks for this browser: the one in view, else the one holding the
  // shared stream (static/stream.js), else (no sharing) each.
  function speaksForBrowser() {
    if (!document.hidden) return true;
    if (someTabInView()) return false;
    const shared = document.getElementById("live")?.dataset.shared;
    return shared === undefined || shared === "leader";
  }

  // ---- Desktop notifications, for a toast that arrives while no tab is in view.
  function notifyDesktop(toast) {
    if (!document.hidden || !window.Notification || Notification.permission !== "granted") return;
    const title = toast.querySelector(".toast-text strong")?.textContent ?? "Notification";
    const body = toast.querySelector(".toast-text span")?.textContent ?? "";
    try {
      const shown = new Notification(title, { body, tag: toast.id, icon: plainIcon ?? undefined });
      shown.addEventListener("click", () => {
        window.focus();
        shown.close();
      });
    } catch (error) {
      // Some browsers (Android's Chrome) show notifications only from a service worker.
      console.warn("desktop notification:", error);
    }
  }
  function announced(toast) {
    if (!speaksForBrowser()) return;
    const wanted = preferences();
    if (wanted.desktop) notifyDesktop(toast);
    if (wanted.sound) chime();
  }

  // ---- The settings page's "This browser" choices.
  function showChoices() {
    const form = document.getElementById("attention");
    if (!form) return;
    form.hidden = false;
    const wanted = preferences();
    const desktop = form.querySelector("input[name=desktop]");
    const sound = form.querySelector("input[name=sound]");
    const status = form.querySelector(".attention-status");
    desktop.checked = wanted.desktop && window.Notification?.permission === "granted";
    sound.checked = wanted.sound;
    if (!window.Notification) {
      desktop.disabled = true;
      status.textContent = "This browser cannot show desktop notifications.";
    }
    desktop.addEventListener("change", async () => {
      if (!desktop.checked) {
        remember({ desktop: false });
        status.textContent = "Desktop notifications are off in this browser.";
        return;
      }
      const permission = await Notification.requestPermission();
      const granted = permission === "granted";
      desktop.checked = granted;
      remember({ desktop: granted });
      status.textContent = granted
        ? "Desktop notifications are on in this browser, while a dashboard tab is open."
        : "This browser blocks notifications from this site: allow them in its site settings, then try again.";
    });
    sound.addEventListener("change", () => {
      remember({ sound: sound.checked });
      if (sound.checked) chime(); // the click is a gesture: this plays, and says how it sounds
      status.textContent = sound.checked ? "A sound plays in this browser." : "No sound in this browser.";
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    showChoices();
    badgeIcon();
    const list = toasts();
    if (!list) return;
    new MutationObserver((mutations) => {
      for (const m of mutations) {
        for (const node of m.addedNodes) {
          if (node.nodeType === 1 && node.classList.contains("toast")) announced(node);
        }
      }
    }).observe(list, { childList: true });
  });
})();
