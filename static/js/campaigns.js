// The campaign composer (variants, merge fields, smart encoding, schedule options) and the campaign report's
// charts. Without this file the composer still saves and launches; the preview refreshes through htmx.
(function () {
  "use strict";
  var LABELS = "ABCDEFGHIJ";
  var lastBody = null;

  function composer() { return document.getElementById("composer"); }
  function refresh() {
    var form = composer();
    if (form && window.htmx) window.htmx.trigger(form, "preview-now");
  }

  function relabel() {
    var blocks = document.querySelectorAll("[data-variants] [data-variant]");
    blocks.forEach(function (block, i) {
      var old = block.getAttribute("data-variant"), label = LABELS[i];
      if (old === label) return;
      block.setAttribute("data-variant", label);
      block.querySelectorAll("[id],[name],[for],[data-testid]").forEach(function (el) {
        ["id", "name", "for", "data-testid"].forEach(function (attr) {
          var value = el.getAttribute(attr);
          if (value) el.setAttribute(attr, value.replace("_" + old, "_" + label).replace("-" + old, "-" + label));
        });
      });
      var heading = block.querySelector(".variant-label");
      if (heading) heading.textContent = "Variant " + label;
    });
    var many = blocks.length > 1;
    document.querySelectorAll("[data-variants] .variant-split").forEach(function (el) { el.hidden = !many; });
    var add = document.querySelector("[data-add-variant]");
    if (add) add.disabled = blocks.length >= LABELS.length;
  }

  function rebalance() {
    var splits = document.querySelectorAll("[data-variants] [data-split]");
    var n = splits.length, each = Math.floor(100 / n);
    splits.forEach(function (input, i) { input.value = i === 0 ? 100 - each * (n - 1) : each; });
  }

  document.addEventListener("click", function (event) {
    var add = event.target.closest("[data-add-variant]");
    if (add) {
      var holder = document.querySelector("[data-variants]");
      var n = holder.querySelectorAll("[data-variant]").length;
      if (n >= LABELS.length) return;
      var html = document.getElementById("variant-template").innerHTML.replace(/__L__/g, LABELS[n]);
      holder.insertAdjacentHTML("beforeend", html);
      relabel();
      rebalance();
      holder.querySelector('[data-variant="' + LABELS[n] + '"] textarea').focus();
      refresh();
      return;
    }
    var remove = event.target.closest("[data-remove-variant]");
    if (remove) {
      remove.closest("[data-variant]").remove();
      relabel();
      rebalance();
      refresh();
      return;
    }
    var field = event.target.closest("[data-merge-field]");
    if (field) {
      var body = lastBody || document.querySelector("[data-variants] textarea");
      if (!body) return;
      var token = "{{" + field.getAttribute("data-merge-field") + "}}";
      var start = body.selectionStart || 0, end = body.selectionEnd || 0;
      body.value = body.value.slice(0, start) + token + body.value.slice(end);
      body.focus();
      body.setSelectionRange(start + token.length, start + token.length);
      body.dispatchEvent(new Event("input", { bubbles: true }));
      return;
    }
    var smart = event.target.closest("[data-smart-body]");
    if (smart) {
      var target = smart.getAttribute("data-smart-target");
      var box = target ? document.getElementById(target) : null;
      if (!box) {
        var variant = smart.closest("[data-variant]");
        box = variant ? variant.querySelector("textarea") : null;
      }
      if (!box) return;
      box.value = smart.getAttribute("data-smart-body");
      box.dispatchEvent(new Event("input", { bubbles: true }));
      box.focus();
    }
  });

  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("[data-variants] textarea")) lastBody = event.target;
  });

  function showSchedule() {
    var form = composer();
    if (!form) return;
    var mode = (form.querySelector('input[name="schedule_mode"]:checked') || {}).value || "now";
    form.querySelectorAll("[data-when]").forEach(function (el) { el.hidden = el.getAttribute("data-when") !== mode; });
    var quiet = form.querySelector('input[name="quiet_hours"]');
    form.querySelectorAll("[data-quiet]").forEach(function (el) { el.hidden = quiet && !quiet.checked; });
  }
  document.addEventListener("change", function (event) {
    if (event.target.name === "schedule_mode" || event.target.name === "quiet_hours") showSchedule();
    if (event.target.matches && event.target.matches("[data-chosen-contact]")) {
      var test = document.querySelector("[data-test-contact]");
      if (test) test.value = event.target.value;
      refresh();
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target.closest("[data-confirm]");
    if (form && !window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
  });

  // --- The report's charts ---------------------------------------------------------------------------------
  var charts = [];
  var COLORS = { delivered: "#1a7f37", sent: "#2f6fdb", undelivered: "#c4320a", failed: "#912018", queued: "#8a94a6",
                 scheduled: "#b7bfcc", blocked: "#b54708", cancelled: "#667085" };

  function readJSON(id) {
    var el = document.getElementById(id);
    try { return el ? JSON.parse(el.textContent) : null; } catch (e) { return null; }
  }

  function drawCharts() {
    if (!window.Chart) return;
    charts.forEach(function (c) { c.destroy(); });
    charts = [];
    var reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    var variants = readJSON("variant-data"), canvas = document.getElementById("variant-chart");
    if (variants && canvas && variants.labels.length) {
      charts.push(new window.Chart(canvas, {
        type: "bar",
        data: { labels: variants.labels, datasets: [
          { label: "Delivery rate %", data: variants.delivery, backgroundColor: "#1a7f37" },
          { label: "Reply rate %", data: variants.reply, backgroundColor: "#2f6fdb" },
          { label: "Opt-out rate %", data: variants.opt_out, backgroundColor: "#c4320a" } ] },
        options: { animation: reduced ? false : { duration: 300 }, maintainAspectRatio: false,
                   scales: { y: { beginAtZero: true, max: 100 } } }
      }));
    }
    var time = readJSON("time-data"), timeCanvas = document.getElementById("time-chart");
    if (time && timeCanvas && time.labels.length) {
      var datasets = Object.keys(time.series).map(function (status) {
        return { label: status, data: time.series[status], borderColor: COLORS[status] || "#444",
                 backgroundColor: COLORS[status] || "#444", fill: false, tension: 0.2, pointRadius: 2 };
      });
      charts.push(new window.Chart(timeCanvas, {
        type: "line", data: { labels: time.labels, datasets: datasets },
        options: { animation: false, maintainAspectRatio: false, scales: { y: { beginAtZero: true } } }
      }));
    }
  }

  // After the settle, not the swap: htmx's settle step puts back the new canvas's own width, height and style, which
  // would blank a chart drawn before it (Chart.js sets those on the canvas).
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target && (event.target.id === "campaign-report" || event.detail.target.id === "campaign-report")) drawCharts();
  });
  document.addEventListener("DOMContentLoaded", function () { showSchedule(); relabel(); drawCharts(); });
  if (document.readyState !== "loading") { showSchedule(); relabel(); drawCharts(); }
})();
