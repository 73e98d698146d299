#!/usr/bin/env python3
"""Writes API Gateway HTTP API (v2) events carrying signed Twilio status callbacks for outbound
messages, as the send worker asks for them: POST /twilio/status?account=ID&message=OUR_ID
(the query string is part of the URL Twilio signs).
make_status_event.py OUT --token T --base https://host --account acme --to +1(contact) --from +1(our number)
                     [--status delivered] [--sid SM... --message-id ID | --n N --tag HEX]
One event (OUT is its JSON), or with --n, N events as JSON lines, event i with SID
SM<tag><i, zero-padded> and message id <tag><i> (26 characters, hex: valid ULID characters)."""
import argparse, json, sys, os, urllib.parse
sys.path.insert(0, os.path.dirname(__file__))
from twilio_sign import sign

def event(a, sid, message_id):
    path = "/twilio/status"
    query = urllib.parse.urlencode({"account": a.account, "message": message_id})
    params = {"SmsSid": sid, "SmsStatus": a.status, "MessageStatus": a.status, "To": a.to, "MessageSid": sid,
              "AccountSid": "AC" + "1" * 32, "From": a.frm, "ApiVersion": "2010-04-01"}
    body = urllib.parse.urlencode(params)
    sig = sign(a.token, a.base + path + "?" + query, params)
    host = urllib.parse.urlparse(a.base).netloc
    return {"version": "2.0", "routeKey": "POST " + path, "rawPath": path, "rawQueryString": query,
            "queryStringParameters": {"account": a.account, "message": message_id},
            "headers": {"content-type": "application/x-www-form-urlencoded", "host": host, "x-twilio-signature": sig,
                        "user-agent": "TwilioProxy/1.1", "i-twilio-idempotency-token": "00000000-0000-0000-0000-000000000000"},
            "requestContext": {"accountId": "123456789012", "apiId": "api", "domainName": host, "domainPrefix": host.split(".")[0],
                               "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "54.172.60.0", "userAgent": "TwilioProxy/1.1"},
                               "requestId": "req-1", "routeKey": "POST " + path, "stage": "$default", "time": "22/Nov/2026:19:00:00 +0000", "timeEpoch": 1795374000000},
            "body": body, "isBase64Encoded": False}

ap = argparse.ArgumentParser()
ap.add_argument("out"); ap.add_argument("--token", required=True); ap.add_argument("--base", required=True)
ap.add_argument("--account", required=True); ap.add_argument("--to", required=True); ap.add_argument("--from", dest="frm", required=True)
ap.add_argument("--status", default="delivered")
ap.add_argument("--sid", default="SM" + "0" * 32); ap.add_argument("--message-id", default="0" * 26)
ap.add_argument("--n", type=int); ap.add_argument("--tag", default="a")
a = ap.parse_args()
with open(a.out, "w") as f:
    if a.n is None:
        json.dump(event(a, a.sid, a.message_id), f)
    else:
        for i in range(1, a.n + 1):
            f.write(json.dumps(event(a, "SM%s%0*x" % (a.tag, 32 - len(a.tag), i), "%s%0*X" % (a.tag.upper(), 26 - len(a.tag), i))) + "\n")
