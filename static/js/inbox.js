// The inbox: templates and merge fields go into the reply box where the cursor is, the assignee select saves
// itself, and a thread keeps scrolled to its newest message as new ones arrive. Without it everything still works.
(function () {
  "use strict";

  function reply() { return document.getElementById("reply-body"); }

  function insert(text) {
    var box = reply();
    if (!box || box.disabled) return;
    var start = box.selectionStart || box.value.length, end = box.selectionEnd || box.value.length;
    box.value = box.value.slice(0, start) + text + box.value.slice(end);
    box.focus();
    box.setSelectionRange(start + text.length, start + text.length);
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-template-pick]") && event.target.value) {
      insert(event.target.value);
      event.target.value = "";
    }
    if (event.target.matches("[data-autosubmit]")) event.target.form.submit();
  });

  document.addEventListener("click", function (event) {
    var field = event.target.closest("[data-merge-field]");
    if (field && reply()) insert("{{" + field.getAttribute("data-merge-field") + "}}");
  });

  function toBottom() {
    var items = document.getElementById("thread-items");
    if (items) items.scrollTop = items.scrollHeight;
  }
  // The thread's refresh also says whether the number has opted out meanwhile: the reply box follows.
  function followOptOut() {
    var slot = document.getElementById("reply-refusal-slot");
    if (!slot) return;
    var refused = slot.getAttribute("data-refused") === "1";
    document.querySelectorAll("#reply-form textarea, #reply-form button[type=submit], #reply-form select, #reply-form .chip")
      .forEach(function (el) { el.disabled = refused; });
  }
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "thread-items") { toBottom(); followOptOut(); }
  });
  document.addEventListener("htmx:oobAfterSwap", followOptOut);
  document.addEventListener("DOMContentLoaded", toBottom);
  if (document.readyState !== "loading") toBottom();
})();
