// The Management API from the browser. Management keys live in sessionStorage only (gone
// when the tab closes), one per context: a key acts in exactly one context, and the API
// mints keys for other organizations only through invitations, so switching context means
// holding that context's key.

const KEYS = 'arouter.keys';       // {contextId: managementKey}
const CURRENT = 'arouter.current'; // contextId

export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const session = {
  keys() {
    try { return JSON.parse(sessionStorage.getItem(KEYS)) || {}; } catch { return {}; }
  },
  keyFor(id) { return this.keys()[id]; },
  current() { return sessionStorage.getItem(CURRENT); },
  remember(id, key) {
    const k = this.keys();
    k[id] = key;
    sessionStorage.setItem(KEYS, JSON.stringify(k));
  },
  use(id) { sessionStorage.setItem(CURRENT, String(id)); },
  forget(id) {
    const k = this.keys();
    delete k[id];
    sessionStorage.setItem(KEYS, JSON.stringify(k));
  },
  clear() {
    sessionStorage.removeItem(KEYS);
    sessionStorage.removeItem(CURRENT);
  },
  token() { return this.keyFor(this.current()); },
};

async function errorOf(res) {
  let msg = `${res.status} ${res.statusText}`;
  try {
    const body = await res.json();
    if (body && body.error && body.error.message) msg = body.error.message;
  } catch { /* not JSON: keep the status line */ }
  return new APIError(res.status, msg);
}

// call sends one request with the current context's key (or token, when given) and returns
// the parsed JSON body; an error answer throws APIError carrying the API's message.
export async function call(method, path, body, token = session.token()) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store', credentials: 'omit'});
  } catch (e) {
    throw new APIError(0, `The gateway cannot be reached (${e.message}); is it running?`);
  }
  if (!res.ok) throw await errorOf(res);
  return res.json();
}

export const get = (path, token) => call('GET', path, undefined, token);
export const post = (path, body = {}) => call('POST', path, body);
export const patch = (path, body) => call('PATCH', path, body);
export const del = path => call('DELETE', path);

// download fetches a file with the Authorization header (which a plain link cannot send) and
// saves it under the name the gateway suggests, through a Blob URL.
export async function download(path) {
  const res = await fetch(path, {headers: {Authorization: `Bearer ${session.token()}`}, cache: 'no-store'});
  if (!res.ok) throw await errorOf(res);
  const blob = await res.blob();
  const cd = res.headers.get('Content-Disposition') || '';
  const m = /filename="?([^";]+)"?/.exec(cd);
  const name = m ? m[1] : 'arouter-export';
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return name;
}

export const enc = encodeURIComponent;
