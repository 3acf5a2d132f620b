// Keeps one comment per pull request about its preview: found again by a hidden marker, so
// every push updates it instead of adding another. Called from preview.yml through
// actions/github-script, which passes the authenticated client and the event.
const MARKER = '<!-- herald-preview -->';

function message(outcome, { HOST, NAMESPACE, IMAGE }, runUrl) {
  switch (outcome) {
    case 'success':
      return `Preview is up at https://${HOST} (namespace \`${NAMESPACE}\`, image \`${IMAGE}\`).\n` +
        'It is deleted when this pull request closes.';
    case 'deleted':
      return `Preview deleted: namespace \`${NAMESPACE}\` is gone with this pull request.`;
    default:
      return `Preview of \`${IMAGE}\` did not come up (${outcome}): see ${runUrl}.\n` +
        `What was applied stays in namespace \`${NAMESPACE}\` to be looked at.`;
  }
}

module.exports = async ({ github, context, outcome }) => {
  const { owner, repo } = context.repo;
  const issue_number = context.payload.pull_request.number;
  const runUrl = `${context.serverUrl}/${owner}/${repo}/actions/runs/${context.runId}`;
  const body = `${MARKER}\n${message(outcome, process.env, runUrl)}`;
  const comments = await github.paginate(github.rest.issues.listComments, {
    owner, repo, issue_number, per_page: 100,
  });
  const ours = comments.find((c) => c.user?.type === 'Bot' && c.body?.includes(MARKER));
  if (ours) {
    await github.rest.issues.updateComment({ owner, repo, comment_id: ours.id, body });
  } else {
    await github.rest.issues.createComment({ owner, repo, issue_number, body });
  }
};
