// The console's shell: hash routes to pages, the namespace and time-zone pickers, the session,
// the error banner, and live refresh (each page's refresh runs every few seconds; an engine that
// is away shows in the banner and the page recovers when it answers again).
import * as api from './api.js';
import {h, clear} from './dom.js';
import * as time from './time.js';
import * as runs from './view_runs.js';
import * as run from './view_run.js';
import * as ops from './view_ops.js';
import * as definitions from './view_definitions.js';
import {banner, clearTransientBanner, go, reportError} from './ui.js';

const pages = {
  runs: runs.show,
  run: run.show,
  queues: ops.showQueues,
  cluster: ops.showCluster,
  definitions: definitions.show,
  signin: showSignIn,
};

let current = null;  // {refresh, interval} of the page on screen
let timer = null;
let generation = 0;

function route() {
  const hash = location.hash.replace(/^#\/?/, '') || 'runs';
  const [name, query] = hash.split('?');
  return {name: pages[name] ? name : 'runs', params: new URLSearchParams(query || '')};
}

async function render() {
  const mine = ++generation;
  clearInterval(timer);
  banner(null);
  const {name, params} = route();
  for (const link of document.querySelectorAll('[data-nav]')) {
    link.classList.toggle('active', link.dataset.nav === name ||
                                    (name === 'run' && link.dataset.nav === 'runs'));
  }
  const view = clear(document.getElementById('view'));
  try {
    current = (await pages[name](view, params)) || null;
  } catch (error) {
    if (mine === generation) reportError(error);
    // The page could not load (an engine restarting, say): try the whole page again shortly.
    current = error instanceof api.ApiError && error.transient ?
      {refresh: async () => { if (mine === generation) await render(); }, interval: 5000} : null;
  }
  if (current) current.last = Date.now();
  time.tickCountdowns();
  if (mine !== generation) return;
  timer = setInterval(async () => {
    time.tickCountdowns();
    if (!current || !current.refresh || document.hidden) return;
    const now = Date.now();
    if (now - (current.last || 0) < (current.interval || 5000)) return;
    current.last = now;
    try {
      await current.refresh();
      if (mine === generation) clearTransientBanner();
    } catch (error) {
      if (mine === generation) reportError(error);
    }
  }, 1000);
}

async function showSignIn(view) {
  const session = api.currentSession();
  const token = h('input', {type: 'password', id: 'token', autocomplete: 'off',
                            placeholder: 'your Gridflow token'});
  const name = h('input', {type: 'text', id: 'name', placeholder: 'e.g. anna (optional)'});
  const message = h('p', {class: 'muted', id: 'signin-message'});
  const submit = async (withToken) => {
    try {
      await api.signIn(withToken ? token.value.trim() : '', name.value.trim());
      token.value = '';
      await updateWho();
      go('#/runs');
    } catch (error) {
      message.textContent = `${error.code}: ${error.message}`;
    }
  };
  view.append(h('section', {class: 'signin'},
    h('h1', {}, 'Sign in'),
    h('p', {}, 'The console acts with your own token: the engine checks what you may do and ' +
               'records you in the history of every run you act on. The token stays in an ' +
               'encrypted, HttpOnly session cookie.'),
    session.engine_tls ? '' : h('p', {class: 'warning'},
      'This console reaches its engine without TLS, so it cannot send tokens; continue without one.'),
    h('form', {onsubmit: (e) => { e.preventDefault(); submit(true); }},
      h('label', {}, 'Token ', token), h('label', {}, 'Your name ', name),
      h('div', {class: 'buttons'},
        h('button', {type: 'submit', id: 'sign-in'}, 'Sign in'),
        h('button', {type: 'button', id: 'anonymous', onclick: () => submit(false)},
          'Continue without a token'))),
    message));
}

async function updateWho() {
  const session = api.currentSession();
  const who = document.getElementById('who');
  clear(who);
  if (session.signed_in) {
    who.append(`Signed in${session.name ? ' as ' + session.name : ''}` +
               (session.with_token ? '' : ' (no token)'));
  } else {
    who.append(h('a', {href: '#/signin'}, 'Sign in'));
  }
  document.getElementById('sign-out').hidden = !session.signed_in;
}

async function loadNamespaces() {
  const select = document.getElementById('namespace');
  clear(select);
  let names = [];
  try {
    const answer = await api.get('/api/namespaces');
    names = (answer.namespaces || []).map((n) => n.name);
    window.gfNamespaces = Object.fromEntries((answer.namespaces || []).map((n) => [n.name, n]));
  } catch {
    names = [];
  }
  if (!names.includes('default')) names.unshift('default');
  const chosen = api.currentNamespace() || 'default';
  if (!names.includes(chosen)) names.push(chosen);
  for (const n of names) select.append(h('option', {value: n, selected: n === chosen}, n));
}

async function start() {
  const zone = document.getElementById('zone-mode');
  zone.value = time.zoneMode();
  zone.addEventListener('change', () => { time.setZoneMode(zone.value); render(); });
  document.getElementById('namespace').addEventListener('change', (e) => {
    api.setNamespace(e.target.value);
    go('#/runs');
  });
  document.getElementById('sign-out').addEventListener('click', async () => {
    await api.signOut();
    await updateWho();
    go('#/signin');
  });
  try {
    await api.loadSession();
  } catch (error) {
    reportError(error);
  }
  await updateWho();
  await loadNamespaces();
  window.addEventListener('hashchange', render);
  render();
}

start();
