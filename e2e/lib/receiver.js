// A real webhook receiver on 127.0.0.1: records every request and answers `status`
// (switchable between 200 and 400 by the test) with a body naming the delivery.
import { createServer } from 'node:http';

export async function startReceiver() {
  const receiver = {
    status: 200,
    requests: [],
    url: null,
    /// Requests whose envelope is the event `eventId`.
    forEvent(eventId) {
      return this.requests.filter((r) => r.json?.id === eventId);
    },
    close() {
      // Herald's client keeps connections alive; do not wait for it to let go.
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      return closed;
    },
  };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json = null;
      try {
        json = JSON.parse(body);
      } catch {
        json = null;
      }
      const status = receiver.status;
      receiver.requests.push({ method: req.method, path: req.url, headers: req.headers, body, json, status });
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ received: req.headers['webhook-id'] ?? null, answered: status }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${server.address().port}/hooks/herald`;
  return receiver;
}
