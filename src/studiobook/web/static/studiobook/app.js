// Studiobook's shared page behaviour. Pages work without it (plain forms and links); with it,
// htmx swaps partials in place.
document.addEventListener("DOMContentLoaded", () => {
  if (window.htmx) {
    // Form errors come back as 422 (invalid input) or 409 (a conflict) with the form rendered
    // again: swap those in like a 200 so the errors appear next to the fields.
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "(422|409)", swap: true },
      { code: "[45]..", swap: false, error: true },
    ];
    // Keep focus management simple and accessible: move focus to the first invalid field after
    // a swap that shows errors.
    document.body.addEventListener("htmx:afterSwap", (event) => {
      const invalid = event.detail.target.querySelector("[aria-invalid='true'], .field-invalid input, .field-invalid select");
      if (invalid) invalid.focus();
    });
    document.body.addEventListener("htmx:responseError", (event) => {
      const box = document.getElementById("request-error");
      if (box) {
        box.hidden = false;
        box.textContent = "Something went wrong (" + event.detail.xhr.status + "). Please try again.";
      }
    });
  }
});
