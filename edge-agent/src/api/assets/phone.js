"use strict";
// One table on a phone: read-only for spectators; a paired player's phone also calls, ends the
// turn, plays safe, pushes out, asks for an undo (the opponent or staff confirm) and messages
// staff. The phone's token is kept in this browser's localStorage, per table, and sent as a
// bearer token: the API checks it against the table's match in play. Every text is shown with
// textContent (h() never parses HTML).

const page = document.body.dataset;
let TABLE = page.table || "";
const STATUS_TEXT = { pending: "", confirmed: "Undo confirmed", declined: "Undo declined" };
let me = null; // {seat, match_id, player, token} once paired
let view = null;
let racksKey = "";
let undo = null; // the open request to undo {id, seat, expires}
let sheet = null; // "call" | "message" | null

const $ = (id) => document.getElementById(id);
const tokenKey = (table) => "dojo.phone." + table;

/** Calls the API: {status, body} (body null when not JSON). */
async function api(method, path, body, token) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = "Bearer " + token;
  try {
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    let json = null;
    try { json = await response.json(); } catch (_) { json = null; }
    return { status: response.status, body: json, retry: response.headers.get("Retry-After") };
  } catch (_) {
    return { status: 0, body: { error: "The agent cannot be reached" } };
  }
}

let sayUntil = 0;
/** Shows what happened for a few seconds; then the turn line comes back. */
function say(text) {
  sayUntil = Date.now() + 5000;
  $("status").textContent = text || "";
}

// ---- Pairing -------------------------------------------------------------------------------

function showPair(code, error) {
  $("pair").hidden = false;
  $("spectator").hidden = true;
  if (code !== undefined) $("pair-code").value = code;
  $("pair-seats").replaceChildren();
  $("pair-error").textContent = error || "";
}

function pairError(result) {
  if (result.status === 429) return `Too many wrong codes. Try again in ${result.retry || "a few"} s.`;
  if (result.status === 403) return "That code is not valid. Check the code on the table's TV (it changes with every match).";
  return (result.body && result.body.error) || "Pairing failed.";
}

async function lookUp(code) {
  const result = await api("POST", "/api/v1/phone/pair", { code });
  if (result.status !== 200) {
    showPair(code, pairError(result));
    return;
  }
  const found = result.body;
  $("pair-error").textContent = "";
  $("pair-seats").replaceChildren(
    h("p", { class: "hint" }, `Table ${found.table}: who are you?`),
    ...found.players.map((name, seat) => h("button", {
      type: "button", class: "seat", "data-seat": seat, disabled: found.seats_taken[seat],
    }, name + (found.seats_taken[seat] ? " (paired)" : ""))));
  for (const button of $("pair-seats").querySelectorAll("button.seat")) {
    button.addEventListener("click", () => claim(code, Number(button.dataset.seat)));
  }
}

async function claim(code, seat) {
  const result = await api("POST", "/api/v1/phone/pair", { code, seat });
  if (result.status !== 201) {
    showPair(code, pairError(result));
    return;
  }
  const paired = result.body;
  try { localStorage.setItem(tokenKey(paired.table), paired.token); } catch (_) { /* private mode */ }
  me = { seat: paired.seat, match_id: paired.match_id, player: paired.players[paired.seat], token: paired.token };
  $("pair").hidden = true;
  follow(paired.table);
}

async function checkToken() {
  let token = null;
  try { token = localStorage.getItem(tokenKey(TABLE)); } catch (_) { token = null; }
  if (!token) return showControls();
  const result = await api("GET", `/api/v1/phone/${encodeURIComponent(TABLE)}/me`, undefined, token);
  if (result.status === 200) {
    me = { ...result.body, token };
  } else {
    me = null;
    if (result.status === 401 || result.status === 403) {
      try { localStorage.removeItem(tokenKey(TABLE)); } catch (_) { /* ignore */ }
    }
  }
  showControls();
}

// ---- The table -----------------------------------------------------------------------------

let followed = false;
function follow(table) {
  TABLE = table;
  $("table-name").textContent = table;
  document.title = table;
  if (location.pathname !== "/phone/" + encodeURIComponent(table)) {
    history.replaceState(null, "", "/phone/" + encodeURIComponent(table));
  }
  if (!followed) {
    followed = true;
    dojoLive({ tables: [table], onChange: render, onStatus: linkStatus, onNotice: notice });
  }
  checkToken();
}

function playing() {
  return !!(view && view.match && view.status === "playing" && (view.match_winner ?? null) === null);
}

function myTurn() {
  return !!(me && playing() && view.shooter === me.seat && view.match.match_id === me.match_id);
}

function shotClock(v) {
  const left = shotClockLeft(v.shot_clock);
  if (left === null) return null;
  const seconds = Math.ceil(left / 1000);
  const low = v.shot_clock.warning || seconds <= 10;
  return h("div", { id: "phone-clock", class: "clock" + (low ? " low" : "") }, `${seconds}s`);
}

// The shot clock counts down between updates, from the deadline the agent sent (live.js).
setInterval(() => {
  const el = document.getElementById("phone-clock");
  const left = view ? shotClockLeft(view.shot_clock) : null;
  if (el && left !== null) el.textContent = `${Math.ceil(left / 1000)}s`;
}, 250);

function playerRow(v, index) {
  const shooting = playing() && v.shooter === index;
  const fouls = (v.consecutive_fouls || [0, 0])[index] || 0;
  const total = ((v.stats || [])[index] || {}).fouls || 0;
  const mine = me && me.seat === index;
  return h("div", { class: "p" + (shooting ? " shooting" : "") + (v.match_winner === index ? " won" : "") },
    h("span", { class: "turn" }, shooting ? "▶" : ""),
    h("span", { class: "name" }, v.match.players[index] + (mine ? " (you)" : "")),
    h("span", { class: "fouls", title: "Fouls in a row; total fouls" },
      fouls ? `${fouls} in a row` : "", total ? ` · ${total} fouls` : ""),
    h("span", { class: "score" }, (v.score || [0, 0])[index]));
}

function render(views) {
  view = views.get(TABLE) || null;
  const board = $("board");
  if (!view || !view.match) {
    board.replaceChildren(h("div", { class: "idle" }, TABLE ? `${TABLE}: no match yet` : ""));
    showControls();
    return;
  }
  const match = view.match;
  const unit = match.game === "straight-pool" ? " points" : "";
  const parts = [
    h("div", { class: "line" }, h("span", { class: "game" }, gameName(match.game)),
      h("span", { class: "race" }, `Race to ${match.race_to}${unit}`),
      view.rack ? h("span", { class: "rack" }, `Rack ${view.rack}`) : null),
    h("div", { class: "players" }, playerRow(view, 0), playerRow(view, 1)),
  ];
  const clock = shotClock(view);
  if (clock) parts.push(clock);
  if (view.status === "finished" || (view.match_winner ?? null) !== null) {
    const winner = match.players[view.match_winner];
    parts.push(h("div", { class: "banner win" }, winner ? `${winner} wins the match` : "Match over"));
  } else {
    const onTable = view.on_table || [];
    parts.push(h("div", { class: "balls", "aria-label": "balls left" },
      onTable.length ? onTable.map((b) => ballIcon(b)) : h("span", {}, "Table cleared")));
    const flags = [];
    if (view.ball_in_hand) flags.push(h("span", { class: "flag hand" }, view.behind_head_string ? "Ball in hand (behind the line)" : "Ball in hand"));
    if (view.push_out_available) flags.push(h("span", { class: "flag" }, "Push-out available"));
    if (view.shot && view.shot.called) flags.push(h("span", { class: "flag" }, `Called: ${view.shot.called.ball}`));
    if (view.foul) flags.push(h("span", { class: "flag foul" }, "Foul: " + (foulText(view.foul_reasons) || "called")));
    if (flags.length) parts.push(h("div", { class: "flags" }, flags));
  }
  board.replaceChildren(...parts);
  const key = `${match.match_id}/${view.rack}/${(view.score || []).join(",")}`;
  if (key !== racksKey) {
    racksKey = key;
    loadRacks();
  }
  showControls();
}

async function loadRacks() {
  const result = await api("GET", `/api/v1/tables/${encodeURIComponent(TABLE)}/matches/current/racks`);
  if (result.status !== 200 || !Array.isArray(result.body) || !view || !view.match) return;
  const players = view.match.players;
  $("racks").replaceChildren(...(result.body.length ? [h("h2", {}, "Racks")] : []),
    ...result.body.map((r) => h("div", { class: "rack-row" }, `Rack ${r.rack}`, h("b", {}, players[r.winner] || ""))));
}

function showControls() {
  const paired = !!(me && view && view.match && me.match_id === view.match.match_id && playing());
  $("controls").hidden = !paired;
  $("spectator").hidden = paired || !playing() || !$("pair").hidden;
  document.body.classList.toggle("paired", paired);
  if (!paired) {
    closeSheet();
    return;
  }
  const turn = myTurn();
  for (const button of document.querySelectorAll("#controls [data-act]")) {
    const act = button.dataset.act;
    const shooterOnly = ["call", "end_turn", "safety", "push_out"].includes(act);
    button.disabled = (shooterOnly && !turn) || (act === "push_out" && !view.push_out_available);
  }
  if (Date.now() > sayUntil) {
    $("status").textContent = turn ? "Your shot" : `${view.match.players[view.shooter]} is at the table`;
  }
  renderUndo();
}

// ---- Actions -------------------------------------------------------------------------------

async function act(body) {
  const result = await api("POST", `/api/v1/phone/${encodeURIComponent(TABLE)}/actions`, body, me.token);
  closeSheet();
  if (result.status !== 200) say((result.body && result.body.error) || "Refused");
}

function closeSheet() {
  sheet = null;
  $("sheet").hidden = true;
  $("sheet").replaceChildren();
}

function openCall() {
  sheet = "call";
  const balls = (view.on_table || []).map((b) => {
    const button = h("button", { type: "button", class: "pick", "data-ball": b, "aria-label": `call the ${b}` }, ballIcon(b));
    button.addEventListener("click", () => act({ action: "call", ball: b }));
    return button;
  });
  const cancel = h("button", { type: "button", class: "ctl" }, "Cancel");
  cancel.addEventListener("click", closeSheet);
  $("sheet").replaceChildren(h("h2", {}, "Call a ball"), h("div", { class: "picks" }, balls), cancel);
  $("sheet").hidden = false;
}

async function sendMessage(text) {
  const result = await api("POST", `/api/v1/phone/${encodeURIComponent(TABLE)}/messages`, { text }, me.token);
  closeSheet();
  if (result.status === 201) say("Sent to staff");
  else if (result.status === 429) say(`Please wait ${result.retry || "a little"} s before the next message`);
  else say((result.body && result.body.error) || "Not sent");
}

function openMessage() {
  sheet = "message";
  const presets = ["Need a referee", "Need a rack"].map((text) => {
    const button = h("button", { type: "button", class: "ctl preset" }, text);
    button.addEventListener("click", () => sendMessage(text));
    return button;
  });
  const input = h("input", { id: "message-text", maxlength: "140", placeholder: "Or write to staff…", "aria-label": "Message to staff" });
  const send = h("button", { type: "submit", class: "ctl primary" }, "Send");
  const form = h("form", { class: "message-form" }, input, send);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.value.trim()) sendMessage(input.value);
  });
  const cancel = h("button", { type: "button", class: "ctl" }, "Cancel");
  cancel.addEventListener("click", closeSheet);
  $("sheet").replaceChildren(h("h2", {}, "Message staff"), h("div", { class: "picks" }, presets), form, cancel);
  $("sheet").hidden = false;
}

async function askUndo() {
  const result = await api("POST", `/api/v1/phone/${encodeURIComponent(TABLE)}/undo-requests`, undefined, me.token);
  if (result.status === 202) say("Undo asked: waiting for your opponent or staff");
  else say((result.body && result.body.error) || "Refused");
}

async function answerUndo(confirm) {
  if (!undo) return;
  const result = await api("POST", `/api/v1/phone/${encodeURIComponent(TABLE)}/undo-requests/${undo.id}`, { confirm }, me.token);
  if (result.status !== 200) say((result.body && result.body.error) || "Refused");
}

$("controls").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-act]");
  if (!button || button.disabled || !me) return;
  const action = button.dataset.act;
  if (action === "call") return openCall();
  if (action === "message") return openMessage();
  if (action === "undo") return askUndo();
  act({ action });
});

// ---- Notices -------------------------------------------------------------------------------

function renderUndo() {
  const box = $("undo");
  if (!undo || Date.now() >= undo.expires || !view || !view.match) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const asker = view.match.players[undo.seat] || "A player";
  const parts = [h("p", {}, `${asker} asks to undo the last shot`)];
  if (me && me.seat !== undo.seat) {
    const yes = h("button", { type: "button", class: "ctl primary", id: "undo-confirm" }, "Confirm undo");
    const no = h("button", { type: "button", class: "ctl", id: "undo-decline" }, "Decline");
    yes.addEventListener("click", () => answerUndo(true));
    no.addEventListener("click", () => answerUndo(false));
    parts.push(h("div", { class: "row" }, no, yes));
  } else if (me) {
    parts.push(h("p", { class: "hint" }, "Waiting for your opponent or staff…"));
  }
  box.replaceChildren(...parts);
  box.hidden = false;
}

function showAnnouncement(message) {
  const list = $("announcements");
  const old = list.querySelector(`[data-id="${Number(message.id)}"]`);
  if (old) old.remove();
  if (!(message.ttl_ms > 0)) return;
  const el = h("div", { class: "announcement", "data-id": Number(message.id) }, message.text);
  list.prepend(el);
  setTimeout(() => el.remove(), message.ttl_ms);
}

function notice(message) {
  if (message.type === "announcement") {
    showAnnouncement(message);
  } else if (message.type === "undo_request" && message.table === TABLE) {
    if (message.status === "pending" && message.ttl_ms > 0) {
      undo = { id: message.id, seat: message.seat, expires: Date.now() + message.ttl_ms };
      setTimeout(renderUndo, message.ttl_ms + 50);
    } else if (undo && undo.id === message.id) {
      undo = null;
      if (me) say(STATUS_TEXT[message.status] || "");
    }
    renderUndo();
  } else if (message.type === "player_message" && me && message.table === TABLE && message.seat === me.seat) {
    if (message.acknowledged) say("Staff have seen your message");
  }
}

// ---- Start ---------------------------------------------------------------------------------

$("pair-form").addEventListener("submit", (event) => {
  event.preventDefault();
  lookUp($("pair-code").value);
});
$("show-pair").addEventListener("click", () => showPair(""));

if (page.code) {
  showPair(page.code);
  lookUp(page.code);
} else if (TABLE) {
  follow(TABLE);
} else {
  showPair("");
}
