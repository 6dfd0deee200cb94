// app.js — the Wharf web UI: hash routes, one function per page. Pages are
// built with DOM calls and textContent only (no HTML from data), so the
// strict Content-Security-Policy the web server sends holds (no inline
// script or style) and nothing a pusher writes into a manifest runs here.
import * as api from './api.js';

const $ = (sel) => document.querySelector(sel);
const main = $('#main');
let who = null; // GET /_wharf/api/whoami

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

// ---- DOM helpers ----

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

// page: a new view in main; a page function writes into its view only, so
// the late answers of a page the user has left land nowhere
function page(title, ...kids) {
  document.title = `${title} — Wharf`;
  const v = el('div', { class: 'view' }, el('h1', { text: title }), ...kids);
  main.replaceChildren(v);
  return v;
}

function table(head, rows, caption) {
  const t = el('table');
  if (caption) t.append(el('caption', { class: 'sr', text: caption }));
  t.append(el('thead', {}, el('tr', {}, head.map((h) => el('th', { scope: 'col', text: h })))));
  const tb = el('tbody');
  // each cell names its column: on a phone the rows stack (style.css)
  for (const r of rows) [...r.children].forEach((c, i) => c.setAttribute('data-label', head[i] || ''));
  tb.append(...rows);
  t.append(tb);
  return el('div', { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': caption || head.join(', ') }, t);
}

function alertMsg(msg) {
  const a = $('#alert');
  a.textContent = msg;
  a.hidden = !msg;
}

function status(msg) {
  $('#status').textContent = msg;
}

function human(n) {
  if (n === undefined || n === null || n < 0) return '—';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = Number(n);
  while (v >= 1000 && i < u.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i ? v.toFixed(v < 10 ? 1 : 0) : v} ${u[i]}`;
}

// date: a time from the APIs (seconds since the epoch, or ISO 8601)
function date(t) {
  return typeof t === 'number' ? new Date(t * 1000) : new Date(t);
}

function when(t) {
  if (!t) return '—';
  return date(t).toISOString().replace('T', ' ').replace(/(:\d\d)\.\d+Z$/, '$1 UTC');
}

function short(d) {
  return d ? d.replace(/^(sha256:[0-9a-f]{12})[0-9a-f]+$/, '$1…') : '';
}

function timeEl(t) {
  return t ? el('time', { datetime: date(t).toISOString(), text: when(t) }) : '—';
}

function repoLink(name) {
  return el('a', { href: `#/r/${name}`, text: name });
}

function manifestLink(name, ref, text) {
  return el('a', { href: `#/m/${name}@${ref}`, text: text || short(ref) });
}

function copyLine(text) {
  const code = el('code', { text });
  const b = el('button', {
    type: 'button',
    class: 'copy',
    'aria-label': `Copy: ${text}`,
    text: 'Copy',
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(text);
        status(`Copied: ${text}`);
      } catch {
        const r = document.createRange();
        r.selectNodeContents(code);
        getSelection().removeAllRanges();
        getSelection().addRange(r);
        status('Selected; press Ctrl+C to copy');
      }
    },
  });
  return el('div', { class: 'pull' }, code, b);
}

// confirm: the <dialog>; resolves true when the user confirmed
function confirmAction(text, okLabel = 'Delete') {
  const d = $('#confirm');
  $('#confirm-text').textContent = text;
  $('#confirm-ok').textContent = okLabel;
  return new Promise((resolve) => {
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
    d.returnValue = 'cancel';
    d.showModal();
    $('#confirm-cancel').focus();
  });
}

async function failed(e, v) {
  if (v && !v.isConnected) return; // the user went elsewhere meanwhile
  if (e instanceof api.ApiError && e.status === 401 && !api.loggedIn()) {
    location.hash = `#/login?next=${encodeURIComponent(location.hash)}`;
    return;
  }
  alertMsg(`Refused: ${e.message}`);
}

// canDelete: deletes are on, and repo (if given) is no mirror of an upstream
const canDelete = (repo) => who && who.delete && !who.readonly &&
  !(repo !== undefined && (who.mirrors || []).some((p) => !p || repo === p || repo.startsWith(`${p}/`)));

// ---- pages ----

const API_PAGE_MAX = 1000; // the most one /_wharf/api/ listing answers
const ROWS_PER_CHUNK = 100; // rows the browser skips or renders together (style.css .lchunk)

// listPages: up to want repositories after last, in requests of at most
// API_PAGE_MAX: {repositories, next}
async function listPages(url, params, last, want) {
  const out = [];
  let next = last || '';
  while (out.length < want) {
    const qs = new URLSearchParams({ ...params, n: String(Math.min(API_PAGE_MAX, want - out.length)) });
    if (next) qs.set('last', next);
    const d = await api.json(`${url}?${qs}`, { scope: 'registry:catalog:*' });
    out.push(...d.repositories);
    next = d.next;
    if (!next) break;
  }
  return { repositories: out, next };
}

async function repositories(params) {
  const q = params.get('q') || '';
  const n = params.get('n') || '100';
  const last = params.get('last') || '';
  const form = el(
    'form',
    { role: 'search', class: 'search', onsubmit: (ev) => {
      ev.preventDefault();
      const f = new FormData(ev.target);
      const p = new URLSearchParams();
      if (f.get('q')) p.set('q', f.get('q'));
      p.set('n', f.get('n'));
      location.hash = `#/?${p}`;
    } },
    el('label', { for: 'q', text: 'Search repositories, tags, labels or digests' }),
    el('input', { id: 'q', name: 'q', type: 'search', value: q, autocomplete: 'off', placeholder: 'a name, a tag, key=value of a label, a digest' }),
    el('label', { for: 'n', class: 'sr', text: 'Per page' }),
    el('select', { id: 'n', name: 'n' }, ['50', '100', '1000', '10000'].map((v) => el('option', { value: v, selected: v === n, text: `${v} per page` }))),
    el('button', { type: 'submit', text: 'Search' }),
  );
  const v = page('Repositories', form, el('p', { class: 'muted', text: 'Loading…' }));
  const t0 = performance.now();
  const url = q ? '/_wharf/api/search' : '/_wharf/api/repositories';
  const want = Number(n) || 100;
  // A page of up to 10,000: requests of API_PAGE_MAX, the next one asked for
  // before this one's rows are built, rows appended as they come. Rows are
  // clones of one prototype, and the list is a grid of divs (ARIA table)
  // whose off-screen rows the browser neither lays out nor paints
  // (content-visibility on chunks of rows, style.css): 10,000 rows show in well
  // under a second.
  const proto = el('div', { role: 'row', class: 'lrow' },
    el('span', { role: 'cell' }, el('a')),
    el('span', { role: 'cell', class: 'num' }),
    el('span', { role: 'cell', class: 'num' }),
    el('span', { role: 'cell' }),
    q ? el('span', { role: 'cell' }) : null);
  const row = (r) => {
    const x = proto.cloneNode(true);
    const c = x.children;
    c[0].firstChild.href = `#/r/${r.name}`;
    c[0].firstChild.textContent = r.name;
    c[1].textContent = r.tags;
    c[2].textContent = human(r.size);
    c[3].textContent = when(r.last_push);
    if (q) c[4].textContent = r.matched || '';
    return x;
  };
  const head = ['Name', 'Tags', 'Size', 'Last push'];
  if (q) head.push('Matched');
  const body = el('div', { role: 'rowgroup', class: 'lbody' });
  const list = el('div', { role: 'table', class: q ? 'list q' : 'list', 'aria-label': 'Repositories' },
    el('div', { role: 'rowgroup' }, el('div', { role: 'row', class: 'lrow lhead' },
      head.map((h, i) => el('span', { role: 'columnheader', class: i === 1 || i === 2 ? 'num' : null, text: h })))),
    body);
  const page1 = (after, count) => {
    const qs = new URLSearchParams(q ? { q } : {});
    qs.set('n', String(Math.min(API_PAGE_MAX, count)));
    if (after) qs.set('last', after);
    return api.json(`${url}?${qs}`, { scope: 'registry:catalog:*' });
  };
  let shown = 0;
  let next = last;
  let waited = 0;
  // More than one request's worth of the whole list: the names first
  // (/v2/_catalog, cheap: no summaries), then every request at once, each
  // starting after the name that ends the one before — the workers read the
  // summaries in parallel. Searches and short pages go one after the other.
  const ahead = [];
  if (!q && want > API_PAGE_MAX) {
    const tw = performance.now();
    const qs = new URLSearchParams({ n: String(want) });
    if (last) qs.set('last', last);
    try {
      const names = (await api.json(`/v2/_catalog?${qs}`, { scope: 'registry:catalog:*' })).repositories || [];
      for (let i = 0; i < names.length; i += API_PAGE_MAX)
        ahead.push(page1(i ? names[i - 1] : last, Math.min(API_PAGE_MAX, want - i)));
    } catch {
      ahead.length = 0; // the sequential way below
    }
    waited += performance.now() - tw;
  }
  let pending = ahead.length ? ahead.shift() : page1(next, want);
  try {
    while (pending) {
      const tw = performance.now();
      const d = await pending;
      waited += performance.now() - tw;
      next = d.next;
      const got = d.repositories.length;
      if (ahead.length) pending = ahead.shift();
      else pending = next && shown + got < want ? page1(next, want - shown - got) : null;
      const frag = document.createDocumentFragment();
      for (let i = 0; i < got; i += ROWS_PER_CHUNK) {
        const chunk = el('div', { role: 'none', class: 'lchunk' });
        for (const r of d.repositories.slice(i, i + ROWS_PER_CHUNK)) chunk.append(row(r));
        frag.append(chunk);
      }
      body.append(frag);
      if (!shown) v.lastChild.replaceWith(list);
      shown += got;
    }
  } catch (e) {
    if (!shown) v.lastChild.remove();
    return failed(e, v);
  }
  if (!shown) list.replaceWith(el('p', { class: 'empty', text: q ? `Nothing matches “${q}”.` : 'No repositories yet.' }));
  const nav = el('div', { class: 'pager' });
  if (last) nav.append(el('a', { href: `#/?${new URLSearchParams(q ? { q, n } : { n })}`, text: '« First page' }));
  if (next) {
    const p = new URLSearchParams(q ? { q, n, last: next } : { n, last: next });
    nav.append(el('a', { href: `#/?${p}`, rel: 'next', text: 'Next page »' }));
  }
  v.append(nav);
  if (!v.isConnected) return;
  const ms = Math.round(performance.now() - t0);
  main.dataset.rendered = String(shown);
  main.dataset.ms = String(ms);
  main.dataset.waited = String(Math.round(waited)); // of ms, waiting for the API
  status(`${shown} repositories shown in ${ms} ms`);
}

async function repository(name) {
  const v = page(name, el('p', { class: 'muted', text: 'Loading…' }));
  let data;
  try {
    data = await api.json(`/_wharf/api/tags?repo=${encodeURIComponent(name)}&n=100`, { scope: `repository:${name}:pull` });
  } catch (e) {
    v.lastChild.remove();
    return failed(e, v);
  }
  const host = location.host;
  const rows = data.tags.map((t) =>
    el('tr', {},
      el('th', { scope: 'row' }, el('a', { href: `#/m/${name}@${t.name}`, text: t.name })),
      el('td', {}, manifestLink(name, t.digest)),
      el('td', { class: 'num', text: human(t.size) }),
      el('td', { text: t.platforms.join(', ') || '—' }),
      el('td', {}, timeEl(t.pushed)),
      el('td', { class: 'pulls' }, copyLine(`docker pull ${host}/${name}:${t.name}`), copyLine(`podman pull ${host}/${name}:${t.name}`)),
      canDelete(name)
        ? el('td', {}, el('button', { type: 'button', class: 'danger', 'data-tag': t.name, 'aria-label': `Delete tag ${t.name}`, text: 'Delete', onclick: () => deleteTag(name, t.name) }))
        : null),
  );
  const head = ['Tag', 'Digest', 'Size', 'Platforms', 'Pushed', 'Pull'];
  if (canDelete(name)) head.push('Actions');
  const more = data.next ? el('p', { class: 'muted', text: `Showing ${data.tags.length} of ${data.count} tags.` }) : null;
  const actions = canDelete(name)
    ? el('p', {}, el('button', { type: 'button', class: 'danger', text: 'Delete repository', onclick: () => deleteRepo(name) }))
    : null;
  v.lastChild.replaceWith(
    el('div', {},
      data.tags.length ? table(head, rows, `Tags of ${name}`) : el('p', { class: 'empty', text: 'No tags.' }),
      more, actions),
  );
}

async function deleteTag(name, tag) {
  if (!(await confirmAction(`Delete the tag ${name}:${tag}? The manifest stays, reachable by its digest.`))) return;
  const r = await api.request(`/v2/${name}/manifests/${tag}`, { method: 'DELETE', scope: `repository:${name}:delete` });
  if (!r.ok) return failed(await api.explain(r));
  alertMsg('');
  status(`Deleted tag ${name}:${tag}`);
  return repository(name);
}

async function deleteManifest(name, digest) {
  if (!(await confirmAction(`Delete the manifest ${digest} of ${name}, and every tag on it?`))) return;
  const r = await api.request(`/v2/${name}/manifests/${digest}`, { method: 'DELETE', scope: `repository:${name}:delete` });
  if (!r.ok) return failed(await api.explain(r));
  status(`Deleted manifest ${digest}`);
  location.hash = `#/r/${name}`;
}

async function deleteRepo(name) {
  if (!(await confirmAction(`Delete the repository ${name} with all its tags and manifests? Blob data is freed by the next garbage collection.`))) return;
  const r = await api.request(`/_wharf/api/repositories/${name}`, { method: 'DELETE', scope: `repository:${name}:delete` });
  if (!r.ok) return failed(await api.explain(r));
  status(`Deleted repository ${name}`);
  location.hash = '#/';
}

function kv(obj) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return el('p', { class: 'muted', text: 'None.' });
  return el('dl', { class: 'kv' }, entries.map(([k, v]) => [el('dt', { text: k }), el('dd', {}, el('code', { text: v }))]));
}

async function manifest(name, ref) {
  const v = page(`${name}@${short(ref)}`, el('p', { class: 'muted', text: 'Loading…' }));
  const scope = `repository:${name}:pull`;
  let r;
  try {
    r = await api.request(`/v2/${name}/manifests/${ref}`, { headers: { Accept: MANIFEST_TYPES }, scope });
    if (!r.ok) throw await api.explain(r);
  } catch (e) {
    v.lastChild.remove();
    return failed(e, v);
  }
  const digest = r.headers.get('Docker-Content-Digest') || ref;
  const body = await r.text();
  const m = JSON.parse(body);
  const mt = m.mediaType || r.headers.get('Content-Type');
  const out = [
    el('dl', { class: 'facts' },
      el('dt', { text: 'Repository' }), el('dd', {}, repoLink(name)),
      el('dt', { text: 'Digest' }), el('dd', {}, el('code', { text: digest })),
      el('dt', { text: 'Media type' }), el('dd', { text: mt }),
      m.artifactType ? [el('dt', { text: 'Artifact type' }), el('dd', { text: m.artifactType })] : null,
      el('dt', { text: 'Manifest size' }), el('dd', { text: human(new TextEncoder().encode(body).length) }),
      m.subject ? [el('dt', { text: 'Subject' }), el('dd', {}, manifestLink(name, m.subject.digest, m.subject.digest))] : null),
    el('div', { class: 'pulls' }, copyLine(`docker pull ${location.host}/${name}@${digest}`), copyLine(`podman pull ${location.host}/${name}@${digest}`)),
  ];
  if (Array.isArray(m.manifests)) {
    out.push(el('h2', { text: 'Platforms' }));
    out.push(table(['Platform', 'Digest', 'Size', 'Media type'], m.manifests.map((c) => {
      const p = c.platform || {};
      const plat = p.os ? `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}` : '—';
      return el('tr', {},
        el('td', { text: plat }),
        el('td', {}, manifestLink(name, c.digest)),
        el('td', { class: 'num', text: human(c.size) }),
        el('td', { text: c.mediaType || '' }));
    }), 'Platforms'));
  }
  if (Array.isArray(m.layers)) {
    const total = m.layers.reduce((s, l) => s + (l.size || 0), 0) + ((m.config && m.config.size) || 0);
    out.push(el('h2', { text: 'Layers' }));
    out.push(table(['#', 'Digest', 'Size', 'Media type'], m.layers.map((l, i) =>
      el('tr', {},
        el('td', { class: 'num', text: i + 1 }),
        el('td', {}, el('code', { title: l.digest, text: short(l.digest) })),
        el('td', { class: 'num', text: human(l.size) }),
        el('td', { text: l.mediaType || '' }))), 'Layers'));
    out.push(el('p', { class: 'muted', text: `Total with config: ${human(total)}` }));
  }
  const cfgSection = el('section', { 'aria-label': 'Configuration' });
  const refSection = el('section', { 'aria-label': 'Referrers' }, el('h2', { text: 'Referrers' }), el('p', { class: 'muted', text: 'Loading…' }));
  out.push(cfgSection, refSection);
  if (canDelete(name)) {
    out.push(el('p', {}, el('button', { type: 'button', class: 'danger', text: 'Delete manifest', onclick: () => deleteManifest(name, digest) })));
  }
  v.lastChild.replaceWith(el('div', {}, ...out));
  const configTypes = ['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json'];
  if (m.config && configTypes.includes(m.config.mediaType)) {
    try {
      const c = await api.json(`/v2/${name}/blobs/${m.config.digest}`, { scope });
      const cc = c.config || {};
      const env = Object.fromEntries((cc.Env || []).map((e) => {
        const i = e.indexOf('=');
        return i < 0 ? [e, ''] : [e.slice(0, i), e.slice(i + 1)];
      }));
      cfgSection.append(
        el('h2', { text: 'Configuration' }),
        el('dl', { class: 'facts' },
          el('dt', { text: 'Platform' }), el('dd', { text: `${c.os || '?'}/${c.architecture || '?'}${c.variant ? `/${c.variant}` : ''}` }),
          el('dt', { text: 'Created' }), el('dd', { text: c.created || '—' }),
          el('dt', { text: 'Entrypoint' }), el('dd', {}, el('code', { text: JSON.stringify(cc.Entrypoint || null) })),
          el('dt', { text: 'Cmd' }), el('dd', {}, el('code', { text: JSON.stringify(cc.Cmd || null) })),
          el('dt', { text: 'Working dir' }), el('dd', { text: cc.WorkingDir || '—' }),
          el('dt', { text: 'User' }), el('dd', { text: cc.User || '—' })),
        el('h3', { text: 'Environment' }), kv(env),
        el('h3', { text: 'Labels' }), kv(cc.Labels),
        el('h3', { text: 'History' }),
        Array.isArray(c.history) && c.history.length
          ? table(['Created', 'Created by', 'Empty layer'], c.history.map((h) =>
            el('tr', {}, el('td', { text: h.created || '' }), el('td', {}, el('code', { text: h.created_by || h.comment || '' })), el('td', { text: h.empty_layer ? 'yes' : '' }))), 'History')
          : el('p', { class: 'muted', text: 'None.' }),
      );
    } catch (e) {
      cfgSection.append(el('p', { class: 'muted', text: `Configuration not readable: ${e.message}` }));
    }
  }
  try {
    const refs = await api.json(`/v2/${name}/referrers/${digest}`, { scope });
    const list = refs.manifests || [];
    refSection.lastChild.replaceWith(list.length
      ? table(['Artifact type', 'Digest', 'Size', 'Annotations'], list.map((x) =>
        el('tr', {},
          el('td', { text: x.artifactType || x.mediaType }),
          el('td', {}, manifestLink(name, x.digest)),
          el('td', { class: 'num', text: human(x.size) }),
          el('td', {}, el('code', { text: x.annotations ? Object.entries(x.annotations).map(([k, v]) => `${k}=${v}`).join('\n') : '' })))), 'Referrers')
      : el('p', { class: 'muted', text: 'No signatures, SBOMs or attestations refer to this manifest.' }));
  } catch (e) {
    refSection.lastChild.replaceWith(el('p', { class: 'muted', text: `Referrers not readable: ${e.message}` }));
  }
}

// allRepositories: every repository the user may see, with sizes
async function allRepositories() {
  return (await listPages('/_wharf/api/repositories', {}, '', 1e6)).repositories;
}

async function usage() {
  const v = page('Storage', el('p', { class: 'muted', text: 'Loading…' }));
  let repos;
  try {
    repos = await allRepositories();
  } catch (e) {
    v.lastChild.remove();
    return failed(e, v);
  }
  repos.sort((a, b) => (b.size || 0) - (a.size || 0) || a.name.localeCompare(b.name));
  const total = repos.reduce((s, r) => s + (r.size || 0), 0);
  const max = repos.length ? repos[0].size || 1 : 1;
  v.lastChild.replaceWith(el('div', {},
    el('p', { text: `${repos.length} repositories, ${human(total)} in all (a blob shared by several repositories counts in each).` }),
    table(['Repository', 'Size', 'Relative size', 'Tags'], repos.slice(0, 1000).map((r) =>
      el('tr', {},
        el('td', {}, repoLink(r.name)),
        el('td', { class: 'num', text: human(r.size) }),
        el('td', {}, el('meter', { min: '0', max: String(max), value: String(r.size || 0), 'aria-label': `${r.name}: ${human(r.size)}` })),
        el('td', { class: 'num', text: r.tags }))), 'Storage per repository')));
}

async function upstreams() {
  const v = page('Mirror', el('p', { class: 'muted', text: 'Loading…' }));
  let d;
  let repos = [];
  try {
    d = await api.json('/_wharf/api/upstreams', { scope: 'registry:catalog:*' });
    if (d.upstreams.length) repos = await allRepositories();
  } catch (e) {
    v.lastChild.remove();
    return failed(e, v);
  }
  if (!d.upstreams.length) {
    v.lastChild.replaceWith(el('p', { class: 'empty', text: 'This registry mirrors no upstream (config.yml proxy:).' }));
    return;
  }
  const parts = [];
  for (const u of d.upstreams) {
    const mine = repos.filter((r) => !u.prefix || r.name === u.prefix || r.name.startsWith(`${u.prefix}/`));
    parts.push(
      el('h2', { text: u.prefix ? `${u.prefix}/…` : 'Every repository' }),
      el('dl', { class: 'facts' },
        el('dt', { text: 'Upstream' }), el('dd', {}, el('code', { text: u.url })),
        el('dt', { text: 'Upstream name prefix' }), el('dd', { text: u.remoteprefix || '—' }),
        el('dt', { text: 'Cached for' }), el('dd', { text: u.ttl ? `${Math.round(u.ttl / 3600)} h after the last pull` : 'ever' }),
        el('dt', { text: 'Credentials' }), el('dd', { text: u.auth ? 'configured' : 'anonymous' })),
      mine.length
        ? table(['Cached repository', 'Tags', 'Size', 'Last fetch'], mine.map((r) =>
          el('tr', {}, el('td', {}, repoLink(r.name)), el('td', { class: 'num', text: r.tags }), el('td', { class: 'num', text: human(r.size) }), el('td', {}, timeEl(r.last_push)))), 'Cached repositories')
        : el('p', { class: 'muted', text: 'Nothing cached yet.' }),
    );
  }
  v.lastChild.replaceWith(el('div', {}, ...parts));
}

function gcReport(d) {
  const items = d.items.map((i) => el('tr', {}, el('td', { text: i.kind }), el('td', {}, el('code', { text: i.digest }))));
  return el('div', {},
    el('dl', { class: 'facts' },
      el('dt', { text: 'Repositories' }), el('dd', { text: d.repositories }),
      el('dt', { text: 'Manifests' }), el('dd', { text: d.manifests }),
      el('dt', { text: 'Blobs in use' }), el('dd', { text: d.marked }),
      el('dt', { text: d.dry_run ? 'Blobs to delete' : 'Blobs deleted' }), el('dd', { text: d.blobs_deleted }),
      el('dt', { text: d.dry_run ? 'Manifests to delete' : 'Manifests deleted' }), el('dd', { text: d.manifests_deleted }),
      el('dt', { text: d.dry_run ? 'Space to free' : 'Space freed' }), el('dd', { text: human(d.bytes_freed) })),
    items.length ? table(['Kind', 'Digest'], items, 'Eligible for deletion') : el('p', { class: 'empty', text: 'Nothing to delete.' }),
    d.truncated ? el('p', { class: 'muted', text: 'Only the first 1000 items are listed.' }) : null);
}

async function gc() {
  const v = page('Garbage collection', el('p', { class: 'muted', text: 'Running a dry run…' }));
  let d;
  try {
    d = await api.json('/_wharf/api/gc', { scope: 'registry:admin:*' });
  } catch (e) {
    v.lastChild.remove();
    return failed(e, v);
  }
  const run = who && who.admin && !who.readonly
    ? el('p', {}, el('button', {
      type: 'button',
      class: 'danger',
      text: 'Run garbage collection',
      onclick: async (ev) => {
        if (!(await confirmAction('Delete every blob no manifest uses now? The registry keeps serving; blobs younger than the grace period stay.', 'Run'))) return;
        ev.target.disabled = true;
        status('Collecting…');
        const r = await api.request('/_wharf/api/gc', { method: 'POST', scope: 'registry:admin:*' });
        ev.target.disabled = false;
        if (!r.ok) return failed(await api.explain(r));
        const res = await r.json();
        v.replaceChildren(el('h1', { text: 'Garbage collection' }), el('h2', { text: 'Done' }), gcReport(res));
        status(`Deleted ${res.blobs_deleted} blobs, freed ${human(res.bytes_freed)}`);
      },
    }))
    : null;
  v.lastChild.replaceWith(el('div', {}, el('h2', { text: 'Dry run' }), gcReport(d), run));
}

function loginPage(params) {
  const next = params.get('next') || '#/';
  const err = el('p', { class: 'error', id: 'login-error', role: 'alert' });
  const form = el('form', { class: 'login', 'aria-describedby': 'login-error', onsubmit: async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    api.login(f.get('user'), f.get('pass'));
    const w = await whoami();
    if (!w || !w.user) {
      api.logout();
      err.textContent = 'Wrong user name or password.';
      $('#user').focus();
      return;
    }
    location.hash = next.startsWith('#/login') ? '#/' : next;
  } },
  el('label', { for: 'user', text: 'User' }),
  el('input', { id: 'user', name: 'user', autocomplete: 'username', required: true }),
  el('label', { for: 'pass', text: 'Password' }),
  el('input', { id: 'pass', name: 'pass', type: 'password', autocomplete: 'current-password', required: true }),
  el('button', { type: 'submit', text: 'Log in' }), err);
  page('Log in', form);
  $('#user').focus();
}

async function whoami() {
  try {
    who = await api.json('/_wharf/api/whoami', { scope: 'registry:catalog:* registry:admin:*' });
  } catch {
    who = null;
  }
  api.setCsrf(who && who.csrf);
  const box = $('#who');
  box.replaceChildren();
  if (who && who.user) {
    box.append(el('span', { text: who.user }));
    if (who.admin) box.append(el('span', { class: 'badge', text: 'admin' }));
    box.append(
      el('button', { type: 'button', text: 'Log out', onclick: () => {
        api.logout();
        who = null;
        location.hash = '#/login';
        whoami();
      } }));
  } else if (!who || who.auth !== 'none') {
    box.append(el('a', { href: '#/login', text: 'Log in' }));
  }
  if (who && who.readonly) box.append(el('span', { class: 'badge', text: 'read-only' }));
  return who;
}

// ---- automated builds (issue 18): the builds' JSON API ----

const BUILD_SCOPE = 'registry:admin:*';

function buildLink(id) {
  return el('a', { href: `#/b/${id}`, text: id });
}

async function builds() {
  const v = page('Builds', el('p', { class: 'muted', text: 'Loading…' }));
  let d;
  try {
    d = await api.json('/_wharf/api/builds?n=100', { scope: BUILD_SCOPE });
  } catch (e) {
    v.lastChild.remove();
    if (e instanceof api.ApiError && e.status === 404) {
      v.append(el('p', { class: 'empty', text: 'Automated builds are not configured (config.yml builds:).' }));
      return;
    }
    return failed(e, v);
  }
  const sources = [...new Set(d.builds.map((b) => b.source))].sort();
  const form = el('form', { class: 'search', onsubmit: async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const body = { source: f.get('source') };
    if (f.get('branch')) body.branch = f.get('branch');
    const btn = ev.target.querySelector('button');
    btn.disabled = true;
    const r = await api.request('/_wharf/api/builds', {
      method: 'POST', scope: BUILD_SCOPE, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    btn.disabled = false;
    if (!r.ok) return failed(await api.explain(r), v);
    const b = await r.json();
    status(`Build ${b.id} queued`);
    location.hash = `#/b/${b.id}`;
  } },
  el('label', { for: 'build-source', text: 'Build now' }),
  el('input', { id: 'build-source', name: 'source', placeholder: 'source', list: 'build-sources', required: true, 'aria-label': 'Source' }),
  el('datalist', { id: 'build-sources' }, sources.map((s) => el('option', { value: s }))),
  el('input', { id: 'build-branch', name: 'branch', placeholder: 'branch (default: the first rule\'s)', 'aria-label': 'Branch' }),
  el('button', { type: 'submit', text: 'Build' }));
  const rows = d.builds.map((b) => el('tr', { 'data-status': b.status },
    el('td', {}, buildLink(b.id)),
    el('td', { text: b.source }),
    el('td', {}, el('code', { title: b.ref, text: b.ref.replace(/^refs\/(heads|tags)\//, '') })),
    el('td', { text: (b.tags || []).join(', ') }),
    el('td', { class: 'build-status', text: b.status }),
    el('td', { title: b.trigger, text: b.trigger.replace(/@(sha256:[0-9a-f]{12})[0-9a-f]+/, '@$1…') }),
    el('td', {}, timeEl(b.created))));
  v.lastChild.replaceWith(el('div', {},
    who && who.admin && !who.readonly ? form : null,
    rows.length
      ? table(['Build', 'Source', 'Ref', 'Tags', 'Status', 'Trigger', 'Queued'], rows, 'Builds, newest first')
      : el('p', { class: 'empty', text: 'No build yet: push to a linked repository, or build now.' })));
}

async function build(id) {
  const v = page(`Build ${id}`, el('p', { class: 'muted', text: 'Loading…' }));
  const url = `/_wharf/api/builds/${encodeURIComponent(id)}`;
  let b;
  let log;
  try {
    b = await api.json(url, { scope: BUILD_SCOPE });
    const r = await api.request(`${url}/log`, { scope: BUILD_SCOPE });
    log = r.ok ? await r.text() : '';
  } catch (e) {
    v.lastChild.remove();
    return failed(e, v);
  }
  if (!v.isConnected) return;
  const fact = (k, val) => [el('dt', { text: k }), el('dd', {}, val === '' || val === undefined ? '—' : val)];
  const active = b.status === 'queued' || b.status === 'running';
  const cancel = active && who && who.admin
    ? el('p', {}, el('button', { type: 'button', class: 'danger', text: 'Cancel build', onclick: async (ev) => {
      if (!(await confirmAction('Stop this build?', 'Cancel build'))) return;
      ev.target.disabled = true;
      const r = await api.request(`${url}/cancel`, { method: 'POST', scope: BUILD_SCOPE });
      if (!r.ok) return failed(await api.explain(r), v);
      status('Cancel asked');
    } }))
    : null;
  v.lastChild.replaceWith(el('div', {},
    el('dl', { class: 'facts' },
      fact('Status', el('span', { class: 'build-status', text: b.status })),
      b.reason ? fact('Reason', b.reason) : null,
      fact('Source', b.source),
      fact('Repository', repoLink(b.repository)),
      fact('Ref', el('code', { text: b.ref })),
      fact('Tags', (b.tags || []).join(', ')),
      fact('Revision', b.revision ? el('code', { text: b.revision }) : ''),
      fact('Digest', b.digest ? manifestLink(b.repository, b.digest) : ''),
      fact('Trigger', b.trigger),
      (b.chain || []).length ? fact('Chain', b.chain.join(' → ')) : null,
      fact('Queued', timeEl(b.created)),
      fact('Started', timeEl(b.started)),
      fact('Finished', timeEl(b.finished))),
    cancel,
    el('h2', { text: 'Log' }),
    log ? el('pre', { class: 'log', tabindex: '0', 'aria-label': 'Build log', text: log }) : el('p', { class: 'empty', text: 'No output yet.' })));
  // a queued or running build: look again in two seconds while the page is shown
  if (active) setTimeout(() => { if (v.isConnected) build(id); }, 2000);
}

// ---- routing ----

async function route() {
  alertMsg('');
  status('');
  const h = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = h.split('?');
  const params = new URLSearchParams(qs || '');
  for (const a of document.querySelectorAll('[data-nav]')) a.removeAttribute('aria-current');
  const cur = (n) => {
    const a = document.querySelector(`[data-nav="${n}"]`);
    if (a) a.setAttribute('aria-current', 'page');
  };
  delete main.dataset.rendered;
  if (path === '/login') return loginPage(params);
  if (path.startsWith('/r/')) {
    cur('repos');
    return repository(decodeURIComponent(path.slice(3)));
  }
  if (path.startsWith('/m/')) {
    cur('repos');
    const s = decodeURIComponent(path.slice(3));
    const at = s.lastIndexOf('@');
    return manifest(s.slice(0, at), s.slice(at + 1));
  }
  if (path === '/usage') {
    cur('usage');
    return usage();
  }
  if (path === '/upstreams') {
    cur('upstreams');
    return upstreams();
  }
  if (path === '/gc') {
    cur('gc');
    return gc();
  }
  if (path === '/builds') {
    cur('builds');
    return builds();
  }
  if (path.startsWith('/b/')) {
    cur('builds');
    return build(decodeURIComponent(path.slice(3)));
  }
  cur('repos');
  return repositories(params);
}

async function navigate() {
  await route();
  if (!location.hash.startsWith('#/login')) main.focus({ preventScroll: true });
}

window.addEventListener('hashchange', navigate);
whoami().then(() => {
  if (!who && api.loggedIn()) api.logout();
  if ((!who || (!who.user && who.auth === 'htpasswd')) && !location.hash.startsWith('#/login')) {
    location.hash = '#/login';
    return;
  }
  route();
});
