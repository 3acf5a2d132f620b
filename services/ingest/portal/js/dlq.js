// Dead-letter queue: list with filters, retry one, retry a selection (one call each), and
// redrive a time range (POST /dlq/retry).
import {
  announce, api, fail, formatTime, h, isoFromLocal, listAll, pagedTable, startPage, withQuery,
} from '/portal/js/api.js';

const $ = (id) => document.getElementById(id);
const tbody = document.querySelector('#dead-letters tbody');
const urls = new Map(); // webhook id -> url, for readable rows

const retryPath = (id) => `/dlq/${encodeURIComponent(id)}/retry`;

function row(item) {
  const eventLink = h('a', {
    href: `/portal/events.html?event=${encodeURIComponent(item.event.id)}`, text: item.event.id,
  });
  const error = item.last_status_code ? `HTTP ${item.last_status_code}: ${item.last_error}` : item.last_error;
  return h('tr', { 'data-id': item.delivery_id, 'data-event': item.event.id },
    h('td', {}, h('input', {
      type: 'checkbox', name: 'delivery', value: item.delivery_id,
      'aria-label': `Select the dead letter of event ${item.event.id}`,
    })),
    h('td', { text: formatTime(item.failed_at) }),
    h('td', {}, h('span', { text: item.event.type }), h('br'), eventLink),
    h('td', {}, h('code', { text: urls.get(item.webhook_id) ?? item.webhook_id })),
    h('td', { text: item.reason }),
    h('td', { class: 'error-text', text: error }),
    h('td', { text: String(item.attempts) }),
    h('td', {}, h('button', {
      type: 'button', text: 'Retry', 'aria-label': `Retry the delivery of event ${item.event.id}`,
      on: { click: () => retryOne(item) },
    })));
}

function filters() {
  return {
    limit: $('filter-limit').value,
    webhook_id: $('filter-webhook').value,
    since: isoFromLocal($('filter-since').value),
  };
}

const loadPage = pagedTable(tbody, row, (cursor) => withQuery('/dlq', { ...filters(), cursor }));

async function load(more = false) {
  try {
    await loadPage(more);
    $('select-all').checked = false;
  } catch (err) {
    fail(err);
  }
}

async function retryOne(item) {
  try {
    await api(retryPath(item.delivery_id), { method: 'POST' });
    announce(`Retrying the delivery of event ${item.event.id}.`, 'ok');
    await load();
    $('list-title').focus(); // the row is gone: keep keyboard users in the list
  } catch (err) {
    fail(err);
  }
}

$('selection').addEventListener('submit', async (event) => {
  event.preventDefault();
  const ids = [...tbody.querySelectorAll('input[name=delivery]:checked')].map((box) => box.value);
  if (!ids.length) {
    announce('Select at least one dead letter first.', 'error');
    return;
  }
  const results = await Promise.allSettled(ids.map((id) => api(retryPath(id), { method: 'POST' })));
  const failed = results.filter((r) => r.status === 'rejected');
  const done = ids.length - failed.length;
  if (failed.length) {
    announce(`Retrying ${done} of ${ids.length}; failed: ${failed.map((r) => r.reason.message).join('; ')}`, 'error');
  } else {
    announce(`Retrying ${done} dead letter${done === 1 ? '' : 's'}.`, 'ok');
  }
  await load();
});

$('select-all').addEventListener('change', (event) => {
  for (const box of tbody.querySelectorAll('input[name=delivery]')) box.checked = event.target.checked;
});

$('bulk').addEventListener('submit', async (event) => {
  event.preventDefault();
  const body = {};
  if ($('bulk-webhook').value) body.webhook_id = $('bulk-webhook').value;
  if ($('bulk-since').value) body.since = isoFromLocal($('bulk-since').value);
  if ($('bulk-until').value) body.until = isoFromLocal($('bulk-until').value);
  if ($('bulk-rate').value) body.per_second = Number($('bulk-rate').value);
  try {
    const out = await api('/dlq/retry', { method: 'POST', body });
    announce(`Redriving ${out.retried} dead letter${out.retried === 1 ? '' : 's'} over ${out.spread_seconds} s.`, 'ok');
    await load();
  } catch (err) {
    fail(err);
  }
});

$('filter').addEventListener('submit', (event) => {
  event.preventDefault();
  load();
});
$('more').addEventListener('click', () => load(true));

async function loadWebhooks() {
  const hooks = await listAll('/webhooks');
  for (const hook of hooks) urls.set(hook.id, hook.url);
  for (const select of document.querySelectorAll('.webhook-select')) {
    select.append(...hooks.map((hook) => h('option', { value: hook.id, text: hook.description || hook.url })));
  }
}

startPage().then(loadWebhooks).then(() => load()).catch(fail);
