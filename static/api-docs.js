// /docs: Swagger UI (vendored by the swagger-ui-bundle package) on the app's own origin,
// started from a file rather than an inline script, so the page runs under the site's CSP.
(() => {
  "use strict";
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
  });
})();
