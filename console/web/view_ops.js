// The queues page (depth, oldest age, workers polling; pauses, rate limits and circuit
// breakers) and the cluster page (every replica and its state).
import * as api from './api.js';
import {h, clear} from './dom.js';
import * as time from './time.js';
import {namespaceZone} from './ui.js';

// "12.500s" (a protobuf Duration in JSON) as milliseconds.
function durationMs(text) {
  const match = /^(-?[0-9.]+)s$/.exec(text || '');
  return match ? Number(match[1]) * 1000 : 0;
}

function table(id, columns, rows) {
  return h('table', {id},
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c)))),
    h('tbody', {}, rows.length ? rows :
      h('tr', {}, h('td', {colspan: columns.length, class: 'muted'}, 'None.'))));
}

function scopeName(scope) {
  return scope === 'DISPATCH_SCOPE_TASK_TYPE' ? 'task type' : 'queue';
}

export async function showQueues(view) {
  const body = h('div');
  view.append(h('h1', {}, 'Queues'), body);
  const load = async () => {
    const answer = await api.get('/api/queues');
    const controls = answer.controls || [];
    const queueControl = (name) => controls.find(
      (c) => c.name === name && scopeName(c.scope) === 'queue');
    clear(body).append(
      table('queues', ['Queue', 'Pending', 'Claimable now', 'Leased', 'Oldest claimable',
                       'Workers polling', 'Dispatch'],
        (answer.queues || []).map((q) => {
          const control = queueControl(q.name);
          const age = durationMs(q.oldest_due_age);
          return h('tr', {'data-queue': q.name},
            h('td', {}, q.name), h('td', {}, q.pending), h('td', {}, q.due), h('td', {}, q.leased),
            h('td', {class: age > 60000 ? 'urgent' : ''}, age ? time.shortDuration(age) : '—'),
            h('td', {class: q.waiting_polls ? '' : 'muted'}, q.waiting_polls),
            h('td', {}, control && control.paused ? h('span', {class: 'badge status-failed'}, 'PAUSED') :
                        'flowing'));
        })),
      h('h2', {}, 'Dispatch controls'),
      table('controls', ['Scope', 'Name', 'Paused', 'Rate limit', 'Circuit breaker'],
        controls.map((c) => {
          const breaker = c.circuit_breaker;
          return h('tr', {},
            h('td', {}, scopeName(c.scope)), h('td', {}, c.name),
            h('td', {}, c.paused ? `paused by ${c.paused_by}: ${c.paused_reason} ` +
                                   `(${time.formatTime(c.pause_time, namespaceZone())})` : 'no'),
            h('td', {}, c.rate_per_second ? `${c.rate_per_second}/s, burst ${c.burst}` : '—'),
            h('td', {}, breaker ? h('span', {class: `breaker breaker-${breaker.state}`},
              `${breaker.state} — ${breaker.window_failures}/${breaker.window_attempts} failed ` +
              `(opens at ${Math.round(breaker.failure_rate * 100)} %)`) : '—'));
        })));
  };
  await load();
  return {refresh: load, interval: 5000};
}

export async function showCluster(view) {
  const body = h('div');
  view.append(h('h1', {}, 'Cluster'), body);
  const load = async () => {
    const answer = await api.get('/api/cluster');
    const members = answer.members || [];
    clear(body).append(
      h('p', {class: 'muted'}, `Answered by ${answer.answered_by}. ` +
        `${members.filter((m) => m.alive).length} of ${members.length} replicas alive.`),
      table('members', ['Replica', 'Address', 'Host', 'PID', 'Version', 'Started', 'Heartbeat',
                        'State'],
        members.map((m) => h('tr', {},
          h('td', {}, m.member_id), h('td', {}, m.address), h('td', {}, m.hostname), h('td', {}, m.pid),
          h('td', {}, m.version), h('td', {}, time.formatTime(m.start_time, namespaceZone())),
          h('td', {}, `${time.shortDuration(durationMs(m.heartbeat_age))} ago`),
          h('td', {}, h('span', {class: `badge ${m.alive ? (m.draining ? 'status-cancelling' :
                                                         'status-completed') : 'status-failed'}`},
                        m.alive ? (m.draining ? 'DRAINING' : 'SERVING') :
                                  (m.stop_time ? 'STOPPED' : 'GONE')))))));
  };
  await load();
  return {refresh: load, interval: 5000};
}
