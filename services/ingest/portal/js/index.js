// Sign-in page: checks the key with GET /tenant before keeping it.
import { api, announce, fail, getKey, setKey, signOut, takeNotice } from '/portal/js/api.js';

const form = document.getElementById('sign-in-form');
const input = document.getElementById('api-key');

function showSignedIn(tenant) {
  document.getElementById('sign-in').hidden = true;
  document.getElementById('signed-in').hidden = false;
  document.getElementById('signed-in-name').textContent = tenant.name;
  document.getElementById('signed-in-id').textContent = tenant.id;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const key = input.value.trim();
  if (!key) return;
  announce('Checking the key…');
  try {
    await api('/tenant', { key });
    setKey(key);
    input.value = '';
    location.assign('/portal/webhooks.html');
  } catch (err) {
    fail(err);
    input.focus();
  }
});

document.getElementById('sign-out-home').addEventListener('click', () => signOut('Signed out.'));

const notice = takeNotice();
if (notice) announce(notice);
if (getKey()) {
  api('/tenant').then(showSignedIn, fail);
} else {
  input.focus();
}
