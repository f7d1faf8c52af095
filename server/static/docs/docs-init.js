// Starts Swagger UI on /docs (server/static/docs/index.html). A file rather than an inline script,
// so that a Content-Security-Policy without 'unsafe-inline' lets it run.
(function () {
  "use strict";
  // The spec's address comes from the page, which sanic-ext fills in from its settings.
  var spec = document.currentScript.getAttribute("data-spec");
  window.addEventListener("load", function () {
    window.ui = SwaggerUIBundle({
      url: spec,
      dom_id: "#swagger-ui",
      deepLinking: true,
      // Otherwise Swagger UI sends the document to an online validator for a badge: on an
      // intranet PC that is a request that never answers.
      validatorUrl: null,
      // Operations listed, not all expanded: the API has over a hundred of them.
      docExpansion: "list",
      operationsSorter: "alpha",
      tagsSorter: "alpha",
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      plugins: [SwaggerUIBundle.plugins.DownloadUrl],
      layout: "StandaloneLayout"
    });
  });
})();
