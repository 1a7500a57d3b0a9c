/* coderefl view: the plots of `coderefl report`, drawn as SVG from the series it computed. */
(function () {
  'use strict';

  var U = window.coderefl_ui;
  var svg = U.svg, pct = U.pct;
  var COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];

  function chart(spec, lines) {
    var W = 400, H = 250, ml = 46, mr = 104, mt = 26, mb = 38, pw = W - ml - mr, ph = H - mt - mb;
    var names = Object.keys(spec.series);
    var xs = [];
    names.forEach(function (n) { spec.series[n].forEach(function (p) { xs.push(p[0]); }); });
    if (!xs.length) xs = [0];
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
    if (x1 === x0) { x0 = x0 >= 1 ? x0 - 1 : 0; x1 = x1 + 1; }
    if (!lines) { var pad = (x1 - x0) * 0.08; x0 -= pad; x1 += pad; }
    var sx = function (x) { return ml + (x - x0) / (x1 - x0) * pw; };
    var sy = function (y) { return mt + (1 - y) * ph; };
    var root = svg('svg', {viewBox: '0 0 ' + W + ' ' + H, 'font-size': 11, 'font-family': 'sans-serif', 'class': 'chart'});
    root.appendChild(svg('text', {x: ml + pw / 2, y: 16, 'text-anchor': 'middle', 'font-size': 13}, spec.title));
    for (var k = 0; k <= 5; k++) {
      var y = k / 5;
      root.appendChild(svg('line', {x1: ml, x2: ml + pw, y1: sy(y), y2: sy(y), stroke: '#eee'}));
      root.appendChild(svg('text', {x: ml - 5, y: sy(y) + 4, 'text-anchor': 'end'}, Math.round(100 * y) + '%'));
    }
    // enough decimals that the five ticks differ (costs are small, token counts large)
    var digits = Math.min(6, Math.max(0, Math.ceil(-Math.log10((x1 - x0) / 4))));
    for (k = 0; k <= 4; k++) {
      var x = x0 + (x1 - x0) * k / 4;
      var label = lines ? (Math.abs(x - Math.round(x)) < 1e-9 ? String(Math.round(x)) : '')
        : x.toLocaleString('en-US', {maximumFractionDigits: digits, minimumFractionDigits: digits});
      root.appendChild(svg('text', {x: sx(x), y: mt + ph + 14, 'text-anchor': 'middle'}, label));
    }
    root.appendChild(svg('rect', {x: ml, y: mt, width: pw, height: ph, fill: 'none', stroke: '#999'}));
    root.appendChild(svg('text', {x: ml + pw / 2, y: H - 6, 'text-anchor': 'middle'}, spec.xlabel));
    root.appendChild(svg('text', {x: 12, y: mt + ph / 2, 'text-anchor': 'middle', transform: 'rotate(-90 12 ' + (mt + ph / 2) + ')'}, spec.ylabel));
    names.forEach(function (name, i) {
      var color = COLORS[i % COLORS.length];
      var pts = spec.series[name];
      if (lines && pts.length > 1) {
        root.appendChild(svg('polyline', {points: pts.map(function (p) { return sx(p[0]) + ',' + sy(p[1]); }).join(' '),
          fill: 'none', stroke: color, 'stroke-width': 2}));
      }
      pts.forEach(function (p) {
        if (spec.errors && spec.errors[name]) {
          var e = spec.errors[name];
          root.appendChild(svg('line', {x1: sx(p[0]), x2: sx(p[0]), y1: sy(e[0]), y2: sy(e[1]), stroke: color, 'stroke-width': 1.5}));
          [e[0], e[1]].forEach(function (v) {
            root.appendChild(svg('line', {x1: sx(p[0]) - 4, x2: sx(p[0]) + 4, y1: sy(v), y2: sy(v), stroke: color}));
          });
        }
        var c = svg('circle', {cx: sx(p[0]), cy: sy(p[1]), r: 3.5, fill: color});
        c.appendChild(svg('title', {}, name + ': ' + pct(p[1])));
        root.appendChild(c);
      });
      var ly = mt + 12 + 16 * i;
      root.appendChild(svg('rect', {x: ml + pw + 10, y: ly - 9, width: 10, height: 10, fill: color}));
      root.appendChild(svg('text', {x: ml + pw + 25, y: ly}, name.length > 16 ? name.slice(0, 15) + '…' : name));
    });
    return root;
  }

  U.chart = chart;
})();
