/**
 * The dashboard's page: one HTML document with its style and script inline (no build step, no
 * external resource). The script builds the DOM with textContent only (job data is never parsed
 * as HTML), follows `/api/events` for the cluster and the counts, and `/api/jobs/<id>/events` on
 * a job's page.
 */
export const DASHBOARD_PAGE = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>zkjobs dashboard</title>
<style>
  :root { --bg:#f6f7f9; --fg:#1d2330; --muted:#687086; --line:#dde1e8; --card:#fff; --accent:#2f6fde;
          --ok:#1f8a4c; --bad:#c73a3a; --warn:#b7791f; --run:#2f6fde; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--fg); }
  header { display:flex; gap:16px; align-items:center; padding:12px 20px; background:#1d2330; color:#fff; flex-wrap:wrap; }
  header h1 { font-size:16px; margin:0; font-weight:600; }
  header a { color:#fff; text-decoration:none; }
  header .ns { font-family:ui-monospace, monospace; opacity:.85; }
  header .spacer { flex:1; }
  main { padding:16px 20px; max-width:1200px; margin:0 auto; }
  section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:14px 16px; margin-bottom:16px; }
  h2 { font-size:14px; margin:0 0 10px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); }
  table { border-collapse:collapse; width:100%; }
  th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
  th { font-weight:600; color:var(--muted); font-size:12px; }
  td.mono, .mono { font-family:ui-monospace, monospace; font-size:12.5px; text-transform:none; }
  .badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; background:#e8ebf0; color:var(--fg); }
  .s-completed { background:#dcf3e5; color:var(--ok); } .s-failed, .s-dead { background:#f8dddd; color:var(--bad); }
  .s-active { background:#dde8fb; color:var(--run); } .s-waiting, .s-delayed { background:#f6ecd9; color:var(--warn); }
  .s-cancelled { background:#e8ebf0; color:var(--muted); }
  .c-connected, .c-reconnected { background:#dcf3e5; color:var(--ok); } .c-suspended, .c-lost { background:#f8dddd; color:var(--bad); }
  .cards { display:flex; gap:10px; flex-wrap:wrap; }
  .card { border:1px solid var(--line); border-radius:8px; padding:8px 12px; min-width:104px; cursor:pointer; background:#fff; }
  .card.sel { outline:2px solid var(--accent); }
  .card .n { font-size:22px; font-weight:650; }
  .card .l { font-size:12px; color:var(--muted); }
  .muted { color:var(--muted); }
  .toolbar { display:flex; gap:10px; align-items:center; margin:10px 0; flex-wrap:wrap; }
  select, input, button { font:inherit; padding:4px 8px; border:1px solid var(--line); border-radius:6px; background:#fff; }
  button { cursor:pointer; } button:disabled { opacity:.5; cursor:default; }
  button.danger { border-color:var(--bad); color:var(--bad); }
  a { color:var(--accent); }
  dl { display:grid; grid-template-columns:max-content 1fr; gap:4px 16px; margin:0; }
  dt { color:var(--muted); } dd { margin:0; }
  ol.timeline { list-style:none; padding:0; margin:0; border-left:2px solid var(--line); }
  ol.timeline li { position:relative; padding:0 0 14px 18px; }
  ol.timeline li::before { content:""; position:absolute; left:-7px; top:4px; width:12px; height:12px; border-radius:50%; background:var(--line); }
  ol.timeline li.o-completed::before { background:var(--ok); } ol.timeline li.o-failed::before, ol.timeline li.o-dead::before { background:var(--bad); }
  ol.timeline li.o-running::before { background:var(--run); } ol.timeline li.o-retrying::before, ol.timeline li.o-requeued::before, ol.timeline li.o-released::before { background:var(--warn); }
  .why { color:var(--muted); font-style:italic; }
  pre { background:#f1f3f6; padding:8px; border-radius:6px; overflow:auto; margin:4px 0; }
  .msg { padding:6px 10px; border-radius:6px; margin-top:8px; } .msg.err { background:#f8dddd; color:var(--bad); } .msg.ok { background:#dcf3e5; color:var(--ok); }
</style>
</head>
<body>
<header>
  <h1><a href="#/">zkjobs</a></h1>
  <span class="ns" id="ns"></span>
  <span class="spacer"></span>
  <span>leader <b id="leader" data-testid="leader">–</b></span>
  <span>ZooKeeper <span class="badge" id="conn" data-testid="connection">–</span></span>
  <span class="muted" id="live" style="color:#aab">connecting…</span>
</header>
<main id="main"></main>
<script>
(function () {
  'use strict';
  var STATES = []; // the server's job states, from /api/config
  var state = { config: null, cluster: null, counts: null, filter: '', order: 'newest', offset: 0, limit: 20, jobEvents: null };

  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') el.textContent = String(v);
      else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    var add = function (c) {
      if (c === undefined || c === null || c === false) return;
      if (Array.isArray(c)) c.forEach(add);
      else el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    };
    for (var i = 2; i < arguments.length; i++) add(arguments[i]);
    return el;
  }
  function time(ms) { return ms ? new Date(ms).toLocaleString() : '–'; }
  function dur(ms) {
    if (ms === undefined || ms === null) return '–';
    if (ms < 1000) return Math.round(ms) + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
    return Math.floor(ms / 60000) + ' min ' + Math.floor((ms % 60000) / 1000) + ' s';
  }
  function badge(s, prefix) { return h('span', { 'class': 'badge ' + (prefix || 's-') + s, text: s }); }
  function getJSON(url, init) {
    return fetch(url, init).then(function (r) {
      return r.json().then(function (body) { if (!r.ok) throw new Error((body && body.error) || r.statusText); return body; });
    });
  }
  function route() { var m = /^#\/job\/(.+)$/.exec(location.hash); return m ? { job: decodeURIComponent(m[1]) } : { home: true }; }

  // ----- header ---------------------------------------------------------------------------
  function renderHeader() {
    var c = state.cluster;
    document.getElementById('ns').textContent = state.config ? state.config.namespace : '';
    var conn = document.getElementById('conn');
    if (c) {
      conn.textContent = c.connection.state;
      conn.className = 'badge c-' + c.connection.state;
      var l = c.leader;
      document.getElementById('leader').textContent = l ? (l.worker + ' · epoch ' + l.epoch + (l.alive ? '' : ' (gone)')) : 'none';
    }
  }

  // ----- home -------------------------------------------------------------------------------
  function renderHome() {
    var main = document.getElementById('main');
    main.replaceChildren(workersSection(), countsSection(), listSection());
    loadPage();
  }
  function workersSection() {
    var c = state.cluster;
    var rows = (c ? c.workers : []).map(function (w) {
      return h('tr', { 'data-testid': 'worker-row', 'data-worker': w.name },
        h('td', { 'class': 'mono' }, w.name, w.leader ? h('span', { 'class': 'badge s-active', style: 'margin-left:6px', text: 'leader' }) : null),
        h('td', { text: w.host || '?' }), h('td', { text: w.pid || '?' }), h('td', { 'class': 'mono', text: w.session || '?' }),
        h('td', { text: w.concurrency || '?' }), h('td', { text: w.assigned }), h('td', { text: (w.types || []).join(', ') }),
        h('td', { text: time(w.startedAt) }));
    });
    return h('section', { id: 'workers' }, h('h2', { text: 'Workers (' + rows.length + ')' }),
      rows.length === 0 ? h('p', { 'class': 'muted', text: 'no live workers' }) :
      h('table', null, h('thead', null, h('tr', null, ['worker', 'host', 'pid', 'session', 'concurrency', 'assigned', 'types', 'started'].map(function (t) { return h('th', { text: t }); }))),
        h('tbody', null, rows)),
      c ? h('p', { 'class': 'muted', text: c.pendingMarkers + ' pending marker(s) waiting for the scheduler' }) : null);
  }
  function countsSection() {
    var k = state.counts;
    var cards = [h('div', { 'class': 'card' + (state.filter === '' ? ' sel' : ''), 'data-testid': 'count-all', onclick: function () { select(''); } },
      h('div', { 'class': 'n', text: k ? k.total : '–' }), h('div', { 'class': 'l', text: 'all' }))];
    STATES.forEach(function (s) {
      cards.push(h('div', { 'class': 'card' + (state.filter === s ? ' sel' : ''), 'data-testid': 'count-' + s, onclick: function () { select(s); } },
        h('div', { 'class': 'n', text: k ? k.byState[s] : '–' }), h('div', { 'class': 'l' }, badge(s))));
    });
    var types = k ? Object.keys(k.byType).sort() : [];
    var byType = types.length === 0 ? null : h('table', { style: 'margin-top:12px' },
      h('thead', null, h('tr', null, h('th', { text: 'type' }), STATES.map(function (s) { return h('th', { text: s }); }))),
      h('tbody', null, types.map(function (t) {
        return h('tr', { 'data-testid': 'type-row', 'data-type': t }, h('td', { 'class': 'mono', text: t }),
          STATES.map(function (s) { return h('td', { text: k.byType[t][s] || '' }); }));
      })));
    return h('section', { id: 'counts' }, h('h2', { text: 'Jobs' }), h('div', { 'class': 'cards' }, cards), byType,
      k ? h('p', { 'class': 'muted', 'data-testid': 'counts-source', text: (k.source === 'counter' ? "from the namespace's counter (no job record read)" : 'from a scan of every record (the namespace predates the counter)') + ', read at ' + time(k.at) + ' in ' + dur(k.readMs) }) : null);
  }
  function select(s) { state.filter = s; state.offset = 0; renderHome(); }
  function listSection() {
    var orderSel = h('select', { 'data-testid': 'order', onchange: function (e) { state.order = e.target.value; state.offset = 0; loadPage(); } },
      h('option', { value: 'newest', text: 'newest first' }), h('option', { value: 'oldest', text: 'oldest first' }));
    orderSel.value = state.order;
    return h('section', { id: 'list' }, h('h2', { text: 'Job list' + (state.filter ? ': ' + state.filter : '') }),
      h('div', { 'class': 'toolbar' }, orderSel,
        h('button', { id: 'prev', 'data-testid': 'prev', onclick: function () { state.offset = Math.max(0, state.offset - state.limit); loadPage(); }, text: '‹ prev' }),
        h('button', { id: 'next', 'data-testid': 'next', onclick: function () { state.offset += state.limit; loadPage(); }, text: 'next ›' }),
        h('span', { id: 'range', 'class': 'muted', 'data-testid': 'range' })),
      h('table', null, h('thead', null, h('tr', null, ['id', 'type', 'state', 'attempts', 'created', 'finished'].map(function (t) { return h('th', { text: t }); }))),
        h('tbody', { id: 'rows' })),
      h('p', { id: 'scan', 'class': 'muted' }));
  }
  function loadPage() {
    var q = '/api/jobs?order=' + state.order + '&offset=' + state.offset + '&limit=' + state.limit + (state.filter ? '&state=' + state.filter : '');
    getJSON(q).then(function (p) {
      var tbody = document.getElementById('rows');
      if (!tbody) return;
      tbody.replaceChildren.apply(tbody, p.jobs.map(function (j) {
        return h('tr', { 'data-testid': 'job-row', 'data-id': j.id },
          h('td', { 'class': 'mono' }, h('a', { href: '#/job/' + encodeURIComponent(j.id), text: j.id })),
          h('td', { 'class': 'mono', text: j.type }), h('td', null, badge(j.state)),
          h('td', { text: j.attemptsMade + '/' + j.maxAttempts }), h('td', { text: time(j.createdAt) }), h('td', { text: time(j.finishedAt) }));
      }));
      document.getElementById('range').textContent = p.total === 0 ? 'no jobs' :
        (p.offset + 1) + '–' + Math.min(p.total, p.offset + p.jobs.length) + ' of ' + p.total;
      document.getElementById('scan').textContent = 'from a scan at ' + time(p.at) + ': ' + p.reads + ' ZooKeeper reads (64 bucket listings, one per record); scanned again when jobs change';
      document.getElementById('prev').disabled = p.offset === 0;
      document.getElementById('next').disabled = p.offset + p.jobs.length >= p.total;
    }).catch(showError);
  }

  // ----- a job ------------------------------------------------------------------------------
  function renderJob(id, job) {
    var main = document.getElementById('main');
    if (!job) { main.replaceChildren(h('section', null, h('p', { text: 'no job ' + id }), h('a', { href: '#/', text: '← back' }))); return; }
    var fields = [['type', job.type], ['attempts', job.attemptsMade + ' of at most ' + job.maxAttempts], ['priority', job.priority],
      ['created', time(job.createdAt)], ['finished', time(job.finishedAt)]];
    if (job.dependsOn) fields.push(['depends on', job.dependsOn.join(', ')]);
    var dl = h('dl', null, fields.map(function (f) { return [h('dt', { text: f[0] }), h('dd', { text: f[1] })]; }));
    var items = [h('li', null, h('b', { text: 'submitted' }), ' ', h('span', { 'class': 'muted', text: time(job.createdAt) }))];
    job.attempts.forEach(function (a) {
      items.push(h('li', { 'class': 'o-' + a.outcome, 'data-testid': 'attempt' },
        a.why ? h('div', { 'class': 'why', text: a.why }) : null,
        h('div', null, h('b', { text: 'attempt ' + a.attempt }), ' ', badge(a.outcome === 'running' ? 'active' : a.outcome), ' on ',
          h('span', { 'class': 'mono', text: a.worker }), h('span', { 'class': 'muted', text: ' (' + a.process + ', session ' + a.session + ', token ' + a.token + ')' })),
        h('div', { 'class': 'muted', text: 'started ' + time(a.startedAt) + (a.endedAt ? ', took ' + dur(a.endedAt - a.startedAt) : ', running') + (a.by ? ', by ' + a.by : '') }),
        a.error ? h('div', { 'class': 'mono', text: a.error }) : null));
    });
    if (job.final) items.push(h('li', { 'class': 'o-' + job.state }, h('b', { text: job.state }), ' ', h('span', { 'class': 'muted', text: time(job.finishedAt) })));
    var actions = null;
    if (state.config && state.config.actions && !job.final) {
      var token = h('input', { type: 'password', placeholder: 'action token', 'data-testid': 'token', value: sessionStorage.getItem('zkjobs-token') || '' });
      var out = h('div', { id: 'action-result' });
      actions = h('section', null, h('h2', { text: 'Actions' }), h('div', { 'class': 'toolbar' }, token,
        h('button', { 'class': 'danger', 'data-testid': 'cancel', text: 'Cancel job', onclick: function () {
          sessionStorage.setItem('zkjobs-token', token.value);
          getJSON('/api/jobs/' + encodeURIComponent(id) + '/cancel', { method: 'POST', headers: { authorization: 'Bearer ' + token.value } })
            .then(function (r) { out.replaceChildren(h('div', { 'class': 'msg ok', text: r.cancelled ? 'cancelled' : 'not cancelled: already ' + r.state })); })
            .catch(function (e) { out.replaceChildren(h('div', { 'class': 'msg err', 'data-testid': 'action-error', text: e.message })); });
        } })), out);
    }
    main.replaceChildren(
      h('section', null, h('p', null, h('a', { href: '#/', text: '← all jobs' })),
        h('h2', null, 'job ', h('span', { 'class': 'mono', text: job.id }), ' ', h('span', { 'data-testid': 'job-state' }, badge(job.state))), dl,
        job.error ? h('div', null, h('dt', { 'class': 'muted', text: 'error' }), h('pre', { text: job.error.name + ': ' + job.error.message })) : null,
        job.result !== undefined ? h('div', null, h('div', { 'class': 'muted', text: 'result' }), h('pre', { 'data-testid': 'result', text: JSON.stringify(job.result, null, 2) })) : null,
        h('div', null, h('div', { 'class': 'muted', text: 'data' }), h('pre', { text: JSON.stringify(job.data, null, 2) }))),
      h('section', null, h('h2', { text: 'Timeline' }), h('ol', { 'class': 'timeline', 'data-testid': 'timeline' }, items)),
      actions || '');
  }
  function openJob(id) {
    if (state.jobEvents) state.jobEvents.close();
    getJSON('/api/jobs/' + encodeURIComponent(id)).then(function (j) { renderJob(id, j); }).catch(function () { renderJob(id, null); });
    var es = new EventSource('/api/jobs/' + encodeURIComponent(id) + '/events');
    es.addEventListener('job', function (e) { if (route().job === id) renderJob(id, JSON.parse(e.data)); });
    state.jobEvents = es;
  }

  function showError(e) { document.getElementById('live').textContent = 'error: ' + e.message; }
  function render() {
    renderHeader();
    var r = route();
    if (r.job) openJob(r.job);
    else { if (state.jobEvents) { state.jobEvents.close(); state.jobEvents = null; } renderHome(); }
  }
  window.addEventListener('hashchange', render);
  getJSON('/api/config').then(function (cfg) {
    state.config = cfg;
    STATES = cfg.states;
    var es = new EventSource('/api/events');
    es.onopen = function () { document.getElementById('live').textContent = 'live'; };
    es.onerror = function () { document.getElementById('live').textContent = 'reconnecting…'; };
    es.addEventListener('cluster', function (e) {
      state.cluster = JSON.parse(e.data); renderHeader();
      if (route().home) { var w = document.getElementById('workers'); if (w) w.replaceWith(workersSection()); }
    });
    es.addEventListener('counts', function (e) {
      state.counts = JSON.parse(e.data);
      if (route().home) { var c = document.getElementById('counts'); if (c) c.replaceWith(countsSection()); }
    });
    es.addEventListener('jobs', function () { if (route().home) loadPage(); });
    render();
  }).catch(showError);
})();
</script>
</body>
</html>
`;
