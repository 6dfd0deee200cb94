// api.js — requests to the registry API (/v2/) and Wharf's JSON API
// (/_wharf/api/) as the logged-in user.
//
// Credentials are never left to the browser: every fetch uses credentials
// "omit" (no cookies, no cached Basic credentials, no login prompt) and this
// module sets Authorization itself. On a 401 it answers the challenge as
// docker does: Basic with the user's credentials (auth: htpasswd), or a
// token for the challenge's scope from the realm (auth: token, Wharf's token
// service), then retries once. State-changing requests carry the CSRF token
// whoami gave (X-Wharf-CSRF).

const KEY = 'wharf.basic';
let basic = sessionStorage.getItem(KEY); // base64("user:pass") or null
const tokens = new Map(); // scope → bearer token
let csrf = '';

export function loggedIn() {
  return basic !== null;
}

export function login(user, pass) {
  const bytes = new TextEncoder().encode(`${user}:${pass}`);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  basic = btoa(bin);
  sessionStorage.setItem(KEY, basic);
  tokens.clear();
}

export function logout() {
  basic = null;
  sessionStorage.removeItem(KEY);
  tokens.clear();
  csrf = '';
}

export function setCsrf(t) {
  csrf = t || '';
}

// challenge: {scheme, realm, service, scope} of a WWW-Authenticate value
function challenge(v) {
  if (!v) return null;
  const m = /^\s*(\w+)\s*(.*)$/.exec(v);
  if (!m) return null;
  const out = { scheme: m[1].toLowerCase() };
  const re = /(\w+)="((?:[^"\\]|\\.)*)"/g;
  let p;
  while ((p = re.exec(m[2])) !== null) out[p[1]] = p[2].replace(/\\(.)/g, '$1');
  return out;
}

async function fetchToken(ch, scope) {
  let realm;
  try {
    realm = new URL(ch.realm, location.href);
  } catch {
    return null;
  }
  if (realm.origin !== location.origin) return null; // only this site's token service
  if (ch.service) realm.searchParams.set('service', ch.service);
  for (const s of (scope || '').split(' ').filter(Boolean)) realm.searchParams.append('scope', s);
  const h = new Headers();
  if (basic) h.set('Authorization', `Basic ${basic}`);
  const r = await fetch(realm, { headers: h, credentials: 'omit', cache: 'no-store' });
  if (!r.ok) return null;
  const j = await r.json();
  return j.token || j.access_token || null;
}

// request: fetch url as the user. opts: method, headers, body, scope (the
// token scope this request needs, a hint for the first try and for
// challenges that name none).
export async function request(url, opts = {}) {
  const method = opts.method || 'GET';
  const scope = opts.scope || '';
  const h = new Headers(opts.headers || {});
  if (method !== 'GET' && method !== 'HEAD' && csrf) h.set('X-Wharf-CSRF', csrf);
  const send = () =>
    fetch(url, { method, headers: h, body: opts.body, credentials: 'omit', cache: 'no-store' });
  if (tokens.has(scope)) h.set('Authorization', `Bearer ${tokens.get(scope)}`);
  else if (basic) h.set('Authorization', `Basic ${basic}`);
  let r = await send();
  if (r.status !== 401) return r;
  const ch = challenge(r.headers.get('WWW-Authenticate'));
  if (!ch) return r;
  if (ch.scheme === 'bearer') {
    const want = [ch.scope, scope].filter(Boolean).join(' ');
    const tok = await fetchToken(ch, want);
    if (!tok) return r;
    tokens.set(scope, tok);
    h.set('Authorization', `Bearer ${tok}`);
    return send();
  }
  return r; // Basic: the credentials sent (if any) were refused
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// explain: a refusal's message from the spec's error JSON
export async function explain(r) {
  let msg = `${r.status} ${r.statusText}`;
  try {
    const j = await r.json();
    const e = j.errors && j.errors[0];
    if (e) msg = `${e.message || e.code}${e.detail ? ` (${typeof e.detail === 'string' ? e.detail : JSON.stringify(e.detail)})` : ''}`;
  } catch {
    /* not JSON */
  }
  return new ApiError(r.status, msg);
}

export async function json(url, opts = {}) {
  const r = await request(url, opts);
  if (!r.ok) throw await explain(r);
  return r.json();
}
