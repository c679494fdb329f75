// Studiobook public pages: the availability strip (live updates, the visitor's zone note),
// the booking drawer (focus, Escape, close), the hold countdown and the Stripe payment form.
// Every page works without this file: the server renders the strip, the drawer is a page of its
// own, the countdown shows the minutes left, and a missing EventSource or Stripe.js only turns
// the extra off.
(function () {
  "use strict";

  function onReady(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  // --- the visitor's own zone ----------------------------------------------------------------

  function visitorZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (error) {
      return "";
    }
  }

  // Same offset now and at the shown day does not make two zones the same, but the note only
  // matters when the clocks read differently, so compare the readings of one instant.
  function sameClock(zoneA, zoneB, instant) {
    try {
      const format = (zone) => new Intl.DateTimeFormat("en-GB", {
        timeZone: zone, hour: "2-digit", minute: "2-digit", day: "2-digit",
      }).format(instant);
      return format(zoneA) === format(zoneB);
    } catch (error) {
      return zoneA === zoneB;
    }
  }

  function noteVisitorZone() {
    const note = document.getElementById("zone-note");
    const extra = document.getElementById("visitor-zone-note");
    if (!note || !extra) return;
    const studioZone = note.dataset.studioZone;
    const mine = visitorZone();
    const strip = document.querySelector("#tape-strip .strip");
    const instant = strip && strip.dataset.from ? new Date(strip.dataset.from) : new Date();
    if (!mine || !studioZone || sameClock(mine, studioZone, instant)) {
      extra.hidden = true;
      return;
    }
    extra.textContent = "Your device is set to " + mine + ", so your clock reads differently: " +
      "each start also shows your own time when you point at it.";
    extra.hidden = false;
    let timeFormat;
    try {
      timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", weekday: "short" });
    } catch (error) {
      return;
    }
    document.querySelectorAll("#tape-strip [data-start]").forEach((button) => {
      button.title = "Your time: " + timeFormat.format(new Date(button.dataset.start));
    });
  }

  // --- the search form -----------------------------------------------------------------------

  // Choosing another service resets the length to that service's default before htmx sends the
  // form (capture phase: this runs before the form's own change trigger).
  document.addEventListener("change", (event) => {
    const select = event.target;
    if (!(select instanceof HTMLSelectElement) || select.name !== "service" || !select.dataset.durations) return;
    let durations;
    try {
      durations = JSON.parse(select.dataset.durations);
    } catch (error) {
      return;
    }
    const info = durations[select.value];
    const duration = select.form && select.form.elements.namedItem("duration");
    if (!info || !duration) return;
    duration.value = info.default;
    const rule = document.getElementById("duration-rule");
    if (rule) rule.textContent = info.rule;
  }, true);

  function clearSearchErrors() {
    const form = document.getElementById("availability-form");
    if (!form) return;
    form.querySelectorAll(".field-invalid").forEach((field) => field.classList.remove("field-invalid"));
    form.querySelectorAll(".error, .alert-error").forEach((error) => error.remove());
    form.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
  }

  function syncSearchDate() {
    const strip = document.querySelector("#tape-strip .strip");
    const form = document.getElementById("availability-form");
    const date = form && form.elements.namedItem("date");
    if (strip && date && strip.dataset.day) date.value = strip.dataset.day;
  }

  // --- the strip: preview, taps on free time, live refresh ------------------------------------

  function previewFor(button, show) {
    const bar = button.closest(".tape-form") && button.closest(".tape-form").querySelector(".tape-preview");
    if (!bar) return;
    if (!show) {
      bar.hidden = true;
      return;
    }
    bar.style.left = button.dataset.left + "%";
    bar.style.width = button.dataset.width + "%";
    bar.hidden = false;
  }

  ["focusin", "mouseover"].forEach((name) => document.addEventListener(name, (event) => {
    const button = event.target.closest && event.target.closest(".tape-start");
    if (button) previewFor(button, true);
  }));
  ["focusout", "mouseout"].forEach((name) => document.addEventListener(name, (event) => {
    const button = event.target.closest && event.target.closest(".tape-start");
    if (button) previewFor(button, false);
  }));

  // A tap on a free stretch of the bar picks the latest start at or before that point in it.
  document.addEventListener("click", (event) => {
    const segment = event.target.closest && event.target.closest(".seg-free");
    if (!segment) return;
    const form = segment.closest(".tape-form");
    const bar = segment.parentElement.getBoundingClientRect();
    const at = ((event.clientX - bar.left) / bar.width) * 100;
    const from = parseFloat(segment.style.left);
    const to = from + parseFloat(segment.style.width);
    const starts = Array.from(form.querySelectorAll(".tape-start"))
      .filter((b) => parseFloat(b.dataset.left) >= from - 0.001 && parseFloat(b.dataset.left) < to);
    if (!starts.length) return;
    const before = starts.filter((b) => parseFloat(b.dataset.left) <= at);
    const chosen = before.length ? before[before.length - 1] : starts[0];
    chosen.focus();
    chosen.click();
  });

  let remembered = null; // the start the keyboard was on when the strip is fetched again

  function rememberFocus() {
    const active = document.activeElement;
    remembered = active && active.matches && active.matches("#tape-strip [data-start]")
      ? { start: active.dataset.start, room: active.dataset.roomId || "", staff: active.dataset.staffId || "" }
      : null;
  }

  function findStart(wanted) {
    return Array.from(document.querySelectorAll("#tape-strip [data-start]")).find((b) =>
      b.dataset.start === wanted.start && (b.dataset.roomId || "") === wanted.room &&
      (b.dataset.staffId || "") === wanted.staff) || null;
  }

  function restoreFocus() {
    if (!remembered) return;
    const again = findStart(remembered);
    if (again) again.focus();
    else {
      const summary = document.querySelector("#tape-strip .strip-summary");
      if (summary) summary.focus();
    }
    remembered = null;
  }

  function searchUrl() {
    const form = document.getElementById("availability-form");
    if (!form) return null;
    const query = new URLSearchParams(new FormData(form)).toString();
    return form.getAttribute("action") + (query ? "?" + query : "");
  }

  function refreshStrip() {
    const url = searchUrl();
    if (!url || !window.htmx) return;
    rememberFocus();
    window.htmx.ajax("GET", url, { target: "#tape-strip", swap: "innerHTML" });
  }

  function liveUpdates() {
    const host = document.getElementById("tape-strip");
    const status = document.getElementById("live-status");
    if (!host || !host.dataset.streamUrl || typeof window.EventSource !== "function" || !window.htmx) return;
    const say = (text) => {
      if (!status) return;
      status.textContent = text;
      status.hidden = !text;
    };
    let stream;
    try {
      stream = new window.EventSource(host.dataset.streamUrl);
    } catch (error) {
      return; // no live updates; the strip is still right as of its last load
    }
    let pending = null;
    const refreshSoon = () => {
      clearTimeout(pending);
      pending = setTimeout(refreshStrip, 300); // a burst of changes: one search
    };
    const shown = () => {
      const strip = host.querySelector(".strip");
      if (!strip) return null;
      const ids = (text) => (text || "").split(",").filter(Boolean).map(Number);
      return {
        rooms: ids(strip.dataset.roomIds), staff: ids(strip.dataset.staffIds),
        from: new Date(strip.dataset.from), to: new Date(strip.dataset.to),
      };
    };
    stream.addEventListener("open", () => say("Free times update by themselves."));
    stream.addEventListener("availability", (event) => {
      let change;
      try {
        change = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      const view = shown();
      if (!view) return;
      const ours = (change.room_ids || []).some((id) => view.rooms.includes(id)) ||
        (change.staff_ids || []).some((id) => view.staff.includes(id));
      const overlaps = new Date(change.start) < view.to && new Date(change.end) > view.from;
      if (ours && overlaps) refreshSoon();
    });
    stream.addEventListener("reset", refreshSoon);
    stream.addEventListener("error", () => {
      // The browser reconnects by itself unless the stream is closed for good.
      if (stream.readyState === window.EventSource.CLOSED) say("Live updates are off: reload the page to see the latest free times.");
      else say("Reconnecting live updates…");
    });
    window.addEventListener("pagehide", () => stream.close());
  }

  // --- the booking drawer --------------------------------------------------------------------

  let opener = null;

  function drawer() {
    return document.querySelector("#drawer-host [role='dialog']");
  }

  function focusables(root) {
    return Array.from(root.querySelectorAll(
      "a[href], button:not([disabled]), input:not([disabled]):not([type='hidden']), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])",
    )).filter((el) => el.offsetParent !== null || el === document.activeElement);
  }

  function closeDrawer() {
    const host = document.getElementById("drawer-host");
    if (!host || !drawer()) return;
    host.innerHTML = "";
    document.body.classList.remove("drawer-open");
    // Back to the start that opened the drawer, or the same start if the strip was fetched
    // again meanwhile, or the strip's summary if that start is gone.
    let target = null;
    if (opener) target = opener.element.isConnected ? opener.element : findStart(opener);
    if (!target) target = document.querySelector("#tape-strip .strip-summary");
    if (target) target.focus();
    opener = null;
  }

  function rememberOpener(event) {
    const config = event.detail.requestConfig || {};
    const trigger = config.triggeringEvent;
    const button = (trigger && trigger.submitter) || document.activeElement;
    if (!button || !button.dataset || !button.dataset.start) return;
    opener = {
      element: button, start: button.dataset.start,
      room: button.dataset.roomId || "", staff: button.dataset.staffId || "",
    };
  }

  document.addEventListener("keydown", (event) => {
    const dialog = drawer();
    if (!dialog) return;
    if (event.key === "Escape") {
      event.preventDefault();
      closeDrawer();
      return;
    }
    if (event.key !== "Tab") return;
    const items = focusables(dialog);
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (event.shiftKey && (document.activeElement === first || !dialog.contains(document.activeElement))) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !dialog.contains(document.activeElement))) {
      event.preventDefault();
      first.focus();
    }
  });

  document.addEventListener("click", (event) => {
    if (event.target.closest && (event.target.closest("[data-drawer-close]") || event.target.matches("[data-drawer-backdrop]"))) {
      event.preventDefault();
      closeDrawer();
    }
  });

  // --- htmx wiring ---------------------------------------------------------------------------

  function wireHtmx() {
    const body = document.body;
    body.addEventListener("htmx:beforeRequest", (event) => {
      const target = event.detail.target;
      if (target && target.id === "drawer-host" && !event.detail.elt.closest("#booking-drawer")) rememberOpener(event);
      if (target && target.id === "tape-strip") target.setAttribute("aria-busy", "true");
    });
    body.addEventListener("htmx:afterRequest", (event) => {
      const target = event.detail.target;
      if (target && target.id === "tape-strip") target.removeAttribute("aria-busy");
    });
    body.addEventListener("htmx:afterSwap", (event) => {
      const target = event.detail.target;
      if (!target) return;
      if (target.id === "tape-strip") {
        const status = event.detail.xhr ? event.detail.xhr.status : 200;
        if (status < 300) {
          clearSearchErrors();
          syncSearchDate();
          restoreFocus();
        } else {
          const invalid = document.querySelector("#availability-form [aria-invalid='true']");
          if (invalid) invalid.focus();
        }
        noteVisitorZone();
      }
      if (target.id === "drawer-host") {
        const dialog = drawer();
        if (!dialog) return;
        document.body.classList.add("drawer-open");
        if (!dialog.contains(document.activeElement)) dialog.focus();
      }
    });
  }

  // --- the hold countdown --------------------------------------------------------------------

  function countdown() {
    const timer = document.getElementById("hold-countdown");
    if (!timer) return;
    const total = parseInt(timer.dataset.remainingSeconds, 10);
    if (Number.isNaN(total)) return;
    const announcer = document.getElementById("hold-announcer");
    // Measured from the server's figure with the page's monotonic clock, so a device whose
    // clock is wrong still counts down correctly.
    const began = performance.now();
    let lastAnnounced = null;
    let interval = null;
    const announce = (text) => {
      if (announcer) announcer.textContent = text;
    };
    const expire = () => {
      clearInterval(interval);
      timer.textContent = "0:00";
      const panel = document.getElementById("hold-timer");
      if (panel) {
        const message = document.createElement("p");
        message.className = "alert alert-warning";
        message.textContent = "Time's up: this hold has expired and the slot is free again. Reload the page to search again.";
        panel.appendChild(message);
      }
      const confirm = document.getElementById("confirm-booking");
      if (confirm) {
        confirm.disabled = true;
        confirm.setAttribute("aria-disabled", "true");
      }
      announce("Your hold has expired.");
    };
    const tick = () => {
      const left = Math.max(0, total - Math.floor((performance.now() - began) / 1000));
      const minutes = Math.floor(left / 60);
      const seconds = left % 60;
      timer.textContent = minutes + ":" + String(seconds).padStart(2, "0");
      timer.setAttribute("aria-label", plural(minutes, "minute") + " " + plural(seconds, "second") + " left");
      // A polite word every couple of minutes, then each of the last minutes, then at 30 s.
      const mark = seconds === 0 && minutes > 0 && (minutes <= 5 || minutes % 2 === 0) ? minutes
        : (left === 30 ? 0.5 : null);
      if (mark !== null && mark !== lastAnnounced) {
        lastAnnounced = mark;
        announce(mark === 0.5 ? "30 seconds left to confirm." : plural(minutes, "minute") + " left to confirm.");
      }
      if (left === 0) expire();
    };
    tick();
    interval = setInterval(tick, 1000);
  }

  // --- paying with Stripe's Payment Element ---------------------------------------------------

  function stripePayment() {
    const form = document.getElementById("payment-form");
    if (!form) return;
    const message = document.getElementById("payment-message");
    const button = document.getElementById("pay-submit");
    const loading = document.getElementById("payment-loading");
    const show = (text) => {
      message.textContent = text;
      message.hidden = false;
    };
    if (typeof window.Stripe !== "function") {
      if (loading) loading.remove();
      show("The secure payment form could not load. Check your connection and reload the page.");
      return;
    }
    let stripe;
    let elements;
    try {
      stripe = window.Stripe(form.dataset.publishableKey);
      elements = stripe.elements({ clientSecret: form.dataset.clientSecret });
      const element = elements.create("payment");
      element.on("ready", () => {
        if (loading) loading.remove();
        button.disabled = false;
      });
      element.mount("#payment-element");
    } catch (error) {
      if (loading) loading.remove();
      show("The secure payment form could not start. Reload the page to try again.");
      return;
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      button.disabled = true;
      message.hidden = true;
      const options = { elements, confirmParams: { return_url: form.dataset.returnUrl } };
      let result;
      try {
        result = form.dataset.mode === "setup" ? await stripe.confirmSetup(options) : await stripe.confirmPayment(options);
      } catch (error) {
        result = { error: { message: "The payment service did not answer. Try again." } };
      }
      // On success Stripe sends the browser to return_url; we only get here with an error.
      if (result && result.error) {
        show(result.error.message || "The payment did not go through. Try again.");
        button.disabled = false;
      }
    });
  }

  onReady(() => {
    noteVisitorZone();
    if (window.htmx) wireHtmx();
    liveUpdates();
    countdown();
    stripePayment();
    // The drawer as a page (no htmx request): nothing to wire, it is ordinary content.
  });
})();
