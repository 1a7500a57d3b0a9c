/* coderefl view: building the page safely, and formatting.
 *
 * Safety rule: every string from a run (model output, code, test names, stdout, reflections)
 * enters the page as a text node (el() children, textContent). innerHTML is never used.
 * Everything here is exported on window.coderefl_ui for the other scripts.
 */
(function () {
  'use strict';

  var SVGNS = 'http://www.w3.org/2000/svg';

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


  window.coderefl_ui = {
    el: el, append: append, svg: svg, clear: clear,
    pct: pct, num: num, int: int, usd: usd, secs: secs, badge: badge, deltaText: deltaText
  };
})();
