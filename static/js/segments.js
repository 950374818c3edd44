// Segment builder: add and remove condition rows, and show the inputs that fit each row's type.
// Rows are copies of <template id="condition-template">, whose inputs are named "__prefix__-…".
(function () {
  "use strict";

  var form = document.getElementById("segment-form");
  if (!form) return;
  var list = document.getElementById("conditions");
  var template = document.getElementById("condition-template");
  var next = parseInt(form.getAttribute("data-next-index"), 10) || 0;

  function changed() {
    form.classList.toggle("has-conditions", list.querySelector("[data-condition]") !== null);
    form.dispatchEvent(new CustomEvent("conditions-changed", { bubbles: true }));
  }

  function showGroup(row) {
    var type = row.querySelector("[data-condition-type]").value;
    row.querySelectorAll("[data-group]").forEach(function (group) {
      group.hidden = group.getAttribute("data-group") !== type;
    });
  }

  form.addEventListener("click", function (event) {
    if (event.target.closest("[data-add-condition]")) {
      var html = template.innerHTML.split("__prefix__").join("c" + next++);
      var holder = document.createElement("div");
      holder.innerHTML = html.trim();
      var row = holder.firstElementChild;
      list.appendChild(row);
      row.querySelector("[data-condition-type]").focus();
      changed();
      return;
    }
    var remove = event.target.closest("[data-remove-condition]");
    if (remove) {
      remove.closest("[data-condition]").remove();
      changed();
      var add = form.querySelector("[data-add-condition]");
      if (add) add.focus();
    }
  });

  form.addEventListener("change", function (event) {
    if (event.target.matches("[data-condition-type]")) {
      var row = event.target.closest("[data-condition]");
      showGroup(row);
      row.classList.remove("condition-invalid");
      row.querySelectorAll(".error").forEach(function (error) { error.remove(); });
    }
  });

  list.querySelectorAll("[data-condition]").forEach(showGroup);
  form.classList.toggle("has-conditions", list.querySelector("[data-condition]") !== null);
})();
