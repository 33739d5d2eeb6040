// Starts Swagger UI on /docs over the app's own schema. A file of its own: the CSP allows no inline script.
window.addEventListener("DOMContentLoaded", () => {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // The page's address never chooses which schema is shown (Swagger UI's ?url= / ?configUrl=).
    queryConfigEnabled: false,
    validatorUrl: null,
  });
});
