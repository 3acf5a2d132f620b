// What the browser tests need besides the browser: the stack's address and admin token (set
// by scripts/e2e.sh), plain API calls for setup and for checking what the pages did, and
// `eventually`, the one way these tests wait.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';

export const API = process.env.HERALD_E2E_API ?? assert.fail('HERALD_E2E_API is not set (run scripts/e2e.sh)');
const ADMIN = process.env.HERALD_E2E_ADMIN_TOKEN ?? assert.fail('HERALD_E2E_ADMIN_TOKEN is not set');

/// Calls the API with `token`; resolves to {status, body}.
export async function call(token, method, path, body) {
  const res = await fetch(`${API}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/// Like `call`, but fails the test unless the answer is `expected`.
export async function must(token, method, path, body, expected) {
  const out = await call(token, method, path, body);
  assert.equal(out.status, expected, `${method} ${path}: ${JSON.stringify(out.body)}`);
  return out.body;
}

export const admin = (method, path, body, expected) => must(ADMIN, method, path, body, expected);

/// Retries `check` (which throws while its condition does not hold) until it passes or
/// `timeoutMs` passes; then the last failure is the test's.
export async function eventually(check, { timeoutMs = 20000, everyMs = 200 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/// Whether `headers` carry a Standard Webhooks signature made with `secret` (`whsec_...`).
export function signedWith(request, secret) {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const id = request.headers['webhook-id'];
  const timestamp = request.headers['webhook-timestamp'];
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${request.body}`).digest('base64');
  return (request.headers['webhook-signature'] ?? '').split(' ').includes(`v1,${expected}`);
}
