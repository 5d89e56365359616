// Swagger UI for /api/schema/, from assets the server ships (no CDN); kept out of the HTML so
// the page's Content-Security-Policy can forbid inline scripts. Authorize offers both schemes
// of the document (ApiKey "key:secret" and a Bearer JWT); Try it out calls this server.
const root = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: root.dataset.specUrl,
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: false,
  validatorUrl: null, // the default validator is an external service: never call out
  tryItOutEnabled: false,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  plugins: [SwaggerUIBundle.plugins.DownloadUrl],
  layout: "StandaloneLayout",
});
