// Webhooks page: list, create, edit, enable/disable, delete, rotate the secret, send a test
// event and show the receiver's answer.
import {
  announce, api, fail, h, listAll, poll, pagedTable, startPage, withQuery,
} from '/portal/js/api.js';

const $ = (id) => document.getElementById(id);
const tbody = document.querySelector('#webhooks tbody');
const form = $('webhook-form');
let editing = null; // the webhook being edited, or null when the form creates one

/// After a re-render, puts focus back on the same action of the same webhook (or on the
/// list's heading when that row is gone), so keyboard users keep their place.
function refocus(id, text) {
  const buttons = tbody.querySelectorAll(`tr[data-id="${CSS.escape(id)}"] button`);
  ([...buttons].find((button) => button.textContent === text) ?? $('list-title')).focus();
}

function typesCell(types) {
  return types.length ? types.join(', ') : 'all types';
}

function row(hook) {
  const label = hook.description || hook.url;
  const action = (text, handler) => h('button', {
    type: 'button', text, 'aria-label': `${text}: ${label}`, on: { click: () => handler(hook) },
  });
  return h('tr', { 'data-id': hook.id },
    h('td', {}, h('code', { text: hook.url })),
    h('td', { text: hook.description ?? '' }),
    h('td', { text: typesCell(hook.event_types) }),
    h('td', { class: hook.enabled ? 'ok' : 'bad' },
      hook.enabled ? 'Enabled' : 'Disabled',
      hook.disabled_reason ? h('small', { text: ` (${hook.disabled_reason})` }) : null),
    h('td', { class: 'actions' },
      action('Edit', startEdit),
      action(hook.enabled ? 'Disable' : 'Enable', toggle),
      action('Send test event', openTest),
      action('Rotate secret', rotate),
      action('Delete', remove)));
}

const loadPage = pagedTable(tbody, row, (cursor) => withQuery('/webhooks', { limit: 50, cursor }));

async function load(more = false) {
  try {
    await loadPage(more);
  } catch (err) {
    fail(err);
  }
}

async function loadTypes() {
  const types = await listAll('/event-types');
  const box = $('types');
  $('types-empty').hidden = types.length > 0;
  for (const type of types) {
    const id = `type-${type.name}`;
    box.append(h('div', { class: 'check' },
      h('input', { type: 'checkbox', id, name: 'event_types', value: type.name }),
      h('label', { for: id, text: type.name })));
    $('test-type').append(h('option', { value: type.name, text: type.name }));
  }
}

function checkedTypes() {
  return [...form.querySelectorAll('input[name=event_types]:checked')].map((box) => box.value);
}

function showSecret(hook, secret, note) {
  $('secret-webhook').textContent = hook.url;
  $('secret-value').textContent = secret;
  $('secret-note').textContent = note ?? '';
  $('secret-panel').hidden = false;
  $('secret-panel').focus();
}

function resetForm() {
  editing = null;
  form.reset();
  $('form-title').textContent = 'Create a webhook';
  $('submit').textContent = 'Create webhook';
  $('cancel-edit').hidden = true;
}

function startEdit(hook) {
  editing = hook;
  $('url').value = hook.url;
  $('description').value = hook.description ?? '';
  for (const box of form.querySelectorAll('input[name=event_types]')) {
    box.checked = hook.event_types.includes(box.value);
  }
  $('form-title').textContent = `Edit webhook ${hook.id}`;
  $('submit').textContent = 'Save changes';
  $('cancel-edit').hidden = false;
  $('url').focus();
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const body = { url: $('url').value.trim(), event_types: checkedTypes() };
  const description = $('description').value.trim();
  if (description || editing) body.description = description;
  try {
    const edited = editing?.id;
    if (edited) {
      await api(`/webhooks/${encodeURIComponent(edited)}`, { method: 'PATCH', body });
      announce(`Saved webhook ${body.url}.`, 'ok');
    } else {
      const hook = await api('/webhooks', { method: 'POST', body });
      announce(`Created webhook ${hook.url}.`, 'ok');
      showSecret(hook, hook.secret);
    }
    resetForm();
    await load();
    if (edited) refocus(edited, 'Edit');
  } catch (err) {
    fail(err);
  }
});

async function toggle(hook) {
  try {
    await api(`/webhooks/${encodeURIComponent(hook.id)}`, { method: 'PATCH', body: { enabled: !hook.enabled } });
    announce(`${hook.enabled ? 'Disabled' : 'Enabled'} webhook ${hook.url}.`, 'ok');
    await load();
    refocus(hook.id, hook.enabled ? 'Enable' : 'Disable');
  } catch (err) {
    fail(err);
  }
}

async function remove(hook) {
  if (!window.confirm(`Delete the webhook ${hook.url}? Its pending deliveries stop.`)) return;
  try {
    await api(`/webhooks/${encodeURIComponent(hook.id)}`, { method: 'DELETE' });
    announce(`Deleted webhook ${hook.url}.`, 'ok');
    await load();
    refocus(hook.id, 'Delete');
  } catch (err) {
    fail(err);
  }
}

async function rotate(hook) {
  if (!window.confirm(`Rotate the signing secret of ${hook.url}?`)) return;
  try {
    const out = await api(`/webhooks/${encodeURIComponent(hook.id)}/secret/rotate`, { method: 'POST', body: {} });
    const until = out.previous_expire_at
      ? `The previous secret keeps signing beside it until ${new Date(out.previous_expire_at).toLocaleString()}.`
      : '';
    announce(`Rotated the secret of ${hook.url}.`, 'ok');
    showSecret(hook, out.secret, until);
  } catch (err) {
    fail(err);
  }
}

let testing = null;

function openTest(hook) {
  testing = hook;
  $('test-webhook').textContent = hook.url;
  $('test-result').hidden = true;
  $('test-panel').hidden = false;
  $('test-panel').focus();
}

function showAttempt(deliveryId, attempt) {
  $('test-delivery').textContent = deliveryId;
  $('test-status').textContent = attempt?.status_code ?? 'none';
  $('test-duration').textContent = attempt ? `${attempt.duration_ms} ms` : '';
  $('test-error').textContent = attempt?.error ?? 'none';
  $('test-body').textContent = attempt?.response_body ?? '';
  $('test-result').hidden = false;
}

$('test-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const body = {};
  if ($('test-type').value) body.event_type = $('test-type').value;
  const payload = $('test-payload').value.trim();
  if (payload) {
    try {
      body.payload = JSON.parse(payload);
    } catch (err) {
      fail(`The payload is not valid JSON: ${err.message}`);
      return;
    }
  }
  try {
    const sent = await api(`/webhooks/${encodeURIComponent(testing.id)}/test`, { method: 'POST', body });
    announce(`Sent ${sent.event_type} event ${sent.event_id}; waiting for the receiver…`);
    const path = `/deliveries/${encodeURIComponent(sent.delivery_id)}`;
    const delivery = await poll(async () => {
      const d = await api(path);
      return d.attempts?.length ? d : null;
    });
    if (!delivery) {
      announce('No attempt within 20 seconds; see the event log for later attempts.', 'error');
      return;
    }
    const attempt = delivery.attempts[delivery.attempts.length - 1];
    showAttempt(sent.delivery_id, attempt);
    const ok = attempt.status_code >= 200 && attempt.status_code < 300;
    announce(`The receiver answered ${attempt.status_code ?? attempt.error}.`, ok ? 'ok' : 'error');
  } catch (err) {
    fail(err);
  }
});

$('test-close').addEventListener('click', () => { $('test-panel').hidden = true; });
$('secret-hide').addEventListener('click', () => {
  $('secret-value').textContent = '';
  $('secret-panel').hidden = true;
});
$('cancel-edit').addEventListener('click', resetForm);
$('refresh').addEventListener('click', () => load());
$('more').addEventListener('click', () => load(true));

startPage().then(() => Promise.all([load(), loadTypes()])).catch(fail);
