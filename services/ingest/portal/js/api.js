// The portal's one shared module: the tenant's key, calls to Herald's public API, and the
// few DOM helpers every page uses. The key lives in sessionStorage (this tab only, gone when
// it closes) and travels only in the Authorization header, never in a URL.

const KEY = 'herald.portal.key';
const NOTICE = 'herald.portal.notice';

export const getKey = () => sessionStorage.getItem(KEY);
export const setKey = (key) => sessionStorage.setItem(KEY, key);

export function signOut(notice) {
  sessionStorage.removeItem(KEY);
  if (notice) sessionStorage.setItem(NOTICE, notice);
  location.assign('/portal/');
}

/// A notice left by the previous page (e.g. "key rejected"), shown once.
export function takeNotice() {
  const notice = sessionStorage.getItem(NOTICE);
  sessionStorage.removeItem(NOTICE);
  return notice;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/// Calls the API; resolves to the parsed JSON body (null for 204), rejects with an ApiError
/// carrying the API's own `message`. A rejected key (401) signs the tab out.
export async function api(path, { method = 'GET', body, key = getKey() } = {}) {
  const headers = { Accept: 'application/json', Authorization: `Bearer ${key}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (err) {
    throw new ApiError(0, 'network', `Could not reach the API (${err.message}).`);
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (res.ok) return data;
  const message = data?.message ?? `The API answered ${res.status} ${res.statusText}.`;
  if (res.status === 401 && key === getKey() && getKey()) {
    signOut(`Signed out: ${message}`);
  }
  throw new ApiError(res.status, data?.error ?? 'http_error', message);
}

/// `path?params`, leaving out empty values.
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') query.set(name, value);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/// A table filled a page at a time: the returned `load(more)` fetches the first page (or,
/// with `more`, the next one) from `url(cursor)`, adds a row per item, and shows the page's
/// "more" button and "empty" note (#more, #empty) as they apply.
export function pagedTable(tbody, row, url) {
  let cursor = null;
  return async (more = false) => {
    const page = await api(url(more ? cursor : null));
    if (!more) tbody.replaceChildren();
    tbody.append(...page.items.map(row));
    cursor = page.next_cursor;
    document.getElementById('more').hidden = !cursor;
    document.getElementById('empty').hidden = tbody.children.length > 0;
  };
}

/// Every item of a paginated list (a few pages at most: pickers and filters).
export async function listAll(path, maxPages = 8) {
  const items = [];
  let cursor;
  for (let page = 0; page < maxPages; page += 1) {
    const data = await api(withQuery(path, { limit: 250, cursor }));
    items.push(...data.items);
    cursor = data.next_cursor;
    if (!cursor) break;
  }
  return items;
}

/// Builds an element. `props`: `class`, `text`, `on` ({event: handler}) or any attribute;
/// children are nodes or strings (always inserted as text).
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = value;
    else if (name === 'on') for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/// Announces a message in the page's aria-live status region.
export function announce(message, kind = 'info') {
  const region = document.getElementById('status');
  region.dataset.kind = kind;
  region.textContent = message;
}

export const fail = (err) => announce(err.message || String(err), 'error');

export function formatTime(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export const pretty = (value) => JSON.stringify(value, null, 2);

/// A value of a datetime-local input as RFC 3339 (UTC), or undefined when empty.
export function isoFromLocal(value) {
  return value ? new Date(value).toISOString() : undefined;
}

/// Common start of every signed-in page: back to sign-in without a key, the tenant's name
/// in the header, the sign-out button. Resolves to the tenant (`GET /tenant`).
export async function startPage() {
  if (!getKey()) {
    signOut('Sign in with an API key first.');
    return new Promise(() => {});
  }
  document.getElementById('sign-out').addEventListener('click', () => signOut('Signed out.'));
  const notice = takeNotice();
  if (notice) announce(notice);
  const tenant = await api('/tenant');
  document.getElementById('tenant-name').textContent = tenant.name;
  document.querySelector('.top .who').hidden = false;
  return tenant;
}

/// Runs `step` every `everyMs` until it resolves to a truthy value or `timeoutMs` passes
/// (then resolves to undefined).
export async function poll(step, { everyMs = 500, timeoutMs = 20000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await step();
    if (value) return value;
    if (Date.now() + everyMs > deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
