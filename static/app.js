// Small glue for htmx 4: CSRF header on htmx requests, the connection chip, local times.
(() => {
  "use strict";
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
  document.addEventListener("htmx:sse:after:connection", () => setConnection("live", "live"));
  document.addEventListener("htmx:sse:error", () => setConnection("reconnecting", "reconnecting"));
  document.addEventListener("htmx:sse:close", () => setConnection("reconnecting", "reconnecting"));
  document.addEventListener("visibilitychange", () => {
    // htmx pauses the stream while the tab is hidden and reconnects when it is shown.
    if (document.hidden) setConnection("paused", "paused");
    else setConnection("reconnecting", "reconnecting");
  });
  // A stream that ends cleanly (server restart) is reconnected by htmx; say so meanwhile.
  document.addEventListener("htmx:sse:before:connection", (event) => {
    if (event.detail.connection?.attempt > 0) setConnection("reconnecting", "reconnecting");
  });
})();
