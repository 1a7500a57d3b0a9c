/* coderefl view: one problem x sample, step by step (tests, candidates and diffs, executions,
 * reflections, decisions, messages), then the hidden result. Text goes in as text only. */
(function () {
  'use strict';

  var U = window.coderefl_ui;
  var el = U.el, append = U.append, clear = U.clear, badge = U.badge;
  var int = U.int, usd = U.usd, secs = U.secs;

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


  U.trajectoryView = trajectoryView;
})();
