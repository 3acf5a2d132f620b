// Event log: recent events (GET /events, filtered by type), an event's deliveries and each
// delivery's attempts as a timeline. `?event=evt_...` opens that event (links from the DLQ).
import {
  announce, api, fail, formatTime, h, listAll, pretty, pagedTable, startPage, withQuery,
} from '/portal/js/api.js';

const $ = (id) => document.getElementById(id);
const tbody = document.querySelector('#events tbody');
let current = null; // the event shown in the detail section

function row(event) {
  return h('tr', { 'data-id': event.id },
    h('td', { text: formatTime(event.timestamp) }),
    h('td', { text: event.type }),
    h('td', {}, h('code', { text: event.id })),
    h('td', {}, h('button', {
      type: 'button', text: 'Deliveries', 'aria-label': `Deliveries of ${event.id}`,
      on: { click: () => openEvent(event.id) },
    })));
}

const loadPage = pagedTable(tbody, row, (cursor) =>
  withQuery('/events', { limit: 50, type: $('type-filter').value.trim(), cursor }));

async function load(more = false) {
  try {
    await loadPage(more);
  } catch (err) {
    fail(err);
  }
}

function attemptItem(attempt) {
  const ok = attempt.status_code >= 200 && attempt.status_code < 300;
  const outcome = attempt.status_code ? `HTTP ${attempt.status_code}` : 'no answer';
  return h('li', { class: ok ? 'ok' : 'bad' },
    h('p', {},
      h('strong', { text: `Attempt ${attempt.attempt}` }), ' ',
      h('time', { datetime: attempt.started_at, text: formatTime(attempt.started_at) }),
      `: ${outcome} in ${attempt.duration_ms} ms`),
    attempt.error ? h('p', { class: 'error-text', text: `Error: ${attempt.error}` }) : null,
    attempt.response_body
      ? h('details', {}, h('summary', { text: 'Response body' }),
        h('pre', { class: 'code', text: attempt.response_body }))
      : null);
}

async function deliveryBlock(summary) {
  const delivery = await api(`/deliveries/${encodeURIComponent(summary.id)}`);
  const attempts = delivery.attempts ?? [];
  return h('article', { class: 'delivery', 'data-id': delivery.id, 'data-status': delivery.status },
    h('h4', {}, 'Delivery ', h('code', { text: delivery.id })),
    h('dl', { class: 'facts' },
      h('dt', { text: 'Webhook' }), h('dd', {}, h('code', { text: delivery.webhook_id })),
      h('dt', { text: 'Status' }), h('dd', { class: `delivery-status ${delivery.status}`, text: delivery.status }),
      h('dt', { text: 'Attempts' }), h('dd', { text: String(delivery.attempt_count) }),
      delivery.next_attempt_at ? [h('dt', { text: 'Next attempt' }),
        h('dd', { text: formatTime(delivery.next_attempt_at) })] : null),
    attempts.length
      ? h('ol', { class: 'timeline', 'aria-label': `Attempts of ${delivery.id}` }, attempts.map(attemptItem))
      : h('p', { text: 'No attempt yet.' }));
}

async function showDeliveries() {
  const list = await api(`/events/${encodeURIComponent(current)}/deliveries`);
  const blocks = await Promise.all(list.items.map(deliveryBlock));
  $('deliveries').replaceChildren(...blocks);
  $('no-deliveries').hidden = blocks.length > 0;
}

async function openEvent(id) {
  try {
    const event = await api(`/events/${encodeURIComponent(id)}`);
    current = event.id;
    $('detail-id').textContent = event.id;
    $('detail-type').textContent = event.type;
    $('detail-time').textContent = formatTime(event.timestamp);
    $('detail-payload').textContent = pretty(event.payload);
    await showDeliveries();
    $('detail').hidden = false;
    $('detail').focus();
    announce(`Showing event ${event.id}.`);
  } catch (err) {
    fail(err);
  }
}

async function loadTypes() {
  const types = await listAll('/event-types');
  $('known-types').replaceChildren(...types.map((t) => h('option', { value: t.name })));
}

$('filter').addEventListener('submit', (event) => {
  event.preventDefault();
  load();
});
$('more').addEventListener('click', () => load(true));
$('detail-refresh').addEventListener('click', () => showDeliveries().catch(fail));

startPage().then(async () => {
  await Promise.all([load(), loadTypes()]);
  const wanted = new URLSearchParams(location.search).get('event');
  if (wanted) await openEvent(wanted);
}).catch(fail);
