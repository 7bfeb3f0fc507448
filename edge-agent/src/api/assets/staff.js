"use strict";
// The staff console: run matches from a tablet at the bar. Tables come live over /ws (like the
// other pages); every change goes through the REST API with the staff token, and the API's answer
// (the committed view, or {"error": ...}) is what the page shows. The token lives in
// sessionStorage: it survives a reload but not closing the tab, and never goes into a URL.
// Cloud sync (docs/sync.md) shows as a badge in the top bar, polled from GET /api/v1/sync; the
// registered players it copies down fill the start form's picker (GET /api/v1/players).
// Staff sign in by name and PIN (POST /api/v1/staff/session): the agent answers with an HttpOnly
// session cookie this script never sees, sent with every call instead of the token, and the
// writes are logged with who made them. The token form stays for an appliance without staff yet.

const TOKEN_KEY = "dojo.staffToken";
const DEAD_PAGE = 50;
const PAYLOAD_PREVIEW = 600;
/** How often the sync status is asked for while the console is unlocked. */
const SYNC_EVERY_MS = 5000;
const PLAYERS_HELP = "Type to search the registered players and pick one, or type any name for a walk-in.";

const STATUS_LABELS = { idle: "Open", playing: "Playing", finished: "Finished" };
const ACTION_LABELS = {
  end_turn: "End turn", foul: "Foul", undo: "Undo", push_out: "Push-out", pass: "Pass",
  safety: "Safety", rerack: "Re-rack", concede: "Concede", call: "Call",
  shot_clock_pause: "Pause the shot clock", shot_clock_resume: "Resume the shot clock",
  shot_clock_extension: "Shot clock extension",
};

// What each dead-letter reason means (docs/protocol.md, "Refusals").
const REASONS = {
  oversize: "payload over 16 KiB",
  not_json: "not a JSON object",
  unknown_type: "a message type this agent does not know",
  invalid: "a field missing, mistyped or out of range, or a bad device id",
  unknown_topic: "not a dojo/v1 table or device topic",
  wrong_channel: "a camera message on a controller topic, or the reverse",
  unknown_table: "a table that is not registered (Venue tab: register it if it is real)",
};

const $ = (id) => document.getElementById(id);

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  /** The staff member signed in with a PIN ({id, display_name, roles, expires_ms}), or null. */
  member: null,
  live: null,
  selected: decodeHash(),
  busy: false,
  callBall: null,
  callPocket: null,
  deadBefore: null,
  deadRows: [],
  deadTotal: 0,
  noticeTimer: null,
  /** The last GET /api/v1/sync answer (null: none yet or the last one failed). */
  sync: null,
  syncTimer: null,
  /** Registered players, and each one by the text the picker shows for it. */
  players: [],
  playerKeys: new Map(),
  playersCursor: null,
  loadingPlayers: false,
};

function decodeHash() {
  const raw = location.hash.slice(1);
  if (!raw) return null;
  try {
    return decodeURIComponent(raw);
  } catch (_) {
    return null;
  }
}

/** A refused request: the HTTP status (0 = no answer) and the API's own sentence. */
class ApiFailure extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Calls the API with the staff token; resolves to the JSON body or throws an ApiFailure. */
async function api(method, path, body) {
  // Signed in with a PIN: the session cookie goes by itself; else the staff token.
  const headers = state.member ? {} : { Authorization: "Bearer " + (state.token || "") };
  // Who is acting: logged with the action and sent to the cloud with corrections.
  const staffName = localStorage.getItem("dojo.staffName");
  if (staffName && !state.member) headers["X-Dojo-Staff"] = encodeURIComponent(staffName);
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (_) {
    throw new ApiFailure(0, "the agent did not answer: check the tablet's network");
  }
  let data = null;
  try {
    data = await response.json();
  } catch (_) {
    data = null;
  }
  if (!response.ok) {
    const message = data && typeof data.error === "string" ? data.error : response.statusText || "request failed";
    throw new ApiFailure(response.status, message);
  }
  return data;
}

// ---- Notices -------------------------------------------------------------------------------

function notice(kind, text) {
  const box = $("notice");
  clearTimeout(state.noticeTimer);
  box.className = "notice " + kind;
  $("notice-text").textContent = text;
  box.hidden = false;
  // Successes fade on their own; an error stays until dismissed or replaced, so it is not missed.
  if (kind === "ok") state.noticeTimer = setTimeout(() => { box.hidden = true; }, 4000);
}

function failed(what, failure) {
  if (failure.status === 401) {
    lock(failure.message);
    return;
  }
  const status = failure.status ? ` (HTTP ${failure.status})` : "";
  notice("error", `${what} failed: ${failure.message}${status}`);
}

// ---- Token ---------------------------------------------------------------------------------

/** Checks the token with a staff-only read that changes nothing (the dead-letter counts). */
async function unlock(token) {
  state.token = token;
  const counts = await api("GET", "/api/v1/dead-letters?limit=0");
  sessionStorage.setItem(TOKEN_KEY, token);
  enter(counts);
}

/** Whether the console is open (a token, or a staff member signed in). */
function unlocked() {
  return Boolean(state.token || state.member);
}

/** Signs in by PIN; the answer's cookie is kept by the browser. */
async function signIn(staffId, pin) {
  state.member = await api("POST", "/api/v1/staff/session", { staff_id: staffId, pin });
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  enter(await api("GET", "/api/v1/dead-letters?limit=0"));
}

function showMember() {
  const badge = $("signed-in");
  badge.textContent = state.member ? "Signed in: " + state.member.display_name : "";
  badge.hidden = !state.member;
  $("lock").textContent = state.member ? "Sign out" : "Lock";
  // Signed in: corrections are logged with the member's name and id, not a typed name.
  const name = $("staff-name");
  name.value = state.member ? state.member.display_name : localStorage.getItem("dojo.staffName") || "";
  name.disabled = Boolean(state.member);
}

/** Fills the sign-in form's names from the venue's staff list (hidden when there are none). */
async function loadMembers() {
  let list = [];
  try {
    list = (await api("GET", "/api/v1/staff/members")).staff || [];
  } catch (_) {
    list = [];
  }
  const select = $("signin-member");
  select.replaceChildren();
  for (const member of list) {
    const option = document.createElement("option");
    option.value = member.id;
    option.textContent = member.display_name;
    select.appendChild(option);
  }
  $("signin-form").hidden = list.length === 0;
}

function enter(counts) {
  showMember();
  $("unlock").hidden = true;
  $("console").hidden = false;
  $("lock").hidden = false;
  $("unlock-error").hidden = true;
  showDeadTotal(counts.total);
  startSync();
  if (!state.live) state.live = dojoLive({ tables: null, onChange: render, onStatus: linkStatus, onNotice: (m) => roomNotice(m) });
  render();
}

function lock(reason) {
  if (state.member) {
    state.member = null;
    fetch("/api/v1/staff/session", { method: "DELETE" }).catch(() => {});
  }
  showMember();
  loadMembers();
  $("signin-pin").value = "";
  state.token = null;
  stopSync();
  sessionStorage.removeItem(TOKEN_KEY);
  $("console").hidden = true;
  $("lock").hidden = true;
  $("unlock").hidden = false;
  $("notice").hidden = true;
  const error = $("unlock-error");
  error.textContent = reason || "";
  error.hidden = !reason;
  $("token").value = "";
  $("token").focus();
}

$("unlock-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = $("token").value.trim();
  if (!token) {
    lock("Enter the staff token.");
    return;
  }
  $("unlock-button").disabled = true;
  try {
    await unlock(token);
  } catch (failure) {
    lock(failure.status ? `${failure.message} (HTTP ${failure.status})` : failure.message);
  } finally {
    $("unlock-button").disabled = false;
  }
});

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = $("signin-error");
  $("signin-button").disabled = true;
  try {
    await signIn($("signin-member").value, $("signin-pin").value);
    error.hidden = true;
  } catch (failure) {
    state.member = null;
    error.textContent = failure.status ? `${failure.message} (HTTP ${failure.status})` : failure.message;
    error.hidden = false;
  } finally {
    $("signin-pin").value = "";
    $("signin-button").disabled = false;
  }
});

$("lock").addEventListener("click", () => lock(null));
$("notice-close").addEventListener("click", () => { $("notice").hidden = true; });

// ---- Tables --------------------------------------------------------------------------------

function views() {
  return state.live ? state.live.views : new Map();
}

function select(table) {
  if (table !== state.selected) {
    state.callBall = null;
    state.callPocket = null;
    $("concede").hidden = true;
  }
  state.selected = table;
  history.replaceState(null, "", "#" + encodeURIComponent(table));
  render();
}

function tableItem(view) {
  const status = view.status || "idle";
  const match = view.match;
  const line = match
    ? `${match.players[0]} ${(view.score || [0, 0])[0]} – ${(view.score || [0, 0])[1]} ${match.players[1]}`
    : "Table open";
  return h("button", {
    class: "table-item " + status + (view.table === state.selected ? " selected" : ""),
    type: "button",
    "data-table": view.table,
  },
  h("span", { class: "item-head" },
    h("span", { class: "item-table" }, tableName(view)),
    h("span", { class: "pill " + status }, STATUS_LABELS[status] || status)),
  h("span", { class: "item-line" }, line),
  offlineDevices(view).length || view.missing_events > 0 || (view.scoring && view.scoring.flags.length)
    ? h("span", { class: "item-warn" }, "⚠ check devices") : null);
}

function playerLine(view, index) {
  const playing = view.status === "playing";
  const shooting = playing && view.shooter === index;
  const won = view.match_winner === index;
  const fouls = (view.consecutive_fouls || [0, 0])[index] || 0;
  return h("div", { class: "tv-player" + (shooting ? " shooting" : "") + (won ? " won" : "") },
    h("span", { class: "tv-turn" }, shooting ? "▶" : won ? "🏆" : ""),
    h("span", { class: "tv-name" }, view.match.players[index]),
    fouls ? h("span", { class: "tv-fouls" }, `${fouls} foul${fouls > 1 ? "s" : ""} in a row`) : null,
    h("span", { class: "tv-score" }, (view.score || [0, 0])[index]));
}

function tableView(table, view) {
  if (!view) {
    return [h("div", { class: "tv-head" }, h("span", { class: "tv-table" }, table),
      h("span", { class: "pill idle" }, "New")),
    h("p", { class: "dim" }, "The agent has no view of this table yet: starting a match creates it.")];
  }
  const status = view.status || "idle";
  const parts = [h("div", { class: "tv-head" },
    h("span", { class: "tv-table" }, view.table),
    h("span", { class: "pill " + status, id: "table-status" }, STATUS_LABELS[status] || status))];
  const match = view.match;
  if (match) {
    const unit = match.game === "straight-pool" ? " points" : "";
    parts.push(h("div", { class: "tv-game" }, gameName(match.game),
      h("span", { class: "dim" }, ` · Race to ${match.race_to}${unit}`),
      view.rack ? h("span", { class: "dim" }, ` · Rack ${view.rack}`) : null));
    parts.push(h("div", { class: "tv-players" }, playerLine(view, 0), playerLine(view, 1)));
    const flags = [];
    if (view.match_winner === 0 || view.match_winner === 1) {
      flags.push(h("span", { class: "flag win" }, `${match.players[view.match_winner]} wins the match`));
    }
    if (status === "playing" && view.break_shot) flags.push(h("span", { class: "flag" }, "To break"));
    if (status === "playing" && view.ball_in_hand) flags.push(h("span", { class: "flag hand" }, "Ball in hand"));
    if (status === "playing" && view.push_out_available) flags.push(h("span", { class: "flag" }, "Push-out available"));
    if (view.foul) flags.push(h("span", { class: "flag foul" }, "Foul: " + foulText(view.foul_reasons)));
    if (match.voided) flags.push(h("span", { class: "flag foul voided" }, "Voided: " + match.voided.reason));
    const called = view.shot && view.shot.called;
    if (called) {
      const pocket = called.pocket ? ` in pocket ${called.pocket}` : "";
      flags.push(h("span", { class: "flag called" }, `Called: ${called.ball}${pocket}`));
    }
    if (flags.length) parts.push(h("div", { class: "flags" }, flags));
    if (status === "playing" && view.on_table) {
      parts.push(h("div", { class: "tv-balls" }, view.on_table.map((b) => ballIcon(b, "mini"))));
    }
  }
  const warnings = offlineDevices(view).map((d) => h("div", { class: "warning" }, `⚠ ${d.kind} ${d.device} offline`));
  if (view.missing_events > 0) warnings.push(h("div", { class: "warning" }, `⚠ ${view.missing_events} sensor event(s) lost`));
  if (view.scoring) {
    const replay = view.match
      ? h("a", { href: `/matches/${encodeURIComponent(view.match.match_id)}/replay`, target: "_blank", rel: "noopener" }, "rack replay")
      : null;
    parts.push(h("div", { class: "dim", id: "scoring-mode", "data-mode": view.scoring.mode }, `Scoring: ${view.scoring.mode} `, replay));
    for (const flag of view.scoring.flags || []) {
      warnings.push(h("div", { class: "warning scoring-flag", "data-kind": flag.kind }, `⚠ ${flag.detail}`));
    }
  }
  if (warnings.length) parts.push(h("div", { class: "warnings" }, warnings));
  parts.push(h("div", { class: "tv-seq dim" }, `seq ${view.seq}`));
  return parts;
}

function renderActions(view) {
  const playing = view && view.status === "playing";
  const finished = view && view.status === "finished";
  $("actions").hidden = !(playing || finished);
  if ($("actions").hidden) return;
  // The rules say which options exist right now; the API still decides, so a stale view only
  // costs a clear refusal.
  const allowed = {
    push_out: playing && view.push_out_available,
    pass: playing && view.can_pass,
    rerack: playing && view.can_rerack,
    undo: true,
  };
  for (const button of document.querySelectorAll("#actions [data-action]")) {
    const action = button.dataset.action;
    const ok = action in allowed ? allowed[action] : playing;
    button.disabled = state.busy || !ok;
  }
  $("concede-open").disabled = state.busy || !playing;
  for (const button of document.querySelectorAll("#concede [data-concede]")) {
    button.textContent = `${view.match.players[Number(button.dataset.concede)]} concedes`;
    button.disabled = state.busy;
  }
  const onTable = (playing && view.on_table) || [];
  if (!onTable.includes(state.callBall)) state.callBall = null;
  // Rebuilt only when it changes: an element replaced under a finger loses the tap, and other
  // tables' updates arrive all the time.
  const picker = $("call-balls");
  const key = onTable.join(",") + "|" + state.callBall;
  if (picker.dataset.key !== key) {
    picker.dataset.key = key;
    const balls = onTable.map((b) => h("button", {
      class: "btn pick-ball" + (state.callBall === b ? " selected" : ""),
      type: "button",
      "data-ball": b,
      "aria-pressed": state.callBall === b ? "true" : "false",
    }, ballIcon(b, "call-ball")));
    picker.replaceChildren(...(balls.length ? balls : [h("span", { class: "dim" }, "No object balls on the table.")]));
  }
  for (const button of document.querySelectorAll(".pick-pocket")) {
    const pocket = button.dataset.pocket ? Number(button.dataset.pocket) : null;
    button.classList.toggle("selected", pocket === state.callPocket);
    button.disabled = !playing;
  }
  $("call").disabled = state.busy || !playing || state.callBall === null;
  $("call").textContent = state.callBall === null
    ? "Call: pick a ball"
    : `Call the ${state.callBall}` + (state.callPocket ? ` in pocket ${state.callPocket}` : "");
}

function renderStart(table, view) {
  const open = !view || view.status !== "playing";
  $("start-form").hidden = !open;
  if (!open) return;
  $("start-table").textContent = table;
  $("start").disabled = state.busy;
  // After a finished match the same players often play again (registered ones as registered).
  if (view && view.match && !$("player0").value && !$("player1").value) {
    const ids = view.match.player_ids || [null, null];
    for (const seat of [0, 1]) {
      const player = ids[seat] ? state.players.find((p) => p.id === ids[seat]) : null;
      $("player" + seat).value = player ? playerKey(player) : view.match.players[seat];
    }
  }
  renderSeatHints();
}

/** Table buttons by table id, each with the seq and selection it was drawn for. */
const items = new Map();

/** Redraws only the table buttons whose view or selection changed, so a tap is not lost. */
function renderList(all) {
  const list = $("tables");
  const wanted = [];
  for (const view of all) {
    const selected = view.table === state.selected;
    let item = items.get(view.table);
    if (!item || item.seq !== view.seq || item.selected !== selected) {
      item = { seq: view.seq, selected, element: tableItem(view) };
      items.set(view.table, item);
    }
    wanted.push(item.element);
  }
  const current = [...list.children];
  if (current.length !== wanted.length || current.some((el, i) => el !== wanted[i])) {
    list.replaceChildren(...wanted);
  }
}

function render() {
  const all = venueOrder(views().values());
  renderList(all);
  $("no-tables").hidden = all.length > 0;
  const table = state.selected;
  $("pick").hidden = table !== null;
  $("table-view").hidden = table === null;
  if (table === null) {
    $("actions").hidden = true;
    $("start-form").hidden = true;
    return;
  }
  const view = views().get(table);
  $("table-view").replaceChildren(...tableView(table, view));
  renderActions(view);
  if (typeof renderManual === "function") renderManual(view);
  renderShotClockControls(view);
  renderStart(table, view);
}

/** Takes the committed view a write answered with, ahead of the same view arriving over /ws. */
function applyView(view) {
  if (!view || !view.table || !state.live) return;
  const known = state.live.views.get(view.table);
  if (!known || known.seq < view.seq) state.live.views.set(view.table, view);
}

async function write(what, path, body) {
  if (state.busy) return null;
  state.busy = true;
  render();
  try {
    const view = await api("POST", path, body);
    applyView(view);
    notice("ok", `${what}: done (seq ${view.seq}).`);
    return view;
  } catch (failure) {
    failed(what, failure);
    return null;
  } finally {
    state.busy = false;
    render();
  }
}

function actionsPath(table) {
  return `/api/v1/tables/${encodeURIComponent(table)}/matches/current/actions`;
}

async function act(body) {
  const table = state.selected;
  if (table === null) return;
  const what = `${ACTION_LABELS[body.action] || body.action} on ${table}`;
  const view = await write(what, actionsPath(table), body);
  if (view && body.action === "call") {
    state.callBall = null;
    state.callPocket = null;
    render();
  }
}

$("tables").addEventListener("click", (event) => {
  const item = event.target.closest(".table-item");
  if (item) select(item.dataset.table);
});

$("open-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const table = $("open-table").value.trim();
  if (!table) return;
  $("open-table").value = "";
  select(table);
});

for (const button of document.querySelectorAll("#actions [data-action]")) {
  button.addEventListener("click", () => act({ action: button.dataset.action }));
}

$("concede-open").addEventListener("click", () => { $("concede").hidden = false; });
$("concede-cancel").addEventListener("click", () => { $("concede").hidden = true; });
for (const button of document.querySelectorAll("#concede [data-concede]")) {
  button.addEventListener("click", async () => {
    $("concede").hidden = true;
    await act({ action: "concede", player: Number(button.dataset.concede) });
  });
}

$("call-balls").addEventListener("click", (event) => {
  const button = event.target.closest(".pick-ball");
  if (!button) return;
  const ball = Number(button.dataset.ball);
  state.callBall = state.callBall === ball ? null : ball;
  render();
});

for (const button of document.querySelectorAll(".pick-pocket")) {
  button.addEventListener("click", () => {
    state.callPocket = button.dataset.pocket ? Number(button.dataset.pocket) : null;
    render();
  });
}

$("call").addEventListener("click", () => {
  if (state.callBall === null) return;
  const body = { action: "call", ball: state.callBall };
  if (state.callPocket !== null) body.pocket = state.callPocket;
  act(body);
});

$("game").addEventListener("change", () => {
  $("race-label").textContent = $("game").value === "straight-pool" ? "Race to (points)" : "Race to (racks)";
});

$("start-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const table = state.selected;
  if (table === null) return;
  // Sent as typed: the API checks the spec and its refusal is shown as it is.
  const race = $("race-to").value.trim();
  // A seat whose text is a registered player's (as the picker shows it) goes as that player's id;
  // the agent then puts the registered name on the table. Anything else is a walk-in's name.
  const seats = [0, 1].map((seat) => registeredAt(seat));
  const spec = {
    game: $("game").value,
    players: [0, 1].map((seat) => seats[seat] ? seats[seat].name : $("player" + seat).value.trim()),
    race_to: /^\d+$/.test(race) ? Number(race) : race,
    break: $("break").value,
  };
  if (seats.some(Boolean)) spec.player_ids = seats.map((p) => p ? p.id : null);
  const view = await write(`Start a match on ${table}`, `/api/v1/tables/${encodeURIComponent(table)}/matches`, spec);
  if (view) {
    $("player0").value = "";
    $("player1").value = "";
    renderSeatHints();
  }
});

// ---- Registered players --------------------------------------------------------------------

/** The text the picker shows for a player: the name, with the id when two share it. */
function playerKey(player) {
  const twins = state.players.filter((p) => p.name === player.name).length;
  return twins > 1 ? `${player.name} (${player.id})` : player.name;
}

/** The registered player whose picker text is in this seat's field, if any. */
function registeredAt(seat) {
  return state.playerKeys.get($("player" + seat).value.trim()) || null;
}

function ratingText(player) {
  return typeof player.rating === "number" ? `rating ${player.rating}` : "no rating";
}

/** Says under each name field whether it holds a registered player or a walk-in. */
function renderSeatHints() {
  for (const seat of [0, 1]) {
    const hint = $(`player${seat}-hint`);
    const typed = $("player" + seat).value.trim();
    const player = registeredAt(seat);
    hint.className = "seat-hint" + (player ? " registered" : "");
    hint.textContent = player
      ? `✓ Registered player · ${ratingText(player)}`
      : typed && state.players.length ? "Walk-in: not a registered player" : "";
  }
}

/** Refreshes the picker; false when the agent did not answer (the next poll tries again). */
async function loadPlayers() {
  try {
    state.players = await api("GET", "/api/v1/players");
  } catch (failure) {
    // Retried at the next poll; said quietly, so a red bar about a real action is not replaced.
    if (failure.status === 401) failed("Loading the registered players", failure);
    $("players-help").hidden = false;
    $("players-help").textContent = `The registered players could not be loaded (${failure.message}); ` +
      "typing a name still starts a walk-in's match.";
    return false;
  }
  state.playerKeys = new Map(state.players.map((p) => [playerKey(p), p]));
  // The browser lists and searches these as staff type; the label shows beside each name.
  $("registered-players").replaceChildren(...state.players.map((p) =>
    h("option", { value: playerKey(p), label: ratingText(p) })));
  $("players-help").hidden = state.players.length === 0;
  $("players-help").textContent = PLAYERS_HELP;
  renderSeatHints();
  return true;
}

for (const seat of [0, 1]) {
  $("player" + seat).addEventListener("input", renderSeatHints);
}

// ---- Cloud sync ----------------------------------------------------------------------------

function syncText(sync) {
  if (!sync) return "Cloud: status unknown";
  if (!sync.enabled) return "Cloud sync off";
  const acked = sync.acked_seq ? `acked #${sync.acked_seq}` : "nothing acked yet";
  return `Cloud: on · ${sync.pending} waiting · ${acked}`;
}

function renderSync() {
  const sync = state.sync;
  const badge = $("sync");
  badge.hidden = false;
  badge.textContent = syncText(sync);
  badge.className = "sync " + (!sync ? "unknown" : !sync.enabled ? "off" : sync.pending ? "waiting" : "on");
  badge.title = !sync
    ? "The agent did not say how cloud sync stands."
    : !sync.enabled
      ? "This agent does not sync to a cloud service (no --cloud-url)."
      : `Syncing to ${sync.cloud_url}. Waiting records are kept and sent when the cloud answers; ` +
        `the cloud has acknowledged every record up to #${sync.acked_seq}.`;
  $("sync-line").textContent = sync && sync.enabled
    ? `${syncText(sync)} · to ${sync.cloud_url}` + (sync.oldest_seq ? ` · oldest waiting #${sync.oldest_seq}` : "")
    : syncText(sync);
  $("sync-dead-total").textContent = sync && sync.dead_letters ? String(sync.dead_letters) : "";
  showDeadTotal(state.deadTotal);
}

async function loadSync() {
  try {
    state.sync = await api("GET", "/api/v1/sync");
  } catch (_) {
    state.sync = null;
  }
  if (!unlocked()) return;
  renderSync();
  // New or changed registered players came down from the cloud: refresh the picker.
  const cursor = state.sync ? state.sync.players_cursor : null;
  if (cursor !== null && cursor !== state.playersCursor && !state.loadingPlayers) {
    state.loadingPlayers = true;
    try {
      if (await loadPlayers()) state.playersCursor = cursor;
    } finally {
      state.loadingPlayers = false;
    }
  }
}

function startSync() {
  stopSync();
  loadSync();
  loadHealth();
  state.syncTimer = setInterval(() => { loadSync(); loadHealth(); }, SYNC_EVERY_MS);
}

function stopSync() {
  clearInterval(state.syncTimer);
  state.syncTimer = null;
  state.sync = null;
  state.playersCursor = null;
  $("sync").hidden = true;
  $("health").hidden = true;
}

// ---- Health --------------------------------------------------------------------------------

const HEALTH_PARTS = ["writer", "disk", "broker", "devices", "engine", "sync"];

/** The banner for `GET /api/v1/health`: hidden while every part is ok, else each part that is
 *  not, in the agent's own words (e.g. "Cannot save: the disk is full …"). */
function renderHealth(report) {
  const banner = $("health");
  if (!report || !report.status || report.status === "ok") {
    banner.hidden = true;
    return;
  }
  const failing = report.status === "failing";
  banner.className = "health-banner " + (failing ? "failing" : "warning");
  $("health-title").textContent = failing
    ? "The agent cannot do its whole job right now:"
    : "Worth a look:";
  const list = $("health-problems");
  list.replaceChildren();
  for (const name of HEALTH_PARTS) {
    const part = report[name];
    if (!part || part.status === "ok") continue;
    const item = document.createElement("li");
    item.textContent = part.words;
    list.appendChild(item);
  }
  banner.hidden = false;
}

async function loadHealth() {
  if (!unlocked()) return;
  let report = null;
  try {
    report = await api("GET", "/api/v1/health");
  } catch (_) {
    report = null;
  }
  if (unlocked()) renderHealth(report);
}

// ---- Dead letters --------------------------------------------------------------------------

/** The tab's count: device messages refused here plus records the cloud refused. */
function showDeadTotal(total) {
  state.deadTotal = total || 0;
  const all = state.deadTotal + (state.sync ? state.sync.dead_letters || 0 : 0);
  $("dead-total").textContent = all ? String(all) : "";
}

/** A long payload, cut short until tapped; always text, never markup. */
function payloadBlock(text, empty) {
  const long = text.length > PAYLOAD_PREVIEW;
  const shown = long ? text.slice(0, PAYLOAD_PREVIEW) + "…" : text;
  const payload = h("pre", { class: "dead-payload" + (long ? " long" : ""), title: long ? "Tap to show all" : null },
    empty ? "(empty)" : shown);
  if (long) {
    payload.addEventListener("click", () => {
      payload.textContent = text;
      payload.classList.remove("long");
    }, { once: true });
  }
  return payload;
}

function syncDeadRow(row) {
  let payload = row.payload;
  try {
    payload = JSON.stringify(JSON.parse(row.payload), null, 2);
  } catch (_) {
    // Shown as it was kept.
  }
  return h("article", { class: "sync-dead-row", "data-seq": row.seq },
    h("div", { class: "dead-meta" },
      h("span", { class: "pill dead-reason sync-dead-kind" }, row.kind),
      h("span", { class: "dead-time" }, new Date(row.refused_ms).toLocaleString()),
      h("span", { class: "dim sync-dead-seq" }, `record #${row.seq}`),
      h("span", { class: "dim" }, `match ${row.match_id}`)),
    h("div", { class: "dead-detail sync-dead-reason" }, row.reason),
    payloadBlock(payload, row.payload === ""));
}

async function loadSyncDead() {
  try {
    const rows = await api("GET", "/api/v1/sync/dead-letters");
    $("sync-dead-list").replaceChildren(...rows.map(syncDeadRow));
    $("sync-dead-empty").hidden = rows.length > 0;
  } catch (failure) {
    failed("Loading the records the cloud refused", failure);
  }
}

function deadRow(row) {
  const when = new Date(row.received_ms).toLocaleString();
  const payload = payloadBlock(row.payload, row.payload_bytes === 0);
  const encoding = row.payload_encoding === "utf8" ? "text" : "not UTF-8, shown as base64";
  return h("article", { class: "dead-row", "data-id": row.id },
    h("div", { class: "dead-meta" },
      h("span", { class: "pill dead-reason", title: REASONS[row.reason] || null }, row.reason),
      REASONS[row.reason] ? h("span", { class: "dim" }, REASONS[row.reason]) : null,
      h("span", { class: "dead-time" }, when),
      h("span", { class: "dim" }, `#${row.id}`)),
    h("div", { class: "dead-topic" }, row.topic),
    h("div", { class: "dead-detail" }, row.detail),
    payload,
    h("div", { class: "dead-size dim" }, `${row.payload_bytes} bytes, ${encoding}`));
}

async function loadDead(older) {
  if (!older) {
    loadSyncDead();
    loadSync();
  }
  const params = new URLSearchParams({ limit: String(DEAD_PAGE) });
  if (older && state.deadBefore !== null) params.set("before", String(state.deadBefore));
  $("dead-refresh").disabled = true;
  $("dead-more").disabled = true;
  try {
    const page = await api("GET", "/api/v1/dead-letters?" + params);
    state.deadRows = older ? state.deadRows.concat(page.dead_letters) : page.dead_letters;
    state.deadBefore = page.next_before;
    showDeadTotal(page.total);
    $("dead-counts").replaceChildren(
      h("span", { class: "dead-count total" }, `${page.total} kept`),
      ...Object.entries(page.counts).map(([reason, count]) =>
        h("span", { class: "dead-count", "data-reason": reason, title: REASONS[reason] || null }, `${reason}: ${count}`)));
    $("dead-list").replaceChildren(...state.deadRows.map(deadRow));
    $("dead-empty").hidden = state.deadRows.length > 0;
    $("dead-more").hidden = page.next_before === null;
  } catch (failure) {
    failed("Loading the dead letters", failure);
  } finally {
    $("dead-refresh").disabled = false;
    $("dead-more").disabled = false;
  }
}

$("dead-refresh").addEventListener("click", () => loadDead(false));
$("dead-more").addEventListener("click", () => loadDead(true));

// ---- Tabs ----------------------------------------------------------------------------------

for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    for (const other of document.querySelectorAll(".tab")) {
      other.classList.toggle("active", other === tab);
      other.setAttribute("aria-selected", other === tab ? "true" : "false");
    }
    $("pane-tables").hidden = tab.dataset.tab !== "tables";
    $("pane-dead").hidden = tab.dataset.tab !== "dead";
    if (tab.dataset.tab === "dead") loadDead(false);
  });
}

// ---- Start ---------------------------------------------------------------------------------

if (state.token) {
  unlock(state.token).catch((failure) =>
    lock(failure.status ? `${failure.message} (HTTP ${failure.status})` : failure.message));
} else {
  // Still signed in from before (the cookie outlives a reload)?
  fetch("/api/v1/staff/session", { cache: "no-store" })
    .then((r) => r.json())
    .then(async (answer) => {
      if (!answer || !answer.staff) throw new Error("not signed in");
      state.member = answer.staff;
      enter(await api("GET", "/api/v1/dead-letters?limit=0"));
    })
    .catch(() => lock(null));
}

// ---- The shot clock (a house option of the match): staff pause, resume and grant the extension ----

function renderShotClockControls(view) {
  const clock = view && view.status === "playing" ? view.shot_clock : null;
  $("shot-clock-controls").hidden = !clock;
  if (!clock) return;
  const left = shotClockLeft(clock);
  $("staff-shot-clock").textContent = "Shot clock: " + (clock.paused ? "paused"
    : left === null ? "waiting for the balls to stop" : `${Math.ceil(left / 1000)} s`);
  const enabled = {
    shot_clock_pause: !clock.paused,
    shot_clock_resume: clock.paused,
    shot_clock_extension: left !== null && !clock.first_shot && clock.shooter !== null
      && clock.extensions_left[clock.shooter] > 0,
  };
  for (const button of document.querySelectorAll("#shot-clock-controls [data-clock]")) {
    button.disabled = state.busy || !enabled[button.dataset.clock];
  }
}

for (const button of document.querySelectorAll("#shot-clock-controls [data-clock]")) {
  button.addEventListener("click", () => act({ action: button.dataset.clock }));
}

setInterval(() => {
  const view = state.selected === null ? null : views().get(state.selected);
  if (view && view.shot_clock && !$("shot-clock-controls").hidden) renderShotClockControls(view);
}, 500);
