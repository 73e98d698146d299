// The team inbox's script: local times, the reply box's live segment count, and alerts of
// texts routed to the signed-in user. Every page works without it but those three.
"use strict";

// Segments as domain/segments.rs counts them (Twilio's rules): GSM-7 when every character
// is in the table the page carries, else UCS-2; a long body is packed whole grapheme by
// whole grapheme into 153-septet (67-unit) parts.
function countSegments(text, basic, extension) {
  const chars = Array.from(text);
  const gsm = chars.every((c) => basic.has(c) || extension.has(c));
  const unitsOf = (c) => (gsm ? (extension.has(c) ? 2 : 1) : c.length);
  const total = chars.reduce((n, c) => n + unitsOf(c), 0);
  const encoding = gsm ? "GSM-7" : "UCS-2";
  if (total <= (gsm ? 160 : 70)) return { encoding, segments: 1, units: total };
  const capacity = gsm ? 153 : 67;
  let segments = 1;
  let used = 0;
  const place = (units) => {
    if (used + units > capacity) { segments += 1; used = units; } else { used += units; }
  };
  const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" }).segment(text);
  for (const { segment } of graphemes) {
    const parts = Array.from(segment);
    const units = parts.reduce((n, c) => n + unitsOf(c), 0);
    if (segment === "\r\n" || units > capacity) parts.forEach((c) => place(unitsOf(c)));
    else place(units);
  }
  return { encoding, segments, units: total };
}

function describeCount(text, count) {
  const chars = Array.from(text).length;
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  return `${plural(chars, "character")} · ${count.encoding} · ${plural(count.segments, "segment")}`;
}

function wireSegmentCount() {
  const text = document.getElementById("text");
  const output = document.getElementById("count");
  if (!text || !output) return;
  const basic = new Set(Array.from(output.dataset.gsm7));
  const extension = new Set(Array.from(output.dataset.gsm7Ext));
  const update = () => {
    output.value = describeCount(text.value, countSegments(text.value, basic, extension));
  };
  text.addEventListener("input", update);
  update();
}

function localTimes() {
  for (const time of document.querySelectorAll("time[datetime]")) {
    const at = new Date(time.getAttribute("datetime"));
    if (!Number.isNaN(at.getTime())) time.textContent = at.toLocaleString();
  }
}

// Asks every few seconds for texts routed to this user; each is shown once, as an in-page
// alert and, if the user allowed it, a browser notification.
const POLL_MS = 3000;
// A text is routed a moment after it arrives: each poll looks this far back and skips
// what it has shown.
const LOOKBACK_MS = 120000;

function wireAlerts() {
  const body = document.body;
  const region = document.getElementById("alerts");
  if (!region || !body.dataset.csrf) return;
  const inbox = body.dataset.inbox;
  const pageTime = Number(body.dataset.now);
  const shown = new Set();
  let since = pageTime;
  offerNotifications(region);
  const poll = async () => {
    try {
      const answer = await fetch(`${inbox}/events?since=${since}`, { credentials: "same-origin" });
      if (answer.ok) {
        const { now, alerts } = await answer.json();
        for (const alert of alerts) {
          if (shown.has(alert.id)) continue;
          shown.add(alert.id);
          showAlert(region, inbox, alert);
        }
        since = Math.max(pageTime, now - LOOKBACK_MS);
      }
    } catch (_) {
      // Offline for a moment: the next poll asks again from the same time.
    }
    setTimeout(poll, POLL_MS);
  };
  setTimeout(poll, POLL_MS);
}

function showAlert(region, inbox, alert) {
  const who = alert.name || alert.phone;
  const link = document.createElement("a");
  link.className = "alert";
  link.href = `${inbox}/c/${encodeURIComponent(alert.phone)}`;
  link.dataset.id = alert.id;
  link.textContent = `New text from ${who}: ${alert.body}`;
  region.prepend(link);
  const row = document.querySelector(`li[data-phone="${CSS.escape(alert.phone)}"]`);
  if (row) bumpUnread(row, alert.body);
  if ("Notification" in window && Notification.permission === "granted") {
    const note = new Notification(`New text from ${who}`, { body: alert.body, tag: alert.id });
    note.onclick = () => { window.focus(); window.location.href = link.href; };
  }
}

function bumpUnread(row, body) {
  const link = row.querySelector("a.row");
  let badge = row.querySelector(".unread");
  if (!badge) {
    badge = document.createElement("span");
    badge.className = "unread";
    link.insertBefore(badge, link.querySelector(".preview"));
  }
  const count = Number(badge.textContent || "0") + 1;
  badge.textContent = String(count);
  badge.setAttribute("aria-label", `${count} unread`);
  row.querySelector(".preview").textContent = body;
  row.parentElement.prepend(row);
}

// Browsers ask for the permission only after a click.
function offerNotifications(region) {
  if (!("Notification" in window) || Notification.permission !== "default") return;
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "Also notify me outside this tab";
  button.addEventListener("click", async () => {
    await Notification.requestPermission();
    button.remove();
  });
  region.after(button);
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes();
  wireSegmentCount();
  wireAlerts();
});
