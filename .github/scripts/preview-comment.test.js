// Offline test of preview-comment.js with a stand-in GitHub client: the first run creates the
// comment, later runs update the same one, and a user's comment quoting the marker is left alone.
const assert = require('node:assert/strict');
const comment = require('./preview-comment.js');

function client(existing) {
  const calls = [];
  return {
    calls,
    paginate: async () => existing,
    rest: {
      issues: {
        listComments: () => {},
        createComment: async (args) => calls.push(['create', args]),
        updateComment: async (args) => calls.push(['update', args]),
      },
    },
  };
}

const context = {
  repo: { owner: 'herald-dev', repo: 'herald' },
  payload: { pull_request: { number: 7 } },
  serverUrl: 'https://github.com',
  runId: 42,
};
Object.assign(process.env, {
  HOST: 'pr-7.preview.herald.dev', NAMESPACE: 'herald-pr-7', IMAGE: 'ghcr.io/herald-dev/herald:abc',
});

(async () => {
  const fresh = client([]);
  await comment({ github: fresh, context, outcome: 'success' });
  assert.equal(fresh.calls.length, 1);
  assert.equal(fresh.calls[0][0], 'create');
  assert.equal(fresh.calls[0][1].issue_number, 7);
  assert.match(fresh.calls[0][1].body, /https:\/\/pr-7\.preview\.herald\.dev/);

  const marker = '<!-- herald-preview -->';
  const later = client([
    { id: 5, user: { type: 'User' }, body: `quoting ${marker}` },
    { id: 9, user: { type: 'Bot' }, body: `${marker}\nold` },
  ]);
  await comment({ github: later, context, outcome: 'failure' });
  assert.deepEqual(later.calls.map(([kind, args]) => [kind, args.comment_id]), [['update', 9]]);
  assert.match(later.calls[0][1].body, /actions\/runs\/42/);

  const closed = client([{ id: 9, user: { type: 'Bot' }, body: `${marker}\nold` }]);
  await comment({ github: closed, context, outcome: 'deleted' });
  assert.match(closed.calls[0][1].body, /deleted/);
  console.log('preview-comment.js tests passed');
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
