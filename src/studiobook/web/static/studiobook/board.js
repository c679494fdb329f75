// The calendar board and the approval queue. Everything works without this file (links, the
// "New booking here" form, plain checkboxes); with it:
// - dragging across a lane with a mouse or pen (or tapping a lane on a touch screen) picks a
//   time range and fills the "New booking here" form, snapped to the studio's slot grid;
// - "New booking here" fills the form's room or engineer without reloading the page;
// - a form sent back with errors gets focus on its first invalid field;
// - the approval queue gets a "Select all bookings" checkbox;
// - the board keeps itself current: the availability stream (docs/live-availability.md) says
//   when a hold or booking changed time in the range shown, and the board is fetched again
//   (only the board and the sync warnings are replaced, never a form being filled in).
(function () {
  "use strict";

  function localParts(ms, zone) {
    // Wall-clock date and time of the instant in the studio's zone (not the browser's).
    const parts = {};
    new Intl.DateTimeFormat("en-CA", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).formatToParts(new Date(ms)).forEach((p) => { parts[p.type] = p.value; });
    return { date: `${parts.year}-${parts.month}-${parts.day}`, time: `${parts.hour}:${parts.minute}` };
  }

  function setValue(id, value) {
    const input = document.getElementById(id);
    if (input) {
      input.value = value;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }
  }

  function focusForm(message) {
    const section = document.getElementById("new-booking");
    const status = document.getElementById("selection-status");
    if (status) status.textContent = message;
    if (!section) return;
    section.scrollIntoView({ behavior: "smooth", block: "start" });
    const service = document.getElementById("id_service");
    (service || section).focus({ preventScroll: true });
  }

  function fitDuration() {
    // Round the duration to what the chosen service allows (its step, min and max).
    const service = document.getElementById("id_service");
    const duration = document.getElementById("id_duration_minutes");
    const option = service && service.selectedOptions[0];
    if (!option || !option.dataset.step || !duration || !duration.value) return;
    const step = Number(option.dataset.step);
    const min = Number(option.dataset.min);
    const max = Number(option.dataset.max);
    let minutes = Math.round(Number(duration.value) / step) * step;
    minutes = Math.min(max, Math.max(min, minutes));
    if (String(minutes) !== duration.value) {
      duration.value = String(minutes);
      const status = document.getElementById("selection-status");
      if (status) status.textContent = `Duration set to ${minutes} minutes for ${option.textContent}.`;
    }
  }

  function chooseLane(kind, id) {
    if (kind === "room") setValue("id_room", id);
    if (kind === "staff") setValue("id_staff", id);
  }

  function initBoard(board) {
    const startMs = Number(board.dataset.startMs);
    const endMs = Number(board.dataset.endMs);
    const zone = board.dataset.zone;
    const grid = Math.max(1, Number(board.dataset.grid || 15));
    const MINUTE = 60000;

    function localMinutes(ms) {
      const [hour, minute] = localParts(ms, zone).time.split(":").map(Number);
      return hour * 60 + minute;
    }

    function snap(ms) {
      // The nearest start the server accepts. Its grid is local wall-clock time in the
      // studio's zone (scheduling grid_ticks): minutes since local midnight that are
      // multiples of the grid, restarting at midnight; UTC multiples miss it (Kolkata).
      const whole = Math.floor(ms / MINUTE) * MINUTE;
      const minutes = localMinutes(whole);
      const below = minutes - (minutes % grid);
      const above = Math.min(below + grid, 24 * 60);
      const down = whole - (minutes - below) * MINUTE;
      const up = whole + (above - minutes) * MINUTE;
      const [near, far] = ms - down <= up - ms ? [down, up] : [up, down];
      // Both are counted in the UTC offset in force at ms. If the clocks change between ms
      // and the nearer one, its wall-clock time can be off the grid; the other lies on ms's
      // side of the change (one change at most within a grid step), so it is on the grid.
      return localMinutes(near) % grid === 0 ? near : far;
    }

    function instantAt(track, clientX) {
      const rect = track.getBoundingClientRect();
      const fraction = Math.min(1, Math.max(0, (clientX - rect.left) / rect.width));
      return startMs + fraction * (endMs - startMs);
    }

    function draw(track, fromMs, toMs) {
      let box = track.querySelector(".selection");
      if (!box) {
        box = document.createElement("div");
        box.className = "selection";
        box.setAttribute("aria-hidden", "true");
        track.appendChild(box);
      }
      const span = endMs - startMs;
      box.style.left = `${((fromMs - startMs) * 100) / span}%`;
      box.style.width = `${Math.max(0, ((toMs - fromMs) * 100) / span)}%`;
    }

    function fill(track, fromMs, toMs) {
      const start = localParts(fromMs, zone);
      const end = localParts(toMs, zone);
      const minutes = Math.round((toMs - fromMs) / 60000);
      chooseLane(track.dataset.laneKind, track.dataset.laneId);
      setValue("id_date", start.date);
      setValue("id_start_time", start.time);
      setValue("id_duration_minutes", String(minutes));
      fitDuration();
      const chosen = document.getElementById("id_duration_minutes");
      const note = chosen && chosen.value !== String(minutes)
        ? ` The service books ${chosen.value} minutes.` : "";
      focusForm(`Selected ${start.date} ${start.time} to ${end.time}, ${minutes} minutes, on ` +
        `${track.dataset.laneName}.${note} Choose a service, then Create.`);
    }

    let drag = null;
    board.addEventListener("pointerdown", (event) => {
      const track = event.target.closest(".lane-track");
      if (!track || event.button !== 0 || event.target.closest("a")) return;
      drag = { track, x: event.clientX, from: instantAt(track, event.clientX),
               touch: event.pointerType === "touch" };
      if (!drag.touch) {
        track.setPointerCapture(event.pointerId);
        event.preventDefault();
      }
    });
    board.addEventListener("pointermove", (event) => {
      if (!drag || drag.touch) return;
      const at = instantAt(drag.track, event.clientX);
      const from = snap(Math.min(drag.from, at));
      const to = Math.max(snap(Math.max(drag.from, at)), from + grid * MINUTE);
      draw(drag.track, from, to);
    });
    board.addEventListener("pointercancel", () => { drag = null; });
    board.addEventListener("pointerup", (event) => {
      if (!drag) return;
      const { track } = drag;
      const moved = Math.abs(event.clientX - drag.x) > 6;
      let from; let to;
      if (moved && !drag.touch) {
        const at = instantAt(track, event.clientX);
        from = snap(Math.min(drag.from, at));
        to = Math.max(snap(Math.max(drag.from, at)), from + grid * MINUTE);
      } else if (!moved) {
        // A click or tap: one hour from the nearest grid time.
        from = snap(drag.from);
        to = from + 3600000;
      }
      drag = null;
      if (from === undefined) return;
      draw(track, from, Math.min(to, endMs));
      fill(track, from, Math.min(to, endMs));
    });

    // Open a day at its first item, or at 08:00 local, rather than at midnight.
    const scroller = board.querySelector(".board-scroll");
    const track = board.querySelector(".lane-track");
    if (scroller && track && board.classList.contains("board-day")) {
      const lefts = Array.from(board.querySelectorAll(".item:not(.item-blackout)"))
        .map((item) => parseFloat(item.style.left)).filter((n) => !Number.isNaN(n));
      const percent = lefts.length ? Math.min(...lefts) : (8 * 100) / 24;
      const x = track.offsetLeft + (track.offsetWidth * percent) / 100;
      const head = board.querySelector(".lane-head");
      scroller.scrollLeft = Math.max(0, x - (head ? head.offsetWidth : 0) - 24);
    }

    board.querySelectorAll(".lane-new").forEach((link) => {
      link.addEventListener("click", (event) => {
        if (!document.getElementById("new-booking-form")) return;
        event.preventDefault();
        chooseLane(link.dataset.laneKind, link.dataset.laneId);
        const name = link.closest(".lane").querySelector(".lane-name").textContent;
        focusForm(`New booking on ${name}: choose a service, date, start time and duration.`);
      });
    });
  }

  function initSelectAll() {
    const all = document.querySelector("[data-select-all]");
    if (!all) return;
    const name = all.dataset.selectAll;
    const boxes = () => Array.from(document.querySelectorAll(`input[type=checkbox][name="${name}"]`));
    all.hidden = false;
    const sync = () => {
      const ticked = boxes().filter((b) => b.checked).length;
      all.checked = ticked > 0 && ticked === boxes().length;
      all.indeterminate = ticked > 0 && ticked < boxes().length;
    };
    all.addEventListener("change", () => { boxes().forEach((b) => { b.checked = all.checked; }); });
    boxes().forEach((b) => b.addEventListener("change", sync));
    sync();
  }

  function focusFirstError() {
    const invalid = document.querySelector(
      ".field-invalid input:not([type=hidden]), .field-invalid select, .field-invalid textarea");
    if (invalid) {
      invalid.focus();
      return;
    }
    const alert = document.querySelector("form .alert-error, #codes-error");
    if (alert) {
      alert.setAttribute("tabindex", "-1");
      alert.focus();
    }
  }

  function followStream(board) {
    const url = board.dataset.streamUrl;
    if (!url || !window.EventSource) return;
    let pending = null;
    let dragging = false;
    board.addEventListener("pointerdown", () => { dragging = true; });
    document.addEventListener("pointerup", () => { dragging = false; });

    async function refresh() {
      if (dragging) { pending = setTimeout(refresh, 1000); return; }
      try {
        const response = await fetch(window.location.href, { headers: { "X-Requested-With": "fetch" } });
        if (!response.ok) return;
        const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
        ["board", "sync-warnings"].forEach((id) => {
          const now = document.getElementById(id);
          const next = fresh.getElementById(id);
          if (now && next) now.replaceWith(next);
        });
        const replaced = document.getElementById("board");
        if (replaced) {
          replaced.dataset.streamUrl = url;
          initBoard(replaced);
          replaced.addEventListener("pointerdown", () => { dragging = true; });
        }
      } catch (error) {
        // Offline for a moment: the next change or a reload brings the board up to date.
      }
    }

    function soon() {
      clearTimeout(pending);
      pending = setTimeout(refresh, 400);
    }

    const stream = new EventSource(url);
    stream.addEventListener("availability", (event) => {
      const change = JSON.parse(event.data);
      const shown = document.getElementById("board");
      const from = Number(shown.dataset.startMs);
      const to = Number(shown.dataset.endMs);
      if (Date.parse(change.start) < to && Date.parse(change.end) > from) soon();
    });
    stream.addEventListener("reset", soon);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const board = document.getElementById("board");
    if (board) {
      initBoard(board);
      followStream(board);
    }
    const service = document.getElementById("id_service");
    if (service && board) service.addEventListener("change", fitDuration);
    initSelectAll();
    focusFirstError();
  });
})();
