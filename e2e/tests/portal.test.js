// The tenant portal in a real browser against a real stack (scripts/e2e.sh starts it):
// sign in, manage a webhook, a test event to a real receiver, a dead letter retried from the
// page, and every page showing real data. Each page is saved to docs/portal/<page>.png.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { API, admin, call, eventually, must, signedWith } from '../lib/herald.js';
import { openBrowser, screenshot } from '../lib/browser.js';
import { startReceiver } from '../lib/receiver.js';

const ORDER_SCHEMA = {
  type: 'object',
  required: ['order_id'],
  properties: { order_id: { type: 'string' }, amount: { type: 'integer' } },
  examples: [{ order_id: 'ord_1042', amount: 4999 }],
};
const INVOICE_SCHEMA = {
  type: 'object',
  properties: {
    invoice_id: { type: 'string' },
    paid_at: { type: 'string', format: 'date-time' },
    total: { type: 'number' },
    settled: { type: 'boolean' },
    lines: { type: 'array', items: { type: 'object', properties: { sku: { type: 'string' } } } },
  },
};

describe('tenant portal', { timeout: 300000 }, () => {
  let key;
  let tenant;
  let receiver;
  let browser;
  let page;
  let seen;
  let webhook; // {id, label, secret}
  const tenantApi = (method, path, body, expected) => must(key, method, path, body, expected);
  const portal = (file = '') => `${API}/portal/${file}`;
  const button = (name) => page.getByRole('button', { name, exact: true });
  const status = () => page.locator('#status');

  // Emits an event through the API and waits until the receiver answered it with 400 and
  // it is dead-lettered; answers the event id.
  async function deadLetter(orderId) {
    receiver.status = 400;
    const event = await tenantApi('POST', '/events', { type: 'order.created', payload: { order_id: orderId } }, 201);
    await eventually(async () => {
      const dlq = await tenantApi('GET', `/dlq?webhook_id=${webhook.id}&limit=250`, undefined, 200);
      assert.ok(dlq.items.some((item) => item.event.id === event.id), `${event.id} not dead-lettered yet`);
    });
    return event.id;
  }

  async function everyInputLabelled() {
    const unlabelled = await page.$$eval('input, select, textarea', (els) => els
      .filter((el) => el.type !== 'hidden' && el.labels.length === 0 && !el.getAttribute('aria-label'))
      .map((el) => el.outerHTML));
    assert.deepEqual(unlabelled, [], 'every input has a label');
  }

  before(async () => {
    const created = await admin('POST', '/admin/tenants', { name: `portal-e2e-${Date.now()}` }, 201);
    key = created.api_key;
    tenant = created;
    await admin('PUT', `/admin/tenants/${tenant.id}/quotas`, { max_webhooks: 7, max_dlq_size: 500 }, 200);
    await tenantApi('POST', '/event-types', { name: 'order.created', description: 'An order was placed', schema: ORDER_SCHEMA }, 201);
    await tenantApi('POST', '/event-types', { name: 'invoice.paid', description: 'An invoice was paid', schema: INVOICE_SCHEMA }, 201);
    receiver = await startReceiver();
    ({ browser, page, seen } = await openBrowser());
    page.on('dialog', (dialog) => {
      seen.dialogs.push(dialog.message());
      dialog.accept();
    });
  });

  after(async () => {
    const started = Date.now();
    await browser?.close();
    const browserClosed = Date.now();
    await receiver?.close();
    console.log(`# teardown: browser ${browserClosed - started} ms, receiver ${Date.now() - browserClosed} ms`);
  });

  it('serves the portal with its Content-Security-Policy', async () => {
    const res = await fetch(portal());
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/html/);
    const csp = res.headers.get('content-security-policy');
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'/);
    const html = await res.text();
    assert.doesNotMatch(html, /<script>|style=|\son[a-z]+=/i, 'no inline script, style or handler');
  });

  it('refuses a wrong key and signs in with the right one', async () => {
    await page.goto(portal());
    await everyInputLabelled();
    await screenshot(page, 'sign-in');
    // Unnamed, so that even without the script a form submission cannot carry it.
    assert.equal(await page.getByLabel('API key').getAttribute('name'), null);
    await page.getByLabel('API key').fill('hk_not_a_key');
    await button('Sign in').click();
    const refused = await call('hk_not_a_key', 'GET', '/tenant');
    assert.equal(refused.status, 401);
    await status().filter({ hasText: refused.body.message }).waitFor();
    assert.equal(await status().getAttribute('data-kind'), 'error');
    assert.match(page.url(), /\/portal\/$/);

    await page.getByLabel('API key').fill(key);
    await button('Sign in').click();
    await page.waitForURL(/\/portal\/webhooks\.html$/);
    await page.locator('#tenant-name', { hasText: tenant.name }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('herald.portal.key')), key);
  });

  it('creates a webhook with the event-type picker and shows its secret once', async () => {
    await page.getByLabel('order.created').waitFor();
    await everyInputLabelled();
    await page.getByLabel('Endpoint URL').fill(receiver.url);
    await page.getByLabel('Description').fill('e2e receiver');
    await page.getByLabel('order.created').check();
    await button('Create webhook').click();
    await page.locator('#secret-value', { hasText: 'whsec_' }).waitFor();
    const secret = (await page.locator('#secret-value').textContent()).trim();
    assert.match(secret, /^whsec_/);
    const row = page.locator('#webhooks tbody tr', { hasText: receiver.url });
    await row.waitFor();
    const id = await row.getAttribute('data-id');
    const stored = await tenantApi('GET', `/webhooks/${id}`, undefined, 200);
    assert.equal(stored.url, receiver.url);
    assert.deepEqual(stored.event_types, ['order.created']);
    webhook = { id, label: 'e2e receiver', secret };
    await button('I have stored it').click();
    assert.equal(await page.locator('#secret-value').textContent(), '');
  });

  it('sends a test event and shows the receiver\'s answer', async () => {
    await button(`Send test event: ${webhook.label}`).click();
    await everyInputLabelled();
    await button('Send test event').click();
    await page.locator('#test-status', { hasText: '200' }).waitFor({ timeout: 25000 });
    const deliveryId = (await page.locator('#test-delivery').textContent()).trim();
    const body = JSON.parse(await page.locator('#test-body').textContent());
    assert.deepEqual(body, { received: deliveryId, answered: 200 });
    assert.match(await page.locator('#test-duration').textContent(), /^\d+ ms$/);

    const got = receiver.requests.filter((r) => r.headers['webhook-id'] === deliveryId);
    assert.equal(got.length, 1, 'the receiver got the test event once');
    assert.equal(got[0].headers['x-webhook-event-type'], 'webhook.test');
    assert.ok(signedWith(got[0], webhook.secret), 'signed with the secret the page showed');
    await screenshot(page, 'webhooks');
  });

  it('rotates the secret and shows the new one', async () => {
    await button(`Rotate secret: ${webhook.label}`).click();
    await page.locator('#secret-value', { hasText: 'whsec_' }).waitFor();
    const secret = (await page.locator('#secret-value').textContent()).trim();
    assert.match(secret, /^whsec_/);
    assert.notEqual(secret, webhook.secret);
    assert.match(seen.dialogs.at(-1), /^Rotate the signing secret/);
    webhook.secret = secret;
    await button('I have stored it').click();
  });

  it('disables, enables and edits the webhook', async () => {
    const row = page.locator(`#webhooks tr[data-id="${webhook.id}"]`);
    // By keyboard: Enter on the button, and focus stays on the same action of the row.
    await button(`Disable: ${webhook.label}`).focus();
    await page.keyboard.press('Enter');
    await row.getByText('Disabled').waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), `Enable: ${webhook.label}`);
    assert.equal((await tenantApi('GET', `/webhooks/${webhook.id}`, undefined, 200)).enabled, false);
    await button(`Enable: ${webhook.label}`).click();
    await row.getByText('Enabled').waitFor();
    assert.equal((await tenantApi('GET', `/webhooks/${webhook.id}`, undefined, 200)).enabled, true);

    await button(`Edit: ${webhook.label}`).click();
    assert.equal(await page.getByLabel('Endpoint URL').inputValue(), receiver.url);
    assert.equal(await page.getByLabel('order.created').isChecked(), true);
    await page.getByLabel('Description').fill('e2e receiver (edited)');
    await page.getByLabel('invoice.paid').check();
    await button('Save changes').click();
    await row.getByText('e2e receiver (edited)').waitFor();
    webhook.label = 'e2e receiver (edited)';
    const stored = await tenantApi('GET', `/webhooks/${webhook.id}`, undefined, 200);
    assert.equal(stored.description, 'e2e receiver (edited)');
    assert.deepEqual([...stored.event_types].sort(), ['invoice.paid', 'order.created']);
  });

  it('shows API text as text, and deletes a webhook after confirmation', async () => {
    const url = `${receiver.url}/spare`;
    const description = '<em>spare</em><img src="x" alt="injected">';
    await page.getByLabel('Endpoint URL').fill(url);
    await page.getByLabel('Description').fill(description);
    await button('Create webhook').click();
    await button('I have stored it').click();
    const row = page.locator('#webhooks tbody tr', { hasText: url });
    const id = await row.getAttribute('data-id');
    assert.equal(await row.locator('td').nth(1).textContent(), description);
    assert.equal(await page.locator('#webhooks em, #webhooks img').count(), 0, 'no markup from API data');
    await button(`Delete: ${description}`).click();
    await row.waitFor({ state: 'detached' });
    assert.match(seen.dialogs.at(-1), /^Delete the webhook/);
    assert.equal((await call(key, 'GET', `/webhooks/${id}`)).status, 404);
  });

  it('lists a dead letter and retries it from the page', async () => {
    const eventId = await deadLetter('ord_dlq_1');
    assert.equal(receiver.forEvent(eventId).length, 1, 'a 400 is not retried');
    await page.getByRole('link', { name: 'Dead letters' }).click();
    await page.waitForURL(/dlq\.html$/);
    const row = page.locator(`#dead-letters tr[data-event="${eventId}"]`);
    await row.waitFor();
    await everyInputLabelled();
    assert.match(await row.textContent(), /HTTP 400/);
    await screenshot(page, 'dlq');

    receiver.status = 200;
    await button(`Retry the delivery of event ${eventId}`).click();
    await eventually(() => {
      const got = receiver.forEvent(eventId);
      assert.equal(got.length, 2, 'the retry reached the receiver');
      assert.equal(got[1].status, 200);
      assert.ok(signedWith(got[1], webhook.secret), 'signed with the rotated secret');
    });
    await row.waitFor({ state: 'detached' });

    await page.goto(portal(`events.html?event=${eventId}`));
    const delivery = page.locator('#deliveries .delivery');
    await eventually(async () => {
      await button('Refresh deliveries').click();
      assert.equal(await delivery.getAttribute('data-status', { timeout: 2000 }), 'success');
    });
    const attempts = delivery.locator('.timeline li');
    assert.equal(await attempts.count(), 2);
    assert.match(await attempts.nth(0).textContent(), /Attempt 1.*HTTP 400/);
    assert.match(await attempts.nth(1).textContent(), /HTTP 200/);
    await screenshot(page, 'events');
  });

  it('retries a selection of dead letters', async () => {
    const first = await deadLetter('ord_sel_1');
    const second = await deadLetter('ord_sel_2');
    await page.goto(portal('dlq.html'));
    for (const id of [first, second]) {
      await page.getByLabel(`Select the dead letter of event ${id}`).check();
    }
    receiver.status = 200;
    await button('Retry selected').click();
    await status().filter({ hasText: 'Retrying 2 dead letters.' }).waitFor();
    await eventually(() => {
      for (const id of [first, second]) assert.equal(receiver.forEvent(id).at(-1)?.status, 200, id);
    });
  });

  it('redrives a time range of one webhook', async () => {
    const eventId = await deadLetter('ord_bulk_1');
    await page.goto(portal('dlq.html'));
    await page.locator(`#dead-letters tr[data-event="${eventId}"]`).waitFor();
    receiver.status = 200;
    await page.locator('#bulk-webhook option', { hasText: webhook.label }).waitFor({ state: 'attached' });
    await page.locator('#bulk-webhook').selectOption(webhook.id);
    await page.getByLabel('Retries per second (optional)').fill('20');
    await button('Redrive').click();
    await status().filter({ hasText: /Redriving 1 dead letter/ }).waitFor();
    await eventually(() => assert.equal(receiver.forEvent(eventId).at(-1)?.status, 200));
  });

  it('filters the event log by type and shows an event\'s timeline', async () => {
    await page.goto(portal('events.html'));
    await everyInputLabelled();
    await page.locator('#events tbody tr').first().waitFor();
    await page.getByLabel('Event type').fill('webhook.test');
    await button('Show').click();
    await eventually(async () => {
      const types = await page.locator('#events tbody tr td:nth-child(2)').allTextContents();
      assert.deepEqual(types, ['webhook.test']);
    });
    await page.getByLabel('Event type').fill('order.created');
    await button('Show').click();
    await eventually(async () => {
      const types = await page.locator('#events tbody tr td:nth-child(2)').allTextContents();
      assert.equal(types.length, 4);
      assert.ok(types.every((t) => t === 'order.created'), types.join());
    });
    const newest = await page.locator('#events tbody tr').first().getAttribute('data-id');
    await button(`Deliveries of ${newest}`).click();
    await page.locator('#detail-id', { hasText: newest }).waitFor();
    assert.deepEqual(JSON.parse(await page.locator('#detail-payload').textContent()), { order_id: 'ord_bulk_1' });
    await page.locator('#deliveries .timeline li').first().waitFor();
  });

  it('shows the event-type catalog with schemas and example payloads', async () => {
    await page.getByRole('link', { name: 'Event types' }).click();
    const order = page.locator('article[data-name="order.created"]');
    await order.waitFor();
    assert.deepEqual(JSON.parse(await order.locator('pre.schema').textContent()), ORDER_SCHEMA);
    assert.deepEqual(JSON.parse(await order.locator('pre.example').textContent()), ORDER_SCHEMA.examples[0]);
    const invoice = page.locator('article[data-name="invoice.paid"]');
    assert.deepEqual(JSON.parse(await invoice.locator('pre.example').textContent()), {
      invoice_id: 'string',
      paid_at: '1970-01-01T00:00:00.000Z',
      total: 0,
      settled: false,
      lines: [{ sku: 'string' }],
    });
    assert.match(await invoice.textContent(), /An invoice was paid/);
    await screenshot(page, 'event-types');
  });

  it('shows the tenant\'s quotas and usage', async () => {
    await page.getByRole('link', { name: 'Quotas and usage' }).click();
    await page.locator('#t-id', { hasText: tenant.id }).waitFor();
    assert.equal(await page.locator('#t-name').textContent(), tenant.name);
    const webhooks = page.locator('tr[data-quota="max_webhooks"] td');
    await webhooks.first().waitFor();
    assert.deepEqual(await webhooks.allTextContents().then((cells) => cells.slice(0, 2)), ['7', '1']);
    assert.match(await page.locator('tr[data-quota="max_dlq_size"] td').first().textContent(), /^500$/);
    await screenshot(page, 'quotas');
  });

  it('is keyboard usable: the first Tab reaches the skip link, which moves focus to main', async () => {
    await page.goto(portal('webhooks.html'));
    await page.locator('#webhooks tbody tr').first().waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to main content');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
  });

  it('signs out: the key is forgotten and pages send back to sign-in', async () => {
    await button('Sign out').click();
    await page.waitForURL(/\/portal\/$/);
    await status().filter({ hasText: 'Signed out.' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('herald.portal.key')), null);
    await page.goto(portal('dlq.html'));
    await page.waitForURL(/\/portal\/$/);
    await page.getByLabel('API key').waitFor();
  });

  it('never put the key in a URL, sent it as a bearer token, and broke no CSP rule', async () => {
    const keyInUrl = seen.requests.filter((r) => r.url.includes(key) || decodeURIComponent(r.url).includes(key));
    assert.deepEqual(keyInUrl, []);
    const apiCalls = seen.requests.filter((r) => /\/(webhooks|events|dlq|tenant|quotas|event-types|deliveries)\b/.test(new URL(r.url).pathname)
      && !new URL(r.url).pathname.startsWith('/portal/'));
    assert.ok(apiCalls.length > 10);
    assert.ok(apiCalls.every((r) => r.headers.authorization?.startsWith('Bearer ')));
    assert.deepEqual(seen.cspViolations, []);
    assert.deepEqual(seen.errors, []);
  });
});
