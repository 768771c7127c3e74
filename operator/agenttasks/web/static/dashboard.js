// The dashboard's script, served as /dashboard/assets/dashboard.js. Vanilla JavaScript, no
// build step. The token lives in sessionStorage and goes out only as
// `Authorization: Bearer` on the dashboard's own API calls. Live updates use fetch() with
// that header and read the streamed text/event-stream body, so no token or ticket ever
// appears in a URL.
'use strict';
(function () {
  const KEY = 'agenttasks.dashboard.token';
  const body = document.body;
  const view = body.dataset.view;
  const readOnly = body.dataset.readOnly === 'true';
  const $ = (id) => document.getElementById(id);
  let controller = null;
  let retry = 0;

  function token() { return sessionStorage.getItem(KEY) || ''; }

  function headers(extra) {
    const h = Object.assign({'Accept': 'application/json'}, extra || {});
    const t = token();
    if (t) { h['Authorization'] = 'Bearer ' + t; }
    return h;
  }

  function say(text, kind) {
    const box = $('message');
    box.textContent = text;
    box.className = kind || 'error';
    box.hidden = !text;
  }

  function live(text) {
    const box = $('live');  // not on the New task page
    if (box) { box.textContent = text; }
  }

  async function failure(resp) {
    let text = resp.status + ' ' + resp.statusText;
    try {
      const data = await resp.json();
      if (data && data.error) { text = data.error; }
    } catch (e) { /* not JSON */ }
    return {status: resp.status, error: text};
  }

  function params() {
    const p = new URLSearchParams();
    if (view === 'task') {
      p.set('namespace', body.dataset.namespace);
      p.set('name', body.dataset.name);
      return p;
    }
    const ns = $('filter-namespace');
    const phase = $('filter-phase');
    if (ns && ns.value.trim()) { p.set('namespace', ns.value.trim()); }
    if (phase && phase.value) { p.set('phase', phase.value); }
    return p;
  }

  function showSignedIn(who) {
    $('login').hidden = !!who;
    $('logout').hidden = !who;
    $('who').hidden = !who;
    $('who').textContent = who ? 'Signed in as ' + who : '';
  }

  function signOut(reason) {
    sessionStorage.removeItem(KEY);
    stop();
    showSignedIn('');
    if ($('content')) { $('content').innerHTML = ''; }
    if (reason) { say(reason, 'error'); }
    if (readOnly) { start(); } else { live('not connected'); }
  }

  function stop() {
    if (controller) { controller.abort(); controller = null; }
  }

  function handle(event, data) {
    if (event === 'view') {
      $('content').innerHTML = data.html;
      const detail = document.querySelector('article.task-detail');
      if (detail) { document.title = detail.dataset.title + ' - AgentTasks'; }
      const stamp = new Date().toLocaleTimeString();
      live((token() ? 'live' : 'live, read-only') + ' - updated ' + stamp);
    } else if (event === 'failure') {
      if (data.status === 401) { signOut(data.error); return 'stop'; }
      say(data.error, 'error');
      live('stopped');
      return 'stop';
    }
    return '';
  }

  async function start() {
    stop();
    if (view === 'new') { return; }  // a form: nothing to follow
    const mine = new AbortController();
    controller = mine;
    live('connecting');
    try {
      const url = '/api/dashboard/stream/' + view + '?' + params().toString();
      const resp = await fetch(url, {headers: headers({'Accept': 'text/event-stream'}),
                                     signal: mine.signal, cache: 'no-store'});
      if (!resp.ok) {
        const f = await failure(resp);
        if (f.status === 401) { signOut(f.error); return; }
        say(f.error, 'error');
        live('stopped');
        return;
      }
      retry = 0;
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) { break; }
        buffer += decoder.decode(chunk.value, {stream: true});
        let cut;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let event = 'message';
          const data = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) { event = line.slice(6).trim(); }
            else if (line.startsWith('data:')) { data.push(line.slice(5).trim()); }
          }
          if (data.length && handle(event, JSON.parse(data.join('\n'))) === 'stop') {
            mine.abort();
            return;
          }
        }
      }
    } catch (err) {
      if (mine.signal.aborted) { return; }
    }
    if (controller !== mine) { return; }
    retry = Math.min(retry + 1, 5);
    live('reconnecting');
    setTimeout(() => { if (controller === mine) { start(); } }, 1000 * retry);
  }

  async function whoami(candidate) {
    const h = {'Accept': 'application/json'};
    if (candidate) { h['Authorization'] = 'Bearer ' + candidate; }
    const resp = await fetch('/api/dashboard/whoami', {headers: h, cache: 'no-store'});
    if (!resp.ok) { throw await failure(resp); }
    return resp.json();
  }

  async function signIn(event) {
    event.preventDefault();
    const field = $('token');
    const candidate = field.value.trim();
    if (!candidate) { say('Paste a Kubernetes bearer token first.', 'error'); return; }
    try {
      const me = await whoami(candidate);
      sessionStorage.setItem(KEY, candidate);
      field.value = '';
      say('', '');
      showSignedIn(me.user);
      start();
    } catch (f) {
      say(f.error || String(f), 'error');
    }
  }

  async function act(button) {
    const kind = button.dataset.kind;
    const action = button.dataset.action;
    const ns = button.dataset.namespace;
    const name = button.dataset.name;
    const url = '/api/dashboard/' + kind + '/' + encodeURIComponent(ns) + '/' +
      encodeURIComponent(name) + '/' + action;
    button.disabled = true;
    try {
      const resp = await fetch(url, {method: 'POST', headers: headers(), cache: 'no-store'});
      if (!resp.ok) {
        const f = await failure(resp);
        say('Refused: ' + f.error, 'error');
        return;
      }
      const data = await resp.json();
      say(data.message || 'Done.', 'ok');
    } catch (err) {
      say('The request failed: ' + err, 'error');
    } finally {
      button.disabled = false;
    }
  }

  // The New task page: either form goes as JSON, with the token, and the answer says
  // what was created (with a link) or why not.
  async function createTask(event) {
    event.preventDefault();
    const form = event.target;
    const fields = Object.fromEntries(new FormData(form).entries());
    const payload = form.id === 'new-manifest'
      ? {namespace: fields.namespace, manifest: fields.manifest} : {form: fields};
    const button = form.querySelector('button[type=submit]');
    $('created').hidden = true;
    button.disabled = true;
    try {
      const resp = await fetch('/api/dashboard/tasks', {
        method: 'POST', headers: headers({'Content-Type': 'application/json'}),
        body: JSON.stringify(payload), cache: 'no-store'});
      if (!resp.ok) {
        const f = await failure(resp);
        if (f.status === 401) { signOut(f.error); return; }
        say('Refused: ' + f.error, 'error');
        return;
      }
      const made = await resp.json();
      say(made.message, 'ok');
      const link = $('created-link');
      if (made.url && made.url.startsWith('/')) { link.href = made.url; }
      link.textContent = made.namespace + '/' + made.name;
      $('created').hidden = false;
    } catch (err) {
      say('The request failed: ' + err, 'error');
    } finally {
      button.disabled = false;
    }
  }

  function filtersChanged() {
    const query = params().toString();
    history.replaceState(null, '', location.pathname + (query ? '?' + query : ''));
    if (token() || readOnly) { start(); }
  }

  function init() {
    const query = new URLSearchParams(location.search);
    const ns = $('filter-namespace');
    const phase = $('filter-phase');
    if (ns) {
      ns.value = query.get('namespace') || '';
      ns.addEventListener('change', filtersChanged);
    }
    if (phase) {
      phase.value = query.get('phase') || '';
      phase.addEventListener('change', filtersChanged);
    }
    const filters = $('filters');
    if (filters) {
      filters.addEventListener('submit', (ev) => { ev.preventDefault(); filtersChanged(); });
    }
    for (const id of ['new-task', 'new-manifest']) {
      const form = $(id);
      if (form) { form.addEventListener('submit', createTask); }
    }
    const target = $('new-namespace');
    if (target) { target.value = query.get('namespace') || ''; }
    $('login').addEventListener('submit', signIn);
    $('logout').addEventListener('click', () => signOut(''));
    document.addEventListener('click', (ev) => {
      const button = ev.target.closest('button.action');
      if (button) { ev.preventDefault(); act(button); }
    });
    const t = token();
    if (t) {
      whoami(t).then((me) => { showSignedIn(me.user); start(); })
        .catch((f) => signOut(f.error || 'Sign in again.'));
    } else if (readOnly) {
      showSignedIn('');
      say('Read-only without a token: sign in to act.', 'ok');
      start();
    } else {
      showSignedIn('');
    }
  }

  init();
})();
