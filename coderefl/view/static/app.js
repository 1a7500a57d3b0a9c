/* coderefl view: lays out run data computed by coderefl (Python); computes no figures itself.
 *
 * Safety rule: every string from a run (model output, code, test names, stdout, reflections)
 * enters the page as a text node (el() children, textContent). innerHTML is never used.
 *
 * Data arrives through <script src> files that call window.coderefl_load(kind, data): the
 * local server makes them on the fly, `coderefl view --out` writes them to disk; the same
 * code therefore works over http:// and from file://.
 */
(function () {
  'use strict';

  var SVGNS = 'http://www.w3.org/2000/svg';
  var COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];
  var state = {
    overview: null,
    trajectories: {},   // key -> data
    waiting: {},        // key -> [callbacks]
    failed: {},         // key -> true when its script failed to load
    filters: {},        // run index -> {failed, stop, text, sort, dir}
    compare: {differ: false, text: ''},
    stampsSeen: null,
    lastUpdate: null
  };

  // ------------------------------------------------------------------ DOM helpers

  function el(tag, props) {
    var node = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (k) {
        var v = props[k];
        if (v === null || v === undefined || v === false) return;
        if (k === 'class') node.className = v;
        else if (k === 'text') node.textContent = String(v);
        else if (k === 'style') node.style.cssText = v;  // CSSOM: allowed under the server's style-src 'self'
        else if (k.slice(0, 2) === 'on') node.addEventListener(k.slice(2), v);
        else node.setAttribute(k, String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) appendOne(node, arguments[i]);
    return node;
  }

  function append(node) {  // append(node, child, child, ...): strings become text nodes
    for (var i = 1; i < arguments.length; i++) appendOne(node, arguments[i]);
    return node;
  }

  function appendOne(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { appendOne(node, c); }); return; }
    if (typeof child === 'string' || typeof child === 'number') {
      node.appendChild(document.createTextNode(String(child)));
      return;
    }
    node.appendChild(child);
  }

  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  // ------------------------------------------------------------------ formatting

  function pct(x) { return x === null || x === undefined ? '–' : (100 * x).toFixed(1) + '%'; }
  function num(x, digits) { return x === null || x === undefined ? '–' : Number(x).toFixed(digits === undefined ? 2 : digits); }
  function int(x) { return x === null || x === undefined ? '–' : Math.round(x).toLocaleString('en-US'); }
  function usd(x) { return x === null || x === undefined ? '–' : '$' + Number(x).toFixed(4); }
  function secs(x) { return x === null || x === undefined ? '–' : Number(x).toFixed(x < 10 ? 2 : 1) + 's'; }
  function badge(status, label) { return el('span', {class: 'badge ' + (status || 'none'), text: label || status || '–'}); }
  function deltaText(d) {
    if (!d) return '—';
    var f = function (x) { return (x >= 0 ? '+' : '') + (100 * x).toFixed(1); };
    return f(d.delta) + ' pts [' + f(d.ci_low) + ', ' + f(d.ci_high) + '] on ' + d.common;
  }

  // ------------------------------------------------------------------ data loading

  function loadScript(src, onError) {
    var s = document.createElement('script');
    s.src = src;
    s.onload = function () { s.remove(); };
    s.onerror = function () { s.remove(); if (onError) onError(); };
    document.head.appendChild(s);
  }

  function trajKey(run, task, sample) { return run + '\u0000' + task + '\u0000' + sample; }

  window.coderefl_load = function (kind, data) {
    if (kind === 'overview') {
      state.overview = data;
      state.stampsSeen = JSON.stringify(data.runs.map(function (r) { return r.stamp; }));
      state.lastUpdate = new Date();
      state.trajectories = {};  // a changed run may have rewritten a trajectory
      render();
      updateLive();
    } else if (kind === 'trajectory') {
      var key = trajKey(data.run_index, data.task_id, data.sample);
      state.trajectories[key] = data;
      var cbs = state.waiting[key] || [];
      delete state.waiting[key];
      cbs.forEach(function (cb) { cb(data); });
    } else if (kind === 'stamp') {
      if (JSON.stringify(data.stamps) !== state.stampsSeen) loadScript('data/overview.js?t=' + Date.now());
    }
  };

  function withTrajectory(runIndex, row, cb) {
    var key = trajKey(runIndex, row.task_id, row.sample);
    if (state.trajectories[key]) { cb(state.trajectories[key]); return; }
    if (state.waiting[key]) { state.waiting[key].push(cb); return; }
    state.waiting[key] = [cb];
    var ref = row.ref + (state.overview.live ? '&t=' + Date.now() : '');
    loadScript(ref, function () {
      delete state.waiting[key];
      cb(null);
    });
  }

  function updateLive() {
    var live = document.getElementById('live');
    clear(live);
    if (!state.overview) return;
    if (state.overview.live) {
      live.className = 'on';
      live.textContent = 'live · updated ' + state.lastUpdate.toLocaleTimeString();
    } else {
      live.className = '';
      live.textContent = 'static export';
    }
  }

  function poll() {
    if (state.overview && state.overview.live) loadScript('data/stamp.js?t=' + Date.now());
  }

  // ------------------------------------------------------------------ routing

  function route() {
    var h = location.hash.replace(/^#\/?/, '');
    var parts = h ? h.split('/').map(decodeURIComponent) : [];
    if (parts[0] === 'compare' && parts[1] === 'p') return {view: 'compare-problem', task: parts[2], sample: +(parts[3] || 0)};
    if (parts[0] === 'compare') return {view: 'compare'};
    if (parts[0] === 'run' && parts[2] === 'p') return {view: 'problem', run: +parts[1], task: parts[3], sample: +(parts[4] || 0)};
    if (parts[0] === 'run') return {view: 'run', run: +parts[1]};
    return {view: 'run', run: 0};
  }

  function href() {
    return '#/' + Array.prototype.slice.call(arguments).map(function (p) { return encodeURIComponent(String(p)); }).join('/');
  }

  function render() {
    var app = document.getElementById('app');
    var keepScroll = render.lastHash === location.hash ? window.scrollY : 0;
    render.lastHash = location.hash;
    clear(app);
    if (!state.overview) { append(app, el('p', {class: 'muted', text: 'Loading the run…'})); return; }
    var r = route();
    renderTabs(r);
    var runs = state.overview.runs;
    if (!runs.length) { append(app, el('p', {class: 'empty', text: 'No runs.'})); return; }
    if (r.view === 'compare') renderCompare(app);
    else if (r.view === 'compare-problem') renderCompareProblem(app, r.task, r.sample);
    else if (r.view === 'problem' && runs[r.run]) renderProblem(app, r.run, r.task, r.sample);
    else renderRun(app, runs[r.run] ? r.run : 0);
    if (keepScroll) window.scrollTo(0, keepScroll);
    window.coderefl_rendered_ms = performance.now();  // when the last render finished (the speed test reads it)
  }

  function renderTabs(r) {
    var tabs = document.getElementById('tabs');
    clear(tabs);
    state.overview.runs.forEach(function (run, i) {
      var on = (r.view === 'run' || r.view === 'problem') && (r.run || 0) === i;
      append(tabs, el('a', {href: href('run', i), class: on ? 'on' : '', 'data-run': i, text: run.name}));
    });
    if (state.overview.runs.length > 1) {
      var on = r.view === 'compare' || r.view === 'compare-problem';
      append(tabs, el('a', {href: href('compare'), class: on ? 'on' : '', id: 'tab-compare', text: 'side by side'}));
    }
  }

  // ------------------------------------------------------------------ run overview

  function card(label, value, sub, id) {
    return el('div', {class: 'card', id: id}, el('div', {class: 'label', text: label}), el('div', {class: 'value', text: value}),
      sub ? el('div', {class: 'sub', text: sub}) : null);
  }

  function renderRun(app, ri) {
    var run = state.overview.runs[ri];
    var s = run.summary;
    append(app, el('h1', null, run.name + ' ', el('span', {class: 'muted small', text: [run.strategy, run.model, run.benchmark].filter(Boolean).join(' · ')})));
    var cards = el('div', {class: 'cards', id: 'figures'});
    Object.keys(s['pass@k'] || {}).forEach(function (k) {
      var v = s['pass@k'][k];
      if (!v) return;
      append(cards, card(k + ' (hidden)', pct(v.value), '95% CI [' + pct(v.ci_low) + ', ' + pct(v.ci_high) + '] ' + v.ci_method, 'fig-' + k.replace('@', '')));
    });
    append(cards, card('problems × samples', s.problems + ' × ' + s.samples_per_problem, s.records + ' records'));
    append(cards, card('passed / failed / error', s.passing + ' / ' + s.failing + ' / ' + s.errors, null, 'fig-counts'));
    append(cards, card('cost', usd(s.cost_usd.total), usd(s.cost_usd.per_sample) + ' per sample'));
    append(cards, card('tokens', int(s.tokens.total), int(s.tokens.per_sample) + ' per sample · ' + int(s.model_calls.total) + ' calls'));
    append(cards, card('wall', s.wall_s.run !== null && s.wall_s.run !== undefined ? secs(s.wall_s.run) : '–',
      secs(s.wall_s.per_sample_mean) + ' per sample (mean)'));
    append(cards, card('mean iterations', num(s.mean_iterations), 'internal pass ' + pct(s.internal_pass_rate)));
    var wrong = s.self_test.wrong_tests;
    append(cards, card('wrong-test rate', pct(wrong.rate), wrong.wrong + ' of ' + wrong.known + ' reject the canonical solution'));
    append(app, cards);

    var stops = el('div', {class: 'kv'});
    Object.keys(s.stop_reasons || {}).forEach(function (k) {
      append(stops, el('span', {class: 'k', text: k}), el('span', {text: s.stop_reasons[k]}));
    });
    var side = el('div', {class: 'stack'},
      el('div', {class: 'panel'}, el('h3', {text: 'Self-test quality (internal vs hidden)'}), confusion(s.self_test.confusion)),
      el('div', {class: 'panel'}, el('h3', {text: 'Stop reasons'}), stops));
    append(app, el('div', {class: 'row', style: 'margin-top:12px'}, side, plots()));

    append(app, el('h2', {text: 'Problems'}));
    problemList(app, ri);
  }

  function confusion(c) {
    var n = c.counts || {};
    var t = el('table', {class: 'confusion', id: 'confusion'});
    append(t, el('tr', null, el('th'), el('th', {text: 'hidden passed'}), el('th', {text: 'hidden failed'})));
    append(t, el('tr', null, el('th', {text: 'internal passed'}), el('td', {'data-cell': 'tp'}, 'TP ' + (n.tp || 0)),
      el('td', {'data-cell': 'fp'}, 'FP ' + (n.fp || 0))));
    append(t, el('tr', null, el('th', {text: 'internal failed'}), el('td', {'data-cell': 'fn'}, 'FN ' + (n.fn || 0)),
      el('td', {'data-cell': 'tn'}, 'TN ' + (n.tn || 0))));
    return el('div', null, t, el('div', {class: 'small muted', text: 'false-positive share ' + pct(c.false_positive_share) +
      ' · ' + c.judged + ' judged, ' + c.unknown_internal + ' without internal verdict'}));
  }

  var COLUMNS = [
    ['task_id', 'task', false], ['sample', 'sample', true], ['status', 'status', false], ['iterations', 'iters', true],
    ['calls', 'calls', true], ['tokens', 'tokens', true], ['cost_usd', 'cost', true], ['wall_s', 'wall', true],
    ['stop_reason', 'stop reason', false], ['internal_passed', 'internal', false]
  ];

  function problemList(app, ri) {
    var run = state.overview.runs[ri];
    var f = state.filters[ri] || (state.filters[ri] = {failed: false, stop: '', text: '', sort: null, dir: 1});
    var stopSel = el('select', {id: 'filter-stop', onchange: function () { f.stop = stopSel.value; draw(); }},
      el('option', {value: '', text: 'any stop reason'}));
    Object.keys(run.summary.stop_reasons || {}).forEach(function (k) {
      append(stopSel, el('option', {value: k, text: k}));
    });
    stopSel.value = f.stop;
    var failed = el('input', {type: 'checkbox', id: 'filter-failed', onchange: function () { f.failed = failed.checked; draw(); }});
    failed.checked = f.failed;
    var text = el('input', {type: 'search', id: 'filter-text', placeholder: 'task id or prompt text', value: f.text,
      oninput: function () { f.text = text.value; draw(); }});
    var count = el('span', {class: 'muted small', id: 'shown'});
    append(app, el('div', {class: 'filters'}, el('label', null, failed, ' failed only'), stopSel, text, count));

    var thead = el('tr');
    COLUMNS.forEach(function (c) {
      var th = el('th', {class: 'sortable' + (c[2] ? ' num' : '') + (f.sort === c[0] ? (f.dir > 0 ? ' sorted-asc' : ' sorted-desc') : ''),
        'data-col': c[0], text: c[1], onclick: function () {
          if (f.sort === c[0]) f.dir = -f.dir; else { f.sort = c[0]; f.dir = 1; }
          render();
        }});
      append(thead, th);
    });
    var tbody = el('tbody');
    append(app, el('table', {class: 'grid', id: 'problems'}, el('thead', null, thead), tbody));

    function draw() {
      clear(tbody);
      var needle = f.text.trim().toLowerCase();
      var rows = run.records.filter(function (r) {
        if (f.failed && r.status === 'passed') return false;
        if (f.stop && r.stop_reason !== f.stop) return false;
        if (needle && r.task_id.toLowerCase().indexOf(needle) < 0 &&
            (run.prompts[r.task_id] || '').toLowerCase().indexOf(needle) < 0) return false;
        return true;
      });
      if (f.sort) {
        var key = f.sort;
        rows = rows.slice().sort(function (a, b) {
          var x = a[key], y = b[key];
          if (x === y) return 0;
          if (x === null || x === undefined) return 1;
          if (y === null || y === undefined) return -1;
          return (x < y ? -1 : 1) * f.dir;
        });
      }
      var frag = document.createDocumentFragment();
      rows.forEach(function (r) {
        var to = href('run', ri, 'p', r.task_id, r.sample);
        append(frag, el('tr', {class: 'link', 'data-task': r.task_id, 'data-sample': r.sample, 'data-status': r.status,
          onclick: function () { location.hash = to; }},
          el('td', null, el('a', {href: to, text: r.task_id})),
          el('td', {class: 'num', text: r.sample}),
          el('td', null, badge(r.status)),
          el('td', {class: 'num', text: r.iterations}),
          el('td', {class: 'num', text: r.calls}),
          el('td', {class: 'num', text: int(r.tokens)}),
          el('td', {class: 'num', text: usd(r.cost_usd)}),
          el('td', {class: 'num', text: secs(r.wall_s)}),
          el('td', {text: r.stop_reason}),
          el('td', {text: r.internal_passed === null ? '–' : (r.internal_passed ? 'passed' : 'failed')})));
      });
      tbody.appendChild(frag);
      count.textContent = 'showing ' + rows.length + ' of ' + run.records.length;
    }
    draw();
  }

  // ------------------------------------------------------------------ plots (data from coderefl.run.report)

  function plots() {
    var p = state.overview.plots;
    return el('div', {class: 'plots', id: 'plots'}, chart(p.iteration, true), chart(p.cost, false));
  }

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

  // ------------------------------------------------------------------ one problem

  function findRow(ri, task, sample) {
    var run = state.overview.runs[ri];
    for (var i = 0; i < run.records.length; i++) {
      if (run.records[i].task_id === task && run.records[i].sample === sample) return run.records[i];
    }
    return null;
  }

  function renderProblem(app, ri, task, sample) {
    var run = state.overview.runs[ri];
    var row = findRow(ri, task, sample);
    var nav = el('div', {class: 'nav-row'}, el('a', {href: href('run', ri), text: '← ' + run.name}));
    // previous / next within the run's list, in order
    var idx = row ? run.records.indexOf(row) : -1;
    if (idx > 0) { var p = run.records[idx - 1]; append(nav, el('a', {href: href('run', ri, 'p', p.task_id, p.sample), id: 'prev', text: '‹ ' + p.task_id})); }
    if (idx >= 0 && idx < run.records.length - 1) { var n = run.records[idx + 1]; append(nav, el('a', {href: href('run', ri, 'p', n.task_id, n.sample), id: 'next', text: n.task_id + ' ›'})); }
    if (state.overview.runs.length > 1) append(nav, el('a', {href: href('compare', 'p', task, sample), text: 'compare runs on this problem'}));
    append(app, nav);
    if (!row) { append(app, el('p', {class: 'empty', text: 'No record for ' + task + ' sample ' + sample + ' in ' + run.name + '.'})); return; }
    append(app, el('h1', null, task + ' ', el('span', {class: 'muted small', text: 'sample ' + sample + ' · ' + run.name}), ' ', badge(row.status)));
    var holder = el('div', {id: 'problem'}, el('p', {class: 'muted', text: 'Loading the trajectory…'}));
    append(app, holder);
    withTrajectory(ri, row, function (data) {
      clear(holder);
      if (!data) { append(holder, el('p', {class: 'empty', text: 'The trajectory file could not be loaded.'})); return; }
      append(holder, trajectoryView(data, false));
    });
  }

  function trajectoryView(data, compact) {
    var box = el('div');
    var rec = data.record, t = data.trajectory || {};
    var u = rec.usage || {};
    var kv = el('div', {class: 'kv'});
    [['strategy', rec.strategy], ['model', rec.model], ['stop reason', rec.stop_reason || '–'], ['iterations', rec.iterations],
     ['internal tests', rec.internal_passed === null ? 'no verdict' : (rec.internal_passed ? 'passed' : 'failed')],
     ['calls / tokens / cost', (u.calls || 0) + ' / ' + int((u.prompt_tokens || 0) + (u.completion_tokens || 0)) + ' / ' + usd(u.cost_usd)],
     ['wall', secs(rec.wall_s)]].forEach(function (p) { append(kv, el('span', {class: 'k', text: p[0]}), el('span', {text: p[1]})); });
    if (data.timing) {
      var tm = data.timing;
      append(kv, el('span', {class: 'k', text: 'model / sandbox time'}),
        el('span', {text: secs(tm.model_s) + ' in ' + tm.model_calls + ' calls / ' + secs(tm.sandbox_s) + ' in ' + tm.sandbox_runs + ' runs'}));
    }
    append(box, el('div', {class: 'panel'}, kv));
    if (!compact) {
      append(box, el('h2', {text: 'Prompt'}));
      append(box, data.prompt ? el('pre', {class: 'box', id: 'prompt', text: data.prompt})
        : el('p', {class: 'muted', text: 'The prompt is not stored: this run kept message hashes only (--keep-messages hash).'}));
    }
    append(box, el('h2', {text: 'Steps (' + data.steps.length + ')'}));
    var steps = el('div', {class: 'steps', id: 'steps'});
    if (!data.steps.length) append(steps, el('p', {class: 'muted', text: data.trajectory ? 'No steps recorded.' : 'No trajectory: the strategy did not return one.'}));
    data.steps.forEach(function (s) { append(steps, stepView(s, compact)); });
    append(box, steps);
    if (rec.final_code && !compact) {
      append(box, el('h2', {text: 'Final code'}), el('pre', {class: 'box', id: 'final-code', text: rec.final_code}));
    }
    append(box, hiddenView(data));
    return box;
  }

  function stepHead(s) {
    var u = s.usage || {};
    var meta = [];
    if (u.calls) meta.push(u.calls + ' call' + (u.calls > 1 ? 's' : '') + ', ' + int((u.prompt_tokens || 0) + (u.completion_tokens || 0)) + ' tokens' + (u.cost_usd ? ', ' + usd(u.cost_usd) : ''));
    if (u.cached_calls) meta.push(u.cached_calls + ' cached');
    if (s.duration_s) meta.push(secs(s.duration_s));
    return el('div', {class: 'step-head'},
      el('span', {class: 'muted small', text: '#' + (s.index + 1)}),
      el('span', {class: 'kind', text: s.kind.replace('_', ' ')}),
      el('span', {class: 'muted small', text: 'iteration ' + s.iteration}),
      s.execution ? badge(s.execution.status) : null,
      el('span', {class: 'meta', text: meta.join(' · ')}));
  }

  function stepView(s, compact) {
    var cls = 'step k-' + s.kind + (s.execution ? ' v-' + s.execution.status : '');
    var node = el('div', {class: cls, 'data-kind': s.kind, 'data-index': s.index}, stepHead(s));
    var data = s.data || {};
    if (s.kind === 'generate_tests') append(node, testsList(s));
    if (s.kind === 'generate' && s.code) append(node, codeView(s, compact));
    if (s.kind === 'execute' && s.execution) append(node, executionView(s.execution, s.tests));
    if (s.reflection) append(node, el('div', {class: 'reflection', text: s.reflection}));
    if (s.note) append(node, el('div', {class: 'note', text: s.note}));
    if (s.kind === 'critique' && s.response && !s.reflection) append(node, el('div', {class: 'reflection', text: s.response}));
    var extra = Object.keys(data).filter(function (k) { return ['temperature', 'tiers', 'tier'].indexOf(k) < 0; });
    if (extra.length) {
      var kv = el('div', {class: 'kv small'});
      extra.forEach(function (k) {
        var v = data[k];
        append(kv, el('span', {class: 'k', text: k}), el('span', {text: typeof v === 'string' ? v : JSON.stringify(v)}));
      });
      append(node, kv);
    }
    if (!compact) append(node, messagesView(s));
    return node;
  }

  function testsList(s) {
    var rows = s.test_rows || (s.tests || []).map(function (t) { return {test: t, tier: null, dropped: null}; });
    if (!rows.length) return el('div', {class: 'muted small', text: 'no tests'});
    var t = el('table', {class: 'tests generated'});
    rows.forEach(function (r) {
      append(t, el('tr', {'data-tier': r.tier || '', 'data-dropped': r.dropped ? 'yes' : 'no'},
        el('td', null, r.tier ? el('span', {class: 'tier t-' + r.tier, text: r.tier}) : null,
          el('span', {class: 'code' + (r.dropped ? ' dropped' : ''), text: r.test}),
          r.dropped ? el('div', {class: 'small why', text: 'step #' + (r.dropped.step + 1) + ': ' + r.dropped.why}) : null)));
    });
    return t;
  }

  function codeView(s, compact) {
    var wrap = el('div', {class: 'candidate'});
    var code = el('pre', {class: 'box code', text: s.code});
    if (!s.diff) { append(wrap, el('div', {class: 'small muted', text: 'first candidate'}), code); return wrap; }
    var diff = el('pre', {class: 'box diff'});
    if (!s.diff.length) append(diff, el('span', {class: 'hunk', text: 'no change from the previous candidate'}));
    s.diff.forEach(function (d) {
      var cls = d[0] === '+' ? 'add' : d[0] === '-' ? 'del' : d[0] === '@' ? 'hunk' : 'ctx';
      append(diff, el('span', {class: cls, text: (d[0] === '@' ? '' : d[0]) + d[1]}));
    });
    var bDiff = el('button', {class: 'on', text: 'diff vs previous', onclick: function () { show(true); }});
    var bCode = el('button', {text: 'full code', onclick: function () { show(false); }});
    var body = el('div');
    function show(isDiff) {
      bDiff.className = isDiff ? 'on' : ''; bCode.className = isDiff ? '' : 'on';
      clear(body); append(body, isDiff ? diff : code);
    }
    show(true);
    append(wrap, el('div', {class: 'tabs2'}, bDiff, bCode), body);
    return wrap;
  }

  function executionView(x, tests) {
    var box = el('div');
    var passed = (x.tests || []).filter(function (t) { return t.status === 'passed'; }).length;
    append(box, el('div', {class: 'small', text: passed + ' of ' + (x.tests || []).length + ' tests passed · ' + secs(x.duration_s) +
      (x.exit_code !== null && x.exit_code !== undefined ? ' · exit ' + x.exit_code : '') + (x.truncated ? ' · output truncated' : '')}));
    if ((x.tests || []).length) {
      var t = el('table', {class: 'tests results'});
      append(t, el('tr', {class: 'muted small'}, el('th', {text: 'status'}), el('th', {text: 'test'}), el('th', {text: 'returned'}), el('th', {text: 'expected'})));
      x.tests.forEach(function (o) {
        var hasValues = o.returned !== undefined;
        append(t, el('tr', {'data-status': o.status}, el('td', null, badge(o.status)),
          el('td', {class: 'code'}, o.tier ? el('span', {class: 'tier t-' + o.tier, text: o.tier}) : null, o.name,
            !hasValues && o.message ? el('div', {class: 'muted', text: o.message}) : null),
          el('td', {class: 'code returned', text: hasValues ? o.returned : ''}),
          el('td', {class: 'code expected', text: hasValues ? o.expected : ''})));
      });
      append(box, t);
    }
    if (x.stdout) append(box, el('h3', {text: 'stdout'}), el('pre', {class: 'box stdout', text: x.stdout}));
    if (x.stderr) append(box, el('h3', {text: 'stderr'}), el('pre', {class: 'box stderr', text: x.stderr}));
    return box;
  }

  function messagesView(s) {
    if (s.messages && s.messages.length) {
      var d = el('details', {class: 'messages'}, el('summary', {text: s.messages.length + ' messages sent' + (s.messages_sha ? ' · sha ' + s.messages_sha : '') + (s.response ? ' and the reply' : '')}));
      s.messages.forEach(function (m) {
        append(d, el('div', {class: 'msg'}, el('div', {class: 'role', text: m.role}), el('pre', {class: 'box', text: m.content})));
      });
      if (s.response) append(d, el('div', {class: 'msg'}, el('div', {class: 'role', text: 'reply'}), el('pre', {class: 'box', text: s.response})));
      return d;
    }
    if (s.messages_sha) return el('div', {class: 'small muted', text: 'messages sha ' + s.messages_sha + ' (kept as a hash)'});
    return null;
  }

  function hiddenView(data) {
    var rec = data.record;
    var node = el('div', {class: 'step hidden-result', id: 'hidden'});
    append(node, el('div', {class: 'step-head'}, el('span', {class: 'badge hidden', text: 'HIDDEN'}),
      el('span', {class: 'kind', text: 'hidden tests'}), badge(data.status),
      el('span', {class: 'meta', text: 'scored once, after the agent finished; the agent never saw them'})));
    var h = data.hidden;
    if (h) {
      append(node, el('div', {class: 'small', text: 'status ' + h.status + ' · ' + secs(h.duration_s) + ' · evaluations: ' + rec.hidden_evals}));
      if (h.failing && h.failing.length) {
        append(node, el('div', {class: 'small', text: 'failing hidden tests:'}));
        append(node, el('pre', {class: 'box', text: h.failing.join('\n')}));
      }
    } else if (!rec.error) {
      append(node, el('div', {class: 'small muted', text: 'status ' + (rec.hidden_status || 'unknown')}));
    }
    if (rec.canonical_vs_generated !== null && rec.canonical_vs_generated !== undefined) {
      append(node, el('div', {class: 'small', text: rec.canonical_vs_generated ? 'the canonical solution passes the agent\'s tests'
        : 'the canonical solution FAILS the agent\'s tests (a wrong generated test)'}));
    }
    if (rec.error) append(node, el('div', {class: 'note', text: rec.error}));
    if (data.traceback) append(node, el('details', null, el('summary', {text: 'traceback'}), el('pre', {class: 'box', text: data.traceback})));
    return node;
  }

  // ------------------------------------------------------------------ side by side

  function byTask(run) {
    var m = {};
    run.records.forEach(function (r) { (m[r.task_id] = m[r.task_id] || []).push(r); });
    return m;
  }

  function taskOrder(ids) {
    return ids.sort(function (a, b) {
      var ma = /^(.*?)(\d+)$/.exec(a), mb = /^(.*?)(\d+)$/.exec(b);
      if (ma && mb && ma[1] === mb[1]) return (+ma[2]) - (+mb[2]);
      return a < b ? -1 : a > b ? 1 : 0;
    });
  }

  function renderCompare(app) {
    var runs = state.overview.runs;
    var rep = state.overview.report;
    append(app, el('h1', {text: 'Side by side: ' + runs.map(function (r) { return r.name; }).join(' vs ')}));
    var head = el('tr');
    ['run', 'strategy', 'model', 'n', 'pass@1 [95% CI]', 'Δ pass@1 vs first, paired [95% CI]', 'internal', 'wrong tests', 'iters', 'tokens/sample', 'cost/sample', 'errors']
      .forEach(function (h) { append(head, el('th', {text: h})); });
    var body = el('tbody');
    rep.runs.forEach(function (r) {
      var d = r.delta_vs_first;
      append(body, el('tr', {'data-run': r.run},
        el('td', {text: r.run}), el('td', {text: r.strategy || '–'}), el('td', {text: r.model || '–'}),
        el('td', {class: 'num', text: r.problems + '×' + r.samples_per_problem}),
        el('td', {class: 'num', text: pct(r['pass@1']) + ' [' + pct(r['pass@1_ci'][0]) + ', ' + pct(r['pass@1_ci'][1]) + ']'}),
        el('td', {class: 'num delta ' + (d ? (d.delta > 0 ? 'delta-pos' : d.delta < 0 ? 'delta-neg' : '') : ''), text: deltaText(d)}),
        el('td', {class: 'num', text: pct(r.internal_pass_rate)}), el('td', {class: 'num', text: pct(r.wrong_test_rate)}),
        el('td', {class: 'num', text: num(r.mean_iterations)}), el('td', {class: 'num', text: int(r.tokens_per_sample)}),
        el('td', {class: 'num', text: usd(r.cost_per_sample)}), el('td', {class: 'num', text: r.errors})));
    });
    append(app, el('div', {class: 'scroll-x'}, el('table', {class: 'grid', id: 'compare-summary'}, el('thead', null, head), body)));
    append(app, el('div', {class: 'row', style: 'margin-top:12px'}, plots()));

    append(app, el('h2', {text: 'Problems, aligned by task id'}));
    var maps = runs.map(byTask);
    var ids = {};
    maps.forEach(function (m) { Object.keys(m).forEach(function (k) { ids[k] = true; }); });
    var tasks = taskOrder(Object.keys(ids));
    var f = state.compare;
    var differ = el('input', {type: 'checkbox', id: 'filter-differ', onchange: function () { f.differ = differ.checked; draw(); }});
    differ.checked = f.differ;
    var text = el('input', {type: 'search', id: 'compare-text', placeholder: 'task id', value: f.text, oninput: function () { f.text = text.value; draw(); }});
    var count = el('span', {class: 'muted small', id: 'compare-shown'});
    append(app, el('div', {class: 'filters'}, el('label', null, differ, ' only where the runs differ'), text, count));
    var th = el('tr', null, el('th', {text: 'task'}));
    runs.forEach(function (r) { append(th, el('th', {text: r.name})); });
    var tbody = el('tbody');
    append(app, el('table', {class: 'grid', id: 'aligned'}, el('thead', null, th), tbody));

    function draw() {
      clear(tbody);
      var shown = 0;
      tasks.forEach(function (task) {
        if (f.text && task.toLowerCase().indexOf(f.text.trim().toLowerCase()) < 0) return;
        var fractions = maps.map(function (m) {
          var rs = m[task] || [];
          return rs.length ? rs.filter(function (r) { return r.status === 'passed'; }).length / rs.length : null;
        });
        var differs = fractions.some(function (x) { return x !== fractions[0]; });
        if (f.differ && !differs) return;
        shown++;
        var to = href('compare', 'p', task, 0);
        var tr = el('tr', {class: 'link', 'data-task': task, 'data-differs': differs ? 'yes' : 'no', onclick: function () { location.hash = to; }},
          el('td', null, el('a', {href: to, text: task})));
        maps.forEach(function (m) {
          var rs = m[task] || [];
          if (!rs.length) { append(tr, el('td', {class: 'muted', text: 'not run'})); return; }
          var cell = el('td');
          rs.forEach(function (r) {  // one badge per sample, each opening that sample side by side
            append(cell, el('a', {href: href('compare', 'p', task, r.sample), title: 'sample ' + r.sample,
              onclick: function (ev) { ev.stopPropagation(); }}, badge(r.status)), ' ');
          });
          append(cell, el('span', {class: 'small muted', text: rs.length === 1 ? rs[0].iterations + ' iter · ' + rs[0].stop_reason
            : rs.filter(function (r) { return r.status === 'passed'; }).length + '/' + rs.length + ' passed'}));
          append(tr, cell);
        });
        append(tbody, tr);
      });
      count.textContent = 'showing ' + shown + ' of ' + tasks.length + ' problems';
    }
    draw();
  }

  function renderCompareProblem(app, task, sample) {
    var runs = state.overview.runs;
    append(app, el('div', {class: 'nav-row'}, el('a', {href: href('compare'), text: '← side by side'})));
    append(app, el('h1', null, task + ' ', el('span', {class: 'muted small', text: 'sample ' + sample + ' in ' + runs.length + ' runs'})));
    var firstPrompt = null;
    var promptHolder = el('div');
    append(app, promptHolder);
    var cols = el('div', {class: 'cols', id: 'compare-cols', style: 'grid-template-columns: repeat(' + runs.length + ', minmax(0, 1fr))'});
    append(app, cols);
    runs.forEach(function (run, ri) {
      var col = el('div', {class: 'compare-col', 'data-run': run.name});
      append(col, el('h2', null, el('a', {href: href('run', ri, 'p', task, sample), text: run.name}), ' '));
      append(cols, col);
      var row = findRow(ri, task, sample);
      if (!row) { append(col, el('p', {class: 'muted', text: 'not run on this problem'})); return; }
      append(col.firstChild, badge(row.status));
      var holder = el('div', null, el('p', {class: 'muted', text: 'Loading…'}));
      append(col, holder);
      withTrajectory(ri, row, function (data) {
        clear(holder);
        if (!data) { append(holder, el('p', {class: 'muted', text: 'trajectory not available'})); return; }
        if (firstPrompt === null && data.prompt) {
          firstPrompt = data.prompt;
          append(promptHolder, el('details', null, el('summary', {text: 'prompt'}), el('pre', {class: 'box', text: data.prompt})));
        }
        append(holder, trajectoryView(data, true));
      });
    });
  }

  // ------------------------------------------------------------------ start

  window.addEventListener('hashchange', render);
  loadScript('data/overview.js', function () {
    var app = document.getElementById('app');
    clear(app);
    append(app, el('p', {class: 'empty', text: 'Could not load data/overview.js next to this page.'}));
  });
  setInterval(poll, 2000);
})();
