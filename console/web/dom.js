// Building DOM without innerHTML: every piece of text the engine returns is set as text, so no
// run input, error message or history payload can inject markup into the console.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// An SVG element (the definition graph).
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  append(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// A status as a coloured badge: RUN_STATUS_FAILED -> "FAILED".
export function statusBadge(status) {
  const name = String(status || '').replace(/^RUN_STATUS_/, '');
  return h('span', {class: `badge status-${name.toLowerCase()}`}, name);
}

// JSON text pretty-printed for a <pre>; the text itself when it is not JSON.
export function prettyJson(text) {
  if (text === undefined || text === null || text === '') return '';
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return String(text);
  }
}
