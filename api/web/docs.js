// Boots Swagger UI (served from /docs/assets) against this server's own OpenAPI document.
// A file rather than an inline script, so the page's Content-Security-Policy can forbid
// inline script; deferred after the bundle, so SwaggerUIBundle is defined here.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  // The default would send this spec's address to an outside validator for a badge.
  validatorUrl: null,
});
