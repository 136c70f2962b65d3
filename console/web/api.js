// The console's JSON API as the pages use it: the namespace on every call, the CSRF token on
// every action, and errors as ApiError with the engine's code and message.
export class ApiError extends Error {
  constructor(httpStatus, code, message) {
    super(message);
    this.httpStatus = httpStatus;
    this.code = code;
  }
  // The engine (or the console's link to it) is down for now: the page keeps retrying.
  get transient() {
    return this.httpStatus === 503 || this.httpStatus === 504 || this.httpStatus === 0;
  }
}

let session = {signed_in: false, csrf_token: ''};
let namespace = localStorage.getItem('gf.namespace') || '';

export function currentSession() { return session; }
export function currentNamespace() { return namespace; }
export function setNamespace(name) {
  namespace = name;
  localStorage.setItem('gf.namespace', name);
}

function url(path, params = {}) {
  const query = new URLSearchParams();
  if (namespace) query.set('namespace', namespace);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') query.set(key, value);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

async function send(method, target, body) {
  let response;
  try {
    response = await fetch(target, {
      method,
      credentials: 'same-origin',
      headers: method === 'GET' ? {} : {'Content-Type': 'application/json',
                                        'X-CSRF-Token': session.csrf_token || ''},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'UNAVAILABLE', `the console is not reachable (${e.message})`);
  }
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) {
    const error = (payload && payload.error) || {};
    throw new ApiError(response.status, error.code || `HTTP_${response.status}`,
                       error.message || response.statusText);
  }
  return payload;
}

export const get = (path, params) => send('GET', url(path, params));
export const post = (path, params, body) => send('POST', url(path, params), body || {});

export async function loadSession() {
  session = await send('GET', '/api/session');
  return session;
}

export async function signIn(token, name) {
  session = await send('POST', '/api/session', {token, name});
  return session;
}

export async function signOut() {
  await send('POST', '/api/session/end', {});
  session = {signed_in: false, csrf_token: ''};
}
