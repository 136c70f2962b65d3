// A definition drawn as a graph: top-level steps top to bottom; a parallel's branches side by
// side inside its frame, a foreach's steps inside its frame. Each step is coloured by what the
// run did there: done, active (where the run is), failed, visited (attempted, not done). Jumps
// (`next`, choices, on_timeout) are written on the box ("→ target") rather than drawn.
import {svg} from './dom.js';

const BOX_W = 180;
const BOX_H = 38;
const GAP = 20;
const PAD = 12;
const LABEL = 16;

export function drawDefinition(definition, states) {
  const root = layoutList(definition.steps || [], states);
  const margin = 10;
  const out = [];
  root.place(margin, margin, out);
  const width = root.w + 2 * margin;
  const height = root.h + 2 * margin;
  return svg('svg', {id: 'definition-graph', width, height, viewBox: `0 0 ${width} ${height}`,
                     role: 'img', 'aria-label': `definition ${definition.name}`},
    svg('defs', {}, svg('marker', {id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5,
                                   markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse'},
      svg('path', {d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow-head'}))),
    out);
}

function layoutList(steps, states) {
  const children = steps.map((s) => layoutStep(s, states));
  const w = Math.max(BOX_W, ...children.map((c) => c.w));
  const h = children.reduce((sum, c) => sum + c.h, 0) + GAP * Math.max(0, children.length - 1);
  return {w, h, place(x, y, out) {
    let top = y;
    children.forEach((child, i) => {
      child.place(x + (w - child.w) / 2, top, out);
      if (i + 1 < children.length) {
        const cx = x + w / 2;
        out.push(svg('line', {x1: cx, y1: top + child.h, x2: cx, y2: top + child.h + GAP - 2,
                              class: 'edge', 'marker-end': 'url(#arrow)'}));
      }
      top += child.h + GAP;
    });
  }};
}

function jumps(step) {
  const targets = [];
  if (step.next) targets.push(step.next);
  for (const c of step.choices || []) if (c.next) targets.push(c.next);
  if (step.default) targets.push(step.default);
  for (const key of ['on_timeout', 'on_deadline']) if (step[key]) targets.push(step[key]);
  return targets.length ? `→ ${[...new Set(targets)].join(', ')}` : '';
}

function describe(step) {
  switch (step.kind) {
    case 'task': return step.task_type || 'task';
    case 'timer': return 'timer';
    case 'wait_signal': return `signal ${step.signal || ''}`;
    case 'child': return `child ${step.definition || ''}`;
    default: return step.kind || '';
  }
}

function box(step, states, x, y, w, out) {
  const state = states[step.name] || 'pending';
  const hint = jumps(step);
  out.push(svg('g', {class: `step state-${state}`, 'data-step': step.name},
    svg('title', {}, `${step.name} (${step.kind}): ${state}`),
    svg('rect', {x, y, width: w, height: BOX_H, rx: 6}),
    svg('text', {x: x + 10, y: y + 16, class: 'name'}, step.name),
    svg('text', {x: x + 10, y: y + 30, class: 'kind'}, `${describe(step)} ${hint}`.trim())));
}

function frame(step, x, y, w, h, out) {
  out.push(svg('rect', {x, y, width: w, height: h, rx: 8, class: `frame frame-${step.kind}`}));
}

function layoutStep(step, states) {
  if (step.kind === 'parallel') {
    const branches = (step.branches || []).map((b) => ({name: b.name, list: layoutList(b.steps || [], states)}));
    const innerW = branches.reduce((sum, b) => sum + b.list.w, 0) + GAP * Math.max(0, branches.length - 1);
    const innerH = Math.max(0, ...branches.map((b) => b.list.h));
    const w = Math.max(BOX_W, innerW) + 2 * PAD;
    const h = BOX_H + GAP + LABEL + innerH + PAD;
    return {w, h, place(x, y, out) {
      frame(step, x, y, w, h, out);
      box(step, states, x + (w - BOX_W) / 2, y, BOX_W, out);
      let left = x + (w - innerW) / 2;
      for (const b of branches) {
        out.push(svg('text', {x: left + 4, y: y + BOX_H + GAP + 10, class: 'branch'}, `branch ${b.name}`));
        b.list.place(left, y + BOX_H + GAP + LABEL, out);
        left += b.list.w + GAP;
      }
    }};
  }
  if (step.kind === 'foreach') {
    const inner = layoutList(step.steps || [], states);
    const w = Math.max(BOX_W, inner.w) + 2 * PAD;
    const h = BOX_H + GAP + LABEL + inner.h + PAD;
    return {w, h, place(x, y, out) {
      frame(step, x, y, w, h, out);
      box(step, states, x + (w - BOX_W) / 2, y, BOX_W, out);
      out.push(svg('text', {x: x + PAD + 4, y: y + BOX_H + GAP + 10, class: 'branch'},
                   `for each of ${step.items || 'items'}`));
      inner.place(x + (w - inner.w) / 2, y + BOX_H + GAP + LABEL, out);
    }};
  }
  return {w: BOX_W, h: BOX_H, place(x, y, out) { box(step, states, x, y, BOX_W, out); }};
}
