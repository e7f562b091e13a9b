// Charts are drawn when they come near the screen, so a report of many communities opens quickly;
// printing draws them all first.
(function () {
  var specs = JSON.parse(document.getElementById("covalue-charts").textContent);
  var config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"] };
  var pending = [];
  function draw(el) {
    if (el.dataset.drawn) { return el._covalueDone || Promise.resolve(); }
    el.dataset.drawn = "1";
    var spec = specs[el.id];
    if (!spec) { el.textContent = "Chart data missing."; return Promise.resolve(); }
    el._covalueDone = Plotly.newPlot(el, spec.data, spec.layout, config).then(function () {
      el.dataset.rendered = "1";
    });
    return el._covalueDone;
  }
  var charts = Array.prototype.slice.call(document.querySelectorAll(".chart"));
  // Each chart's box takes its figure's height before it is drawn, so the page does not shift as charts
  // appear, and on screen keeps its layout to itself (.chart.sized in style.css): drawing a chart then
  // re-lays out that box alone, not the whole page before the next chart measures itself, which made
  // drawing every chart of a long report slow.
  charts.forEach(function (el) {
    var layout = specs[el.id] && specs[el.id].layout;
    if (layout && layout.height) { el.style.height = layout.height + "px"; el.classList.add("sized"); }
  });
  if ("IntersectionObserver" in window) {
    var io = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        if (e.isIntersecting) { io.unobserve(e.target); pending.push(draw(e.target)); }
      });
    }, { rootMargin: "400px 0px" });
    charts.forEach(function (el) { io.observe(el); });
  } else {
    charts.forEach(draw);
  }
  // a folded section's charts are drawn when it is opened (a hidden chart would have no width)
  Array.prototype.forEach.call(document.querySelectorAll("details.block"), function (d) {
    d.addEventListener("toggle", function () {
      if (!d.open) { return; }
      Array.prototype.forEach.call(d.querySelectorAll(".chart"), function (el) {
        if (!el.dataset.drawn) { pending.push(draw(el)); return; }
        // refit only a chart drawn at another width (say, before the window was resized): one drawn just
        // now, as covalueDrawAll does after opening every section, already fits
        if (el._fullLayout && Math.abs(el._fullLayout.width - el.clientWidth) > 1) { Plotly.Plots.resize(el); }
      });
    });
  });
  // everything, as printing needs it: folded sections open first, so no chart is drawn at no width
  function drawAll() {
    Array.prototype.forEach.call(document.querySelectorAll("details.block"), function (d) { d.open = true; });
    return Promise.all(charts.map(draw));
  }
  window.covalueDrawAll = drawAll;
  window.covalueVisibleDrawn = function () { return Promise.all(pending); };
  window.addEventListener("beforeprint", drawAll);
})();
