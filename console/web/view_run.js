// One run: status, input and output, where it is (active steps, open tasks with their lease
// holder and attempt, pending timers in UTC and the market's zone with countdowns), the last
// failure, the definition drawn with the run's position on it, and the history as a timeline.
// Operator actions (signal, cancel, terminate, retry) ask for confirmation and go to the engine
// with the signed-in user's token.
import * as api from './api.js';
import {h, clear, statusBadge, prettyJson} from './dom.js';
import * as time from './time.js';
import {drawDefinition} from './graph.js';
import {banner, confirmAction, go, namespaceZone, reportError} from './ui.js';

const OPEN = ['RUN_STATUS_RUNNING', 'RUN_STATUS_CANCELLING', 'RUN_STATUS_COMPENSATING'];
const RETRYABLE = ['RUN_STATUS_FAILED', 'RUN_STATUS_CANCELLED', 'RUN_STATUS_TERMINATED'];

export async function show(view, params) {
  const id = params.get('id') || '';
  const parts = {
    header: h('div', {class: 'run-header'}),
    actions: h('div', {class: 'actions'}),
    summary: h('section'),
    now: h('section'),
    graph: h('section', {class: 'graph'}),
    history: h('section'),
  };
  view.append(parts.header, parts.actions, parts.summary, parts.now, parts.graph, parts.history);
  let definitionKey = '';
  let lastHistoryLength = -1;

  const load = async () => {
    const [described, history] = await Promise.all([
      api.get('/api/run', {id}),
      api.get('/api/run/history', {id}),
    ]);
    const run = described.run;
    const zone = described.time_zone || namespaceZone();
    renderHeader(parts.header, run, zone);
    renderActions(parts.actions, run, load);
    renderSummary(parts.summary, run, zone);
    renderNow(parts.now, described, zone);
    const key = `${run.definition_name}/${run.definition_version}`;
    if (key !== definitionKey || history.events.length !== lastHistoryLength) {
      if (key !== definitionKey) {
        const definition = await api.get('/api/definition',
                                         {name: run.definition_name, version: run.definition_version});
        parts.graph.definition = JSON.parse(definition.definition_json);
        definitionKey = key;
      }
      clear(parts.graph).append(h('h2', {}, 'Definition ',
        h('a', {href: `#/definitions?name=${encodeURIComponent(run.definition_name)}`},
          `${run.definition_name} v${run.definition_version}`)),
        drawDefinition(parts.graph.definition, stepStates(history.events, described)));
      renderHistory(parts.history, history, zone);
      lastHistoryLength = history.events.length;
    }
    time.tickCountdowns();
  };
  await load();
  return {refresh: load, interval: 3000};
}

function renderHeader(el, run, zone) {
  clear(el).append(
    h('h1', {}, h('span', {class: 'muted'}, 'Run '), h('span', {id: 'run-id'}, run.workflow_id), ' ',
      h('span', {id: 'run-status'}, statusBadge(run.status))),
    h('p', {class: 'muted'}, `${run.definition_name} v${run.definition_version} · run id ${run.run_id}` +
      (zone ? ` · market zone ${zone}` : '')));
}

function renderActions(el, run, reload) {
  const open = OPEN.includes(run.status);
  const act = async (label, path, fields, text, body = (v) => v) => {
    const values = await confirmAction(`${label} ${run.workflow_id}?`, text, fields);
    if (values === null) return;
    try {
      await api.post(path, {id: run.workflow_id}, body(values));
      banner(`${label}: done. The history records it under your name.`, 'info', true);
      await reload();
    } catch (error) {
      reportError(error, true);
    }
  };
  const reason = {name: 'reason', label: 'Reason (recorded in the history)', required: true};
  clear(el).append(
    h('button', {type: 'button', id: 'action-signal', disabled: !open, onclick: () =>
      act('Signal', '/api/run/signal',
          [{name: 'signal_name', label: 'Signal name', required: true},
           {name: 'payload_json', label: 'Payload (JSON)', multiline: true, value: '{}'}],
          'The signal is delivered to the run and recorded in its history.')}, 'Signal…'),
    h('button', {type: 'button', id: 'action-cancel', disabled: !open, onclick: () =>
      act('Cancel', '/api/run/cancel', [reason],
          'Queued tasks are cancelled; the run compensates its completed steps and ends CANCELLED.')},
      'Cancel…'),
    h('button', {type: 'button', id: 'action-terminate', class: 'danger', disabled: !open,
                 onclick: () => act('Terminate', '/api/run/terminate', [reason],
          'The run ends TERMINATED at once: no compensation runs, running tasks are refused.')},
      'Terminate…'),
    h('button', {type: 'button', id: 'action-retry', disabled: !RETRYABLE.includes(run.status),
                 onclick: () => act('Retry', '/api/run/retry',
          [reason, {name: 'from_step', label: 'From step (empty: the step that failed)',
                    value: ''}],
          'The run opens again and continues from the step that failed (or the one you name).')},
      'Retry…'),
    h('button', {type: 'button', onclick: () => go('#/runs')}, 'Back to runs'));
}

function renderSummary(el, run, zone) {
  const rows = [
    ['Status', statusBadge(run.status)],
    ['At step', run.current_step || '—'],
    ['Started by', run.started_by],
    ['Created', time.formatBoth(run.create_time, zone)],
    ['Updated', time.formatBoth(run.update_time, zone)],
    ['Closed', time.formatBoth(run.close_time, zone) || '—'],
    ['History', `${run.history_length} events · head ${String(run.history_head || '').slice(0, 16)}`],
  ];
  if (run.cancel_requested_by) rows.push(['Cancel requested by', run.cancel_requested_by]);
  if (run.revision) {
    rows.push(['Revision', `${run.period} r${run.revision}` +
      (run.supersedes_workflow_id ? `, supersedes ${run.supersedes_workflow_id}` : '') +
      (run.superseded_by_workflow_id ? `, superseded by ${run.superseded_by_workflow_id}` : '')]);
  }
  if (run.search_attributes_json && run.search_attributes_json !== '{}') {
    rows.push(['Search attributes', run.search_attributes_json]);
  }
  if (run.fields_omitted) {
    rows.push(['Input, result, data', 'left out: the run passes the 64 MiB the console ' +
               'takes (GetRun from a client that takes more reads them)']);
  }
  clear(el).append(h('h2', {}, 'Summary'),
    h('table', {class: 'kv'}, rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v)))),
    run.fields_omitted ? '' : h('div', {class: 'json-panels'},
      panel('Input', run.input_json), panel('Result', run.result_json),
      panel('Run data', run.data_json)));
}

function panel(title, text) {
  return h('details', {open: title !== 'Run data'}, h('summary', {}, title),
           h('pre', {}, prettyJson(text) || '—'));
}

function renderNow(el, d, zone) {
  const tasks = d.open_tasks || [];
  const timers = d.pending_timers || [];
  const failure = d.last_task_failure;
  clear(el).append(h('h2', {}, 'Now'),
    h('p', {}, 'Active steps: ', (d.active_steps || []).length ?
      (d.active_steps || []).map((s) => h('code', {class: 'step-chip'}, s)) : '—'),
    h('h3', {}, `Open tasks (${tasks.length + (d.open_tasks_omitted || 0)})`),
    d.open_tasks_omitted ? h('p', {class: 'muted', id: 'open-tasks-omitted'},
      `${d.open_tasks_omitted} more not shown: the answer is kept within 3 MiB.`) : '',
    tasks.length ? h('table', {id: 'open-tasks'},
      h('thead', {}, h('tr', {}, ['Step', 'Type', 'Queue', 'State', 'Attempt', 'Lease holder',
                                 'Lease expires', 'Dispatch by', 'Progress'].map((c) => h('th', {}, c)))),
      h('tbody', {}, tasks.map((t) => h('tr', {},
        h('td', {}, t.step + (t.iteration || '')), h('td', {}, t.task_type), h('td', {}, t.task_queue),
        h('td', {}, t.state + (t.cancel_requested ? ' (cancel requested)' : '')),
        h('td', {}, `${t.attempt} of ${t.max_attempts}`),
        h('td', {}, t.lease_owner || '—'),
        h('td', {}, t.lease_expire_time ? h('span', {'data-countdown': t.lease_expire_time}) : '—'),
        h('td', {title: time.formatBoth(t.dispatch_deadline, zone)},
          t.dispatch_deadline ? h('span', {'data-countdown': t.dispatch_deadline}) : '—'),
        h('td', {}, t.heartbeat_details_json ? h('code', {}, t.heartbeat_details_json) :
          (t.details_omitted ? h('span', {class: 'muted'}, 'left out (size)') : '—')))))) :
      h('p', {class: 'muted'}, 'None.'),
    h('h3', {}, `Pending timers and deadlines (${timers.length})`),
    timers.length ? h('table', {id: 'timers'},
      h('thead', {}, h('tr', {}, ['Step', 'Kind', 'Fires at', 'Countdown'].map((c) => h('th', {}, c)))),
      h('tbody', {}, timers.map((t) => h('tr', {},
        h('td', {}, t.step), h('td', {}, t.kind),
        h('td', {}, time.formatBoth(t.fire_time, zone)),
        h('td', {}, h('span', {'data-countdown': t.fire_time})))))) :
      h('p', {class: 'muted'}, 'None.'),
    failure && failure.step ? h('div', {class: d.run.status === 'RUN_STATUS_FAILED' ? 'failure' :
                                                  'failure past', id: 'last-failure'},
      h('h3', {}, d.run.status === 'RUN_STATUS_FAILED' ? 'Last failed attempt' :
                  'Last failed attempt (the run went on after it)'),
      h('p', {}, h('strong', {}, failure.step), ` attempt ${failure.attempt}: `,
        h('code', {}, failure.error_type || 'error'), ' ', failure.message),
      failure.details_json ? h('pre', {}, prettyJson(failure.details_json)) : '') : '');
}

// What the history says of each step: done, failed, active (DescribeRun's active steps).
function stepStates(events, described) {
  const states = {};
  for (const e of events) {
    if (!e.step) continue;
    if (['TaskCompleted', 'TimerFired', 'SignalConsumed', 'ChoiceMade', 'ParallelCompleted',
         'ForeachCompleted', 'ChildRunClosed', 'BranchCompleted'].includes(e.type)) {
      if (states[e.step] !== 'failed') states[e.step] = 'done';
    } else if (e.type === 'TaskFailed' || e.type === 'SignalTimedOut' || e.type === 'DeadlinePassed') {
      states[e.step] = states[e.step] === 'done' ? 'done' : 'visited';
    } else if (!states[e.step]) {
      states[e.step] = 'visited';
    } else if (e.type === 'TaskScheduled' && states[e.step] === 'failed') {
      states[e.step] = 'visited';
    }
  }
  const failure = described.last_task_failure;
  if (failure && failure.step && described.run.status === 'RUN_STATUS_FAILED') {
    states[failure.step] = 'failed';
  }
  for (const s of described.active_steps || []) states[s.replace(/\[.*$/, '')] = 'active';
  return states;
}

function renderHistory(el, history, zone) {
  const events = history.events || [];
  const start = time.parse(events.length ? events[0].time : null);
  clear(el).append(h('h2', {}, `History (${events.length} events)`),
    history.truncated ? h('p', {class: 'warning'},
      'Only the first events are shown; `gridflowctl runs history` or `runs export` has them all.') : '',
    h('ol', {class: 'timeline', id: 'history'}, events.map((e) => {
      const t = time.parse(e.time);
      const failed = /Failed|TimedOut|DeadlinePassed|Terminated|LeaseExpired/.test(e.type);
      return h('li', {class: failed ? 'event failed' : 'event', 'data-type': e.type},
        h('span', {class: 'seq'}, e.sequence),
        h('span', {class: 'when', title: time.formatBoth(e.time, zone)},
          time.formatTime(e.time, zone).slice(11)),
        h('span', {class: 'elapsed'}, start !== null && t !== null ? `+${time.shortDuration(t - start)}` : ''),
        h('span', {class: 'type'}, e.type),
        h('span', {class: 'step'}, (e.step || '') + (e.iteration || '') +
                                   (e.attempt ? ` #${e.attempt}` : '')),
        h('span', {class: 'actor'}, e.actor),
        e.payload_json && e.payload_json !== '{}' && e.payload_json !== 'null' ?
          h('details', {class: 'payload'}, h('summary', {}, 'payload'), h('pre', {}, prettyJson(e.payload_json))) : '');
    })));
}
