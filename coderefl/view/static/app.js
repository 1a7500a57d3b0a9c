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

  var U = window.coderefl_ui;
  var el = U.el, append = U.append, clear = U.clear, badge = U.badge;
  var pct = U.pct, num = U.num, int = U.int, usd = U.usd, secs = U.secs, deltaText = U.deltaText;
  var chart = U.chart, trajectoryView = U.trajectoryView;
  var state = {
    overview: null,
    trajectories: {},   // key -> data
    waiting: {},        // key -> [callbacks]
    filters: {},        // run index -> {failed, stop, text, sort, dir}
    compare: {differ: false, text: ''},
    stampsSeen: null,
    lastUpdate: null
  };

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
