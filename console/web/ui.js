// What every page shares: the error banner, navigation, the confirmation dialog of operator
// actions, and the namespace's time zone.
import * as api from './api.js';
import {h, clear} from './dom.js';

// Shows `message` above the page (null hides it). A sticky message (the outcome of an operator's
// action) stays until the next navigation; others go with the next successful refresh.
export function banner(message, kind = 'error', sticky = false) {
  const el = document.getElementById('banner');
  if (!message) {
    el.hidden = true;
    el.dataset.sticky = '';
    return;
  }
  clear(el).append(message instanceof Node ? message : document.createTextNode(message));
  el.className = kind;
  el.dataset.sticky = sticky ? 'yes' : '';
  el.hidden = false;
}

// After a successful refresh: the engine answers again.
export function clearTransientBanner() {
  if (document.getElementById('banner').dataset.sticky !== 'yes') banner(null);
}

// What a page does with a failed call: the banner says why (with a sign-in link when that is
// the cure); transient failures clear themselves on the next successful refresh.
export function reportError(error, sticky = false) {
  if (error instanceof api.ApiError && (error.httpStatus === 401 || error.httpStatus === 403)) {
    const session = api.currentSession();
    banner(h('span', {}, `${error.code}: ${error.message} `,
             session.signed_in && session.with_token ? '' :
               h('a', {href: '#/signin'}, 'Sign in with your token')), 'error', sticky);
  } else if (error instanceof api.ApiError && error.transient) {
    banner(`Engine unavailable: ${error.message}`, 'warning', sticky);
  } else {
    banner(`${error.code || 'Error'}: ${error.message}`, 'error', sticky);
  }
}

// Shows `hash`, rendering again when it is already shown.
export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}

// The namespace's own zone (for runs whose definition names none).
export function namespaceZone() {
  const ns = (window.gfNamespaces || {})[api.currentNamespace() || 'default'];
  return (ns && ns.time_zone) || '';
}

// Asks before an operator action. `fields`: [{name, label, required, value, multiline}]. Resolves
// to the fields' values, or null when the operator backs out.
export function confirmAction(title, text, fields = []) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  const box = clear(document.getElementById('confirm-fields'));
  const inputs = {};
  for (const f of fields) {
    const input = f.multiline ? h('textarea', {name: f.name, rows: 4}) :
                                h('input', {type: 'text', name: f.name});
    input.value = f.value || '';
    if (f.required) input.required = true;
    inputs[f.name] = input;
    box.append(h('label', {}, f.label, input));
  }
  return new Promise((resolve) => {
    const no = document.getElementById('confirm-no');
    const form = document.getElementById('confirm-form');
    const finish = (value) => {
      form.onsubmit = null;
      no.onclick = null;
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(value);
    };
    form.onsubmit = (e) => {
      e.preventDefault();
      finish(Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value])));
    };
    no.onclick = () => finish(null);
    dialog.onclose = () => finish(null);
    dialog.showModal();
    const first = Object.values(inputs)[0];
    if (first) first.focus();
  });
}
