// The Send SMS page: "Use smart encoding" puts the suggested body in the message box (the counter then refreshes
// through htmx as if it had been typed), and the form cannot be sent twice by a double click. Without this file the
// page still sends; the server refuses a form it has already sent.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-smart-body]");
    if (!button) return;
    var body = document.getElementById("id_body");
    if (!body) return;
    body.value = button.getAttribute("data-smart-body");
    body.dispatchEvent(new Event("input", { bubbles: true }));
    body.focus();
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-send-form") || event.defaultPrevented) return;
    var button = form.querySelector("[data-testid=send-button]");
    if (button) {
      button.disabled = true;
      button.textContent = "Sending…";
    }
  });

  // Back from the next page (bfcache): the form is usable again.
  window.addEventListener("pageshow", function () {
    var button = document.querySelector("[data-send-form] [data-testid=send-button]");
    if (button && button.disabled) {
      button.disabled = false;
      button.textContent = "Send";
    }
  });
})();
