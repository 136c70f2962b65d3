// The runs page: filters (status, definition, workflow id, time, search query over the
// namespace's search attributes), a table refreshed live, and pages.
import * as api from './api.js';
import {h, clear, statusBadge} from './dom.js';
import * as time from './time.js';
import {go, namespaceZone} from './ui.js';

const STATUSES = ['', 'running', 'cancelling', 'compensating', 'completed', 'failed', 'cancelled',
                  'terminated'];
const FILTERS = ['status', 'definition', 'workflow_id', 'query', 'since', 'until'];

export async function show(view, params) {
  const filters = Object.fromEntries(FILTERS.map((f) => [f, params.get(f) || '']));
  const input = (name, placeholder, size) =>
    h('input', {type: 'text', name, value: filters[name], placeholder, size});
  const status = h('select', {name: 'status'},
    STATUSES.map((s) => h('option', {value: s, selected: s === filters.status}, s || 'any status')));
  const live = h('input', {type: 'checkbox', id: 'live', checked: true});
  const form = h('form', {class: 'filters', id: 'run-filters', onsubmit: (e) => {
    e.preventDefault();
    const query = new URLSearchParams();
    for (const el of form.elements) if (el.name && el.value) query.set(el.name, el.value);
    go(`#/runs?${query}`);
  }},
    h('label', {}, 'Status ', status),
    h('label', {}, 'Definition ', input('definition', 'any', 14)),
    h('label', {}, 'Workflow id ', input('workflow_id', 'contains…', 14)),
    h('label', {}, 'Search ', input('query', "market = 'DE-LU' AND delivery_day = '2026-12-03'", 36)),
    h('label', {}, 'Since ', input('since', '2h, 2026-12-01 or RFC 3339', 12)),
    h('label', {}, 'Until ', input('until', '', 12)),
    h('button', {type: 'submit'}, 'Filter'),
    h('label', {class: 'live'}, live, ' live'));
  const body = h('tbody');
  const more = h('button', {type: 'button', hidden: true}, 'More');
  const count = h('span', {class: 'muted'});
  view.append(h('h1', {}, 'Runs'), form,
    h('table', {class: 'runs'},
      h('thead', {}, h('tr', {}, ['Workflow id', 'Definition', 'Status', 'At', 'Revision',
                                 'Created', 'Updated'].map((c) => h('th', {}, c)))),
      body),
    h('div', {class: 'pager'}, count, more));

  let pages = 1;  // a live refresh reloads as many pages as are shown
  const load = async () => {
    const rows = [];
    let token = '';
    for (let page = 0; page < pages; ++page) {
      const answer = await api.get('/api/runs', {...filters, page_size: 50, page_token: token});
      rows.push(...(answer.runs || []));
      token = answer.next_page_token || '';
      if (!token) break;
    }
    clear(body);
    for (const run of rows) body.append(row(run));
    if (rows.length === 0) body.append(h('tr', {}, h('td', {colspan: 7, class: 'muted'}, 'No runs match.')));
    count.textContent = `${rows.length} run${rows.length === 1 ? '' : 's'} shown`;
    more.hidden = !token;
  };
  more.addEventListener('click', async () => { pages += 1; await load(); });
  await load();
  return {refresh: async () => { if (live.checked) await load(); }, interval: 5000};
}

function row(run) {
  const zone = namespaceZone();
  const link = `#/run?id=${encodeURIComponent(run.workflow_id)}`;
  let revision = '';
  if (run.revision) {
    revision = `${run.period} r${run.revision}` +
               (run.superseded_by_workflow_id ? ' (superseded)' : '');
  }
  return h('tr', {'data-workflow-id': run.workflow_id},
    h('td', {}, h('a', {href: link, class: 'run-link'}, run.workflow_id)),
    h('td', {}, `${run.definition_name} v${run.definition_version}`),
    h('td', {}, statusBadge(run.status)),
    h('td', {}, run.current_step || ''),
    h('td', {}, revision),
    h('td', {title: time.formatBoth(run.create_time, zone)}, time.formatTime(run.create_time, zone)),
    h('td', {}, time.formatTime(run.update_time, zone)));
}
