// Small enhancements only: pages work without this script (charts have data tables, the job page
// refreshes itself). Charts are drawn from the JSON block; a running job's progress is polled.
(function () {
  "use strict";
  var block = document.getElementById("covalue-charts");
  if (block && window.Plotly) {
    var specs = JSON.parse(block.textContent);
    var config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"] };
    document.querySelectorAll(".chart").forEach(function (el) {
      var spec = specs[el.id];
      if (!spec) { el.textContent = "Chart data missing."; return; }
      Plotly.newPlot(el, spec.data, spec.layout, config).then(function () { el.dataset.rendered = "1"; });
    });
  }
  var job = document.getElementById("job");
  if (!job) { return; }
  var state = job.dataset.state;
  if (state === "done" || state === "failed" || state === "refused") { return; }
  var bar = document.getElementById("job-progress");
  var step = document.getElementById("job-step");
  var label = document.getElementById("job-state");
  function poll() {
    fetch("/api/jobs/" + encodeURIComponent(job.dataset.job), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (j) {
        bar.value = j.progress;
        bar.textContent = j.progress + "%";
        document.getElementById("job-pct").textContent = j.progress + "%";
        step.textContent = j.step || "";
        label.textContent = j.state_text || j.state;
        if (j.state === "done" || j.state === "failed" || j.state === "refused") {
          window.location.reload();
        } else {
          window.setTimeout(poll, 600);
        }
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 400);
})();
