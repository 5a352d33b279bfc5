// Start Swagger UI over the service's own document; no validator badge (it calls an outside site).
// The root path (a proxy's path prefix, or "") comes from the page's <meta name="root-path">.
window.addEventListener("load", function () {
  var root = document.querySelector('meta[name="root-path"]').content;
  window.ui = SwaggerUIBundle({
    url: root + "/openapi.json",
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
