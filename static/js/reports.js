// The dashboard's and the reports' charts: messages per day stacked by status, and the delivery rate. The data
// is in the page (json_script) and in a table view next to each chart, so nothing depends on this file.
(function () {
  "use strict";
  var COLORS = { delivered: "#1a7f37", sent: "#2f6fdb", undelivered: "#c4320a", failed: "#912018", blocked: "#b54708" };

  function readJSON(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function dayLabel(iso) {
    var parts = iso.split("-");  // a local calendar day, not an instant: no time zone conversion
    return new Date(+parts[0], +parts[1] - 1, +parts[2]).toLocaleDateString([], { day: "numeric", month: "short" });
  }

  function draw() {
    var data = readJSON("daily-data");
    if (!data || !window.Chart) return;
    var labels = data.labels.map(dayLabel);
    var stacked = document.getElementById("daily-chart");
    if (stacked) {
      new window.Chart(stacked, {
        type: "bar",
        data: {
          labels: labels,
          datasets: Object.keys(data.series).map(function (status) {
            return { label: status.charAt(0).toUpperCase() + status.slice(1), data: data.series[status],
                     backgroundColor: COLORS[status] || "#444", stack: "messages" };
          })
        },
        options: { animation: false, maintainAspectRatio: false,
                   scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } }
      });
    }
    var rate = document.getElementById("rate-chart");
    if (rate) {
      new window.Chart(rate, {
        type: "line",
        data: { labels: labels, datasets: [{ label: "Delivery rate (%)", borderColor: "#15803d", backgroundColor: "#15803d",
                data: data.rate.map(function (r) { return r === null ? null : Math.round(r * 1000) / 10; }),
                spanGaps: true, tension: 0.2, pointRadius: 2 }] },
        options: { animation: false, maintainAspectRatio: false, scales: { y: { min: 0, max: 100 } } }
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
