/* Renders the host history chart with the vendored uPlot. Data comes from a JSON <script> block (no inline
   script, so the page works under a strict Content-Security-Policy). Sets body[data-chart="ready"] when drawn. */
(function () {
  "use strict";
  function draw() {
    var el = document.getElementById("chart");
    var src = document.getElementById("series");
    if (!el || !src || typeof uPlot === "undefined") { return; }
    var data = JSON.parse(src.textContent);
    var labels = JSON.parse(el.getAttribute("data-labels") || "{}");
    var colors = { cpu: "#1f6feb", ram: "#8250df", swap: "#999999", disk: "#c62828" };
    var keys = ["cpu", "ram", "swap", "disk"].filter(function (k) {
      return (data[k] || []).some(function (v) { return v !== null; });
    });
    var series = [{}].concat(keys.map(function (k) {
      return { label: labels[k] || k, stroke: colors[k], width: 2, spanGaps: false,
               value: function (u, v) { return v == null ? "–" : v.toFixed(1) + " %"; } };
    }));
    var opts = {
      width: Math.max(300, el.clientWidth), height: 300, series: series,
      scales: { y: { range: [0, 100] } },
      axes: [{}, { values: function (u, vals) { return vals.map(function (v) { return v + " %"; }); } }]
    };
    var plot = new uPlot(opts, [data.t].concat(keys.map(function (k) { return data[k]; })), el);
    window.addEventListener("resize", function () { plot.setSize({ width: Math.max(300, el.clientWidth), height: 300 }); });
    document.body.setAttribute("data-chart", "ready");
  }
  var range = document.getElementById("range");
  if (range && range.form) { range.addEventListener("change", function () { range.form.submit(); }); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
