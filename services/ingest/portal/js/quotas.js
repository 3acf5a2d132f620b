// Quotas and usage: GET /tenant for the id, then GET /quotas/{id}.
import { announce, api, fail, formatTime, h, startPage } from '/portal/js/api.js';

const $ = (id) => document.getElementById(id);

// [limit field, usage field or null, label, unit]
const ROWS = [
  ['events_per_second', 'events_per_second', 'Events per second', '/s'],
  ['burst', null, 'Burst (events above the rate)', ''],
  ['max_concurrent_deliveries', 'in_flight', 'Concurrent deliveries', ''],
  ['max_dlq_size', 'dlq_size', 'Dead letters', ''],
  ['max_webhooks', 'webhooks', 'Webhooks', ''],
  ['max_payload_bytes', null, 'Payload size', ' bytes'],
];

const number = (value) => (typeof value === 'number' ? value.toLocaleString() : '');

function row([limitName, usageName, label, unit], limits, usage) {
  const limit = limits[limitName];
  const used = usageName && usage ? usage[usageName] ?? undefined : undefined;
  const share = used !== undefined && limit > 0 ? Math.min(used / limit, 1) : undefined;
  return h('tr', { 'data-quota': limitName },
    h('th', { scope: 'row', text: label }),
    h('td', { text: `${number(limit)}${unit}` }),
    h('td', { text: used === undefined ? 'n/a' : `${number(used)}${unit}` }),
    h('td', {}, share === undefined ? 'n/a' : [
      h('meter', { min: '0', max: '1', value: String(share), 'aria-label': `${label}: share used` }),
      ` ${Math.round(share * 100)}%`,
    ]));
}

async function load(tenant) {
  const report = await api(`/quotas/${encodeURIComponent(tenant.id)}`);
  document.querySelector('#quotas tbody').replaceChildren(...ROWS.map((r) => row(r, report.limits, report.usage)));
}

async function main() {
  const tenant = await startPage();
  $('t-name').textContent = tenant.name;
  $('t-id').textContent = tenant.id;
  $('t-created').textContent = formatTime(tenant.created_at);
  await load(tenant);
  $('refresh').addEventListener('click', () => load(tenant).then(() => announce('Refreshed.'), fail));
}

main().catch(fail);
