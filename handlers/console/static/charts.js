// Draws the charts of a statistics page from the JSON the page carries (no inline script: CSP).
//
// The page holds <script type="application/json" id="chart-data"> with, for each chart, the key of
// its element (id "chart-<key>"): {type: "line" | "bar", categories: [...], axes: [left, right?],
// series: [{name, data, axis?}]}. Every name is already the one a reader sees. The tooltip is drawn
// on the canvas (renderMode "richText"): ECharts' HTML tooltip writes style attributes, which the
// page's style-src 'self' refuses.
(function () {
  "use strict";

  var COLOURS = ["#0b5394", "#e07b39", "#3f9b5a", "#9b59b6", "#c0392b"];

  // A household's assessment: {type: "radar", indicator: [{name, max}], series: [{name, data: [...]}]}.
  function radar(spec) {
    return {
      color: COLOURS,
      animation: false,
      tooltip: { renderMode: "richText" },
      legend: { show: spec.series.length > 1, bottom: 0 },
      radar: { indicator: spec.indicator, radius: "65%", axisName: { color: "#1f2933" } },
      series: [{ type: "radar", areaStyle: { opacity: 0.2 },
                 data: spec.series.map(function (s) { return { name: s.name, value: s.data }; }) }]
    };
  }

  function option(spec) {
    if (spec.type === "radar") { return radar(spec); }
    var empty = !spec.categories.length;
    var axes = (spec.axes && spec.axes.length ? spec.axes : [""]).map(function (name, i) {
      var axis = { type: "value", name: name, minInterval: 1, splitLine: { show: i === 0 } };
      if (i === 1) { axis.min = 0; axis.max = 5; axis.minInterval = 1; }  // ratings: 1 to 5
      return axis;
    });
    return {
      color: COLOURS,
      animation: false,
      title: { show: empty, text: "本期暂无数据", left: "center", top: "middle",
               textStyle: { color: "#52606d", fontSize: 14, fontWeight: "normal" } },
      tooltip: { trigger: "axis", renderMode: "richText" },
      legend: { show: spec.series.length > 1, top: 8 },
      grid: { left: 56, right: axes.length > 1 ? 56 : 24, top: spec.series.length > 1 ? 48 : 32, bottom: 56 },
      xAxis: { type: "category", data: spec.categories, axisLabel: { interval: 0, hideOverlap: true, rotate: spec.categories.length > 8 ? 30 : 0 } },
      yAxis: axes,
      series: spec.series.map(function (s) {
        return { name: s.name, type: spec.type, data: s.data, yAxisIndex: s.axis || 0, smooth: false,
                 symbolSize: 6, barMaxWidth: 36, connectNulls: true };
      })
    };
  }

  function draw() {
    var holder = document.getElementById("chart-data");
    if (!holder || typeof echarts === "undefined") { return; }
    var specs = JSON.parse(holder.textContent);
    var charts = [];
    Object.keys(specs).forEach(function (key) {
      var el = document.getElementById("chart-" + key);
      if (!el) { return; }
      var chart = echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(option(specs[key]));
      charts.push(chart);
    });
    var pending = null;
    window.addEventListener("resize", function () {
      if (pending) { window.clearTimeout(pending); }
      pending = window.setTimeout(function () { charts.forEach(function (c) { c.resize(); }); }, 100);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
