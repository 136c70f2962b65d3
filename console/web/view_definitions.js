// The definitions page: every definition with its versions; one version's document and graph;
// the difference between two versions (matched by step name, as `gridflowctl definitions diff`).
import * as api from './api.js';
import {h, clear} from './dom.js';
import * as time from './time.js';
import {drawDefinition} from './graph.js';
import {go, namespaceZone} from './ui.js';

export async function show(view, params) {
  const name = params.get('name') || '';
  if (!name) return listAll(view);
  const answer = await api.get('/api/definitions', {name});
  const versions = (answer.definitions || []).sort((a, b) => b.version - a.version);
  const newest = versions.length ? versions[0].version : 0;
  const shown = Number(params.get('version')) || newest;
  const from = Number(params.get('from')) || (versions.length > 1 ? versions[1].version : newest);
  const to = Number(params.get('to')) || newest;
  const pick = (id, value) => h('select', {id},
    versions.map((d) => h('option', {value: d.version, selected: d.version === value}, `v${d.version}`)));
  const fromSelect = pick('diff-from', from);
  const toSelect = pick('diff-to', to);
  const diff = h('div', {id: 'diff'});
  view.append(h('h1', {}, h('a', {href: '#/definitions'}, 'Definitions'), ` / ${name}`),
    table(versions.map((d) => h('tr', {},
      h('td', {}, h('a', {href: `#/definitions?name=${encodeURIComponent(name)}&version=${d.version}`},
                    `v${d.version}`)),
      h('td', {}, d.candidate ? 'candidate' : ''),
      h('td', {}, d.created_by),
      h('td', {}, time.formatTime(d.create_time, namespaceZone())),
      h('td', {}, h('a', {href: `#/runs?definition=${encodeURIComponent(name)}`}, 'runs'))))),
    h('h2', {}, 'Compare versions'),
    h('p', {}, fromSelect, ' → ', toSelect, ' ',
      h('button', {type: 'button', id: 'diff-show', onclick: () =>
        go(`#/definitions?name=${encodeURIComponent(name)}&version=${shown}` +
           `&from=${fromSelect.value}&to=${toSelect.value}`)}, 'Compare')),
    diff);
  if (versions.length > 1 && from !== to) {
    const changes = await api.get('/api/definitions/diff', {name, from, to});
    diff.append(changes.changes.length ? h('table', {class: 'diff'},
      h('thead', {}, h('tr', {}, ['', 'Path', `v${from}`, `v${to}`].map((c) => h('th', {}, c)))),
      h('tbody', {}, changes.changes.map((c) => h('tr', {class: `change-${c.kind}`},
        h('td', {}, c.kind), h('td', {}, h('code', {}, c.path)),
        h('td', {}, h('pre', {}, c.from === null ? '' : JSON.stringify(c.from, null, 1))),
        h('td', {}, h('pre', {}, c.to === null ? '' : JSON.stringify(c.to, null, 1))))))) :
      h('p', {class: 'muted'}, 'The two versions are the same.'));
  }
  const definition = versions.find((d) => d.version === shown);
  if (definition) {
    const doc = JSON.parse(definition.definition_json);
    view.append(h('h2', {}, `v${shown}`), h('section', {class: 'graph'}, drawDefinition(doc, {})),
      h('details', {}, h('summary', {}, 'Document'), h('pre', {}, JSON.stringify(doc, null, 2))));
  }
  return null;
}

function table(rows) {
  return h('table', {id: 'versions'},
    h('thead', {}, h('tr', {}, ['Version', '', 'Registered by', 'Registered', ''].map((c) => h('th', {}, c)))),
    h('tbody', {}, rows));
}

async function listAll(view) {
  const body = h('tbody');
  view.append(h('h1', {}, 'Definitions'), h('table', {id: 'definitions'},
    h('thead', {}, h('tr', {}, ['Definition', 'Versions', 'Latest', 'Description'].map((c) => h('th', {}, c)))),
    body));
  const answer = await api.get('/api/definitions');
  const byName = new Map();
  for (const d of answer.definitions || []) {
    if (!byName.has(d.name)) byName.set(d.name, []);
    byName.get(d.name).push(d);
  }
  clear(body);
  for (const [name, versions] of [...byName].sort()) {
    versions.sort((a, b) => b.version - a.version);
    let description = '';
    try { description = JSON.parse(versions[0].definition_json).description || ''; } catch { /* shown empty */ }
    body.append(h('tr', {},
      h('td', {}, h('a', {href: `#/definitions?name=${encodeURIComponent(name)}`}, name)),
      h('td', {}, versions.length), h('td', {}, `v${versions[0].version}`),
      h('td', {class: 'muted'}, description)));
  }
  return null;
}
