#!/usr/bin/env python3
"""Stores, for every status-callback event in EVENTS (JSON lines from make_status_event.py), the
outbound message it reports on as smsflow's send worker leaves it once Twilio accepted it
(status `sent`, its SID attached): the message in its conversation's partition and its SID
pointer, in smsflow's item format (shared/src/adapters/aws/dynamodb/messages.rs: message_item,
sid_pointer_item), in each TABLE.  seed_status.py EVENTS TABLE... [--contact-id ID]"""
import argparse, json, time, urllib.parse
import boto3

ap = argparse.ArgumentParser()
ap.add_argument("events"); ap.add_argument("tables", nargs="+")
ap.add_argument("--contact-id", default="1", help="the CRM contact the send was for ('' for none: no goal job)")
a = ap.parse_args()
d = boto3.client("dynamodb")
now = int(time.time() * 1000) - 60_000  # sent a minute ago
items = []
for line in open(a.events):
    ev = json.loads(line)
    q = dict(urllib.parse.parse_qsl(ev["rawQueryString"]))
    p = dict(urllib.parse.parse_qsl(ev["body"]))
    account, mid, sid, contact, ours = q["account"], q["message"], p["MessageSid"], p["To"], p["From"]
    conv, sk = f"CONV#{account}#{contact}", f"MSG#{mid}"
    # MessageRecord's serde form, field order as declared; status, SID, error code, updated_at
    # are also attributes of their own (what conditional updates change), laid over `data`.
    data = {"id": mid, "account": account, "contact_phone": contact, "our_sender": ours, "direction": "outbound",
            "body": "Your roof inspection is booked for Tuesday 9am.", "media_urls": [], "status": "sent",
            "provider_sid": sid, "error_code": None, "user_id": None, "campaign": None,
            "contact_id": a.contact_id or None, "created_at": now, "updated_at": now, "routing": None}
    items.append({"pk": {"S": conv}, "sk": {"S": sk}, "data": {"S": json.dumps(data, separators=(",", ":"))},
                  "status": {"S": "sent"}, "status_rank": {"N": "3"}, "updated_at": {"N": str(now)}, "provider_sid": {"S": sid}})
    items.append({"pk": {"S": f"SID#{sid}"}, "sk": {"S": "SID"}, "msg_pk": {"S": conv}, "msg_sk": {"S": sk}})
for table in a.tables:
    for i in range(0, len(items), 25):
        d.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": it}} for it in items[i:i + 25]]})
