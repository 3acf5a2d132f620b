"""Verifies one captured Herald delivery with the Standard Webhooks library, as a receiver
would. Reads {"secrets": [...], "headers": {...}, "body": "..."} as JSON on stdin and prints
one line per check passed; exits non-zero on the first failure."""

import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

captured = json.load(sys.stdin)
body, headers = captured["body"], captured["headers"]


def refused(secret, body, headers):
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return True
    return False


for index, secret in enumerate(captured["secrets"]):
    payload = Webhook(secret).verify(body, headers)
    assert payload["type"] == "order.created", payload
    print(f"verified with secret {index}")

newest = captured["secrets"][0]
if not refused(newest, body + " ", headers):
    sys.exit("a changed body verified")
print("changed body refused")

stale = dict(headers, **{"webhook-timestamp": str(int(headers["webhook-timestamp"]) - 600)})
if not refused(newest, body, stale):
    sys.exit("a 10-minute-old timestamp verified")
print("stale timestamp refused")

if not refused("whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB", body, headers):
    sys.exit("another secret verified")
print("other secret refused")
