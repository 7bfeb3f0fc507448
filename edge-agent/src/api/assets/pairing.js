"use strict";
// The TV's part of pairing and announcements: the code and QR code of the match in play (a phone
// that opens it follows this table and may pair as a player), and staff announcements. Loaded by
// the scoreboard, before scoreboard.js, which calls tvPairing(views) and tvNotice(message).

let pairingShown = null; // the match id whose code is shown

async function tvPairing(views) {
  const box = document.getElementById("pairing");
  if (!box) return;
  const view = views.get(document.body.dataset.table);
  const live = view && view.match && view.status === "playing" && (view.match_winner ?? null) === null;
  const matchId = live ? view.match.match_id : null;
  if (matchId === pairingShown) return;
  pairingShown = matchId;
  if (!matchId) {
    box.hidden = true;
    return;
  }
  const table = encodeURIComponent(document.body.dataset.table);
  let pairing = null;
  try {
    const response = await fetch(`/api/v1/tables/${table}/pairing`);
    if (response.ok) pairing = await response.json();
  } catch (_) {
    pairing = null;
  }
  if (!pairing || pairing.match_id !== pairingShown) {
    if (!pairing) pairingShown = null; // try again on the next update
    return;
  }
  document.getElementById("pairing-code").textContent = pairing.code;
  document.getElementById("pairing-url").textContent = location.host + pairing.path;
  document.getElementById("pairing-qr").src = `/tables/${table}/pairing.svg?m=${encodeURIComponent(pairing.match_id)}`;
  box.hidden = false;
}

function tvNotice(message) {
  const list = document.getElementById("announcements");
  if (!list || message.type !== "announcement") return;
  const old = list.querySelector(`[data-id="${Number(message.id)}"]`);
  if (old) old.remove();
  if (!(message.ttl_ms > 0)) return;
  const el = h("div", { class: "announcement", "data-id": Number(message.id) }, message.text);
  list.prepend(el);
  setTimeout(() => el.remove(), message.ttl_ms);
}
