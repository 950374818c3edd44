// The contacts table's selection and bulk bar. Without this file the page still works: tick rows, pick an
// action and Apply; the server re-checks everything.
(function () {
  "use strict";

  function bulkForm() { return document.querySelector("[data-bulk-form]"); }
  function rowChecks() { return Array.prototype.slice.call(document.querySelectorAll("[data-row-check]")); }
  function matching() { return document.querySelector("[data-select-matching]"); }

  function refresh() {
    var form = bulkForm();
    if (!form) return;
    var all = matching();
    var ticked = rowChecks().filter(function (box) { return box.checked; }).length;
    var status = form.querySelector("[data-bulk-status]");
    var action = form.querySelector("[data-bulk-action]");
    var list = form.querySelector("[data-bulk-list]");
    var button = form.querySelector("button[type=submit]");
    var usingAll = all && all.checked;
    rowChecks().forEach(function (box) { box.disabled = usingAll; });
    var what = usingAll ? "all matching contacts" : ticked + " ticked contact" + (ticked === 1 ? "" : "s");
    status.textContent = usingAll ? "With all matching contacts:" : (ticked ? "With " + what + ":" : "Tick contacts to act on them:");
    button.disabled = !usingAll && !ticked;
    var needsList = action.value === "add_to_list" || action.value === "remove_from_list";
    list.hidden = !needsList;
    var label = action.options[action.selectedIndex].text.toLowerCase();
    button.setAttribute("data-confirm", action.value === "delete"
      ? "Delete " + what + "? This cannot be undone."
      : "Apply “" + label + "” to " + what + "?");
    form.classList.toggle("bulkbar-active", usingAll || ticked > 0);
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("[data-select-page]")) {
      rowChecks().forEach(function (box) { box.checked = target.checked; });
    }
    if (target.matches("[data-row-check], [data-select-page], [data-select-matching], [data-bulk-action]")) {
      refresh();
    }
  });

  // After htmx swaps in a new table (search, sort, page), the export link follows the table's query.
  document.addEventListener("htmx:afterSwap", function () {
    var link = document.querySelector("[data-export-link]");
    var query = document.querySelector("#contacts-table input[name=query]");
    if (link && query) {
      var params = new URLSearchParams(query.value);
      params.delete("sort");
      var text = params.toString();
      link.href = link.getAttribute("data-base") + (text ? "?" + text : "");
    }
    refresh();
  });

  document.addEventListener("DOMContentLoaded", refresh);
  if (document.readyState !== "loading") refresh();
})();
