"use strict";
// Shared by the venue pages: follows the agent's /ws feed and keeps the newest view of each table.
// Reconnects by itself with ?since=<last seq> (so nothing is missed) and a jittered backoff.

/** Creates an element: h("div", {class: "x"}, "text", child, ...). Text is never parsed as HTML. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "style") el.style.cssText = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** The tables to show, in the venue's order: retired ones left out, by registry position, then id. */
function venueOrder(views) {
  return [...views].filter((v) => !v.retired).sort((a, b) =>
    (a.position || 0) - (b.position || 0) || a.table.localeCompare(b.table, undefined, { numeric: true }));
}

/** A table's display name (the registry's, else its id). */
function tableName(view) {
  return view.name || view.table;
}

const GAMES = {
  "eight-ball": "8-Ball",
  "nine-ball": "9-Ball",
  "ten-ball": "10-Ball",
  "straight-pool": "14.1 Straight Pool",
};

const FOUL_REASONS = {
  scratch: "Scratch",
  cue_ball_off_table: "Cue ball off the table",
  wrong_ball_first: "Wrong ball first",
  no_rail: "No rail after contact",
  object_ball_off_table: "Object ball off the table",
  referee: "Foul called by the referee",
  illegal_break: "Illegal break",
  breaking_foul: "Breaking foul (−2)",
  third_consecutive_foul: "Third foul in a row",
  shot_clock: "Shot clock ran out",
};

const BALL_COLOURS = ["#f4f1e8", "#f5c400", "#1f4fd6", "#d42a2a", "#6b2fc4", "#f0700f", "#14864a", "#7d1f1f", "#111111"];

/** A pool ball icon: solid 1-8, striped 9-15. */
function ballIcon(number, extraClass) {
  const colour = BALL_COLOURS[number > 8 ? number - 8 : number] || "#888";
  const classes = ["ball", number > 8 ? "stripe" : "solid", extraClass].filter(Boolean).join(" ");
  return h("span", { class: classes, style: `--c:${colour}`, title: `Ball ${number}`, "aria-label": `ball ${number}` },
    h("span", { class: "num" }, number));
}

function gameName(game) {
  return GAMES[game] || game || "";
}

function foulText(reasons) {
  return (reasons || []).map((r) => FOUL_REASONS[r] || r.replace(/_/g, " ")).join(" · ");
}

/** Devices on the table that are not reporting. */
function offlineDevices(view) {
  return (view.devices || []).filter((d) => !d.online);
}

/**
 * Follows /ws. options: tables (array or null = all), onChange(map of table → view),
 * onStatus("connecting" | "live" | "offline"), onNotice(message) for the other message types.
 */
function dojoLive(options) {
  const tables = options.tables || null;
  const onChange = options.onChange || (() => {});
  const onStatus = options.onStatus || (() => {});
  const views = new Map();
  let lastSeq = 0;
  let socket = null;
  let backoff = 500;
  let lastHeard = 0;
  let watchdog = null;

  function url() {
    const params = new URLSearchParams();
    if (tables) params.set("tables", tables.join(","));
    if (lastSeq > 0) params.set("since", String(lastSeq));
    const query = params.toString();
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws${query ? "?" + query : ""}`;
  }

  function apply(view) {
    const known = views.get(view.table);
    if (known && known.seq >= view.seq) return false;
    views.set(view.table, view);
    return true;
  }

  function onMessage(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch (_) {
      return;
    }
    lastHeard = Date.now();
    backoff = 500;
    if (message.type === "snapshot") {
      views.clear();
      for (const view of message.tables || []) views.set(view.table, view);
      lastSeq = message.seq || 0;
      onChange(views);
    } else if (message.type === "update" && message.table) {
      lastSeq = Math.max(lastSeq, message.seq || 0);
      if (apply(message.table)) onChange(views);
    } else if (options.onNotice && message.type !== "pong") {
      // announcement, undo_request, player_message (docs/protocol.md): the page decides.
      options.onNotice(message);
    }
  }

  function connect() {
    onStatus("connecting");
    socket = new WebSocket(url());
    socket.onopen = () => {
      lastHeard = Date.now();
      onStatus("live");
    };
    socket.onmessage = onMessage;
    socket.onclose = () => {
      socket = null;
      onStatus("offline");
      const delay = backoff * (0.5 + Math.random());
      backoff = Math.min(backoff * 2, 15000);
      setTimeout(connect, delay);
    };
    socket.onerror = () => {
      if (socket) socket.close();
    };
  }

  // The server answers {"type":"ping"} with a pong; silence means a dead link (TVs sleep, Wi-Fi drops).
  watchdog = setInterval(() => {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    if (Date.now() - lastHeard > 45000) {
      socket.close();
      return;
    }
    socket.send('{"type":"ping"}');
  }, 15000);

  connect();
  return { views, stop: () => clearInterval(watchdog) };
}

/** Shows the connection state in the element with id "link". */
function linkStatus(state) {
  const el = document.getElementById("link");
  if (!el) return;
  el.className = "link " + state;
  el.textContent = { live: "Live", connecting: "Connecting…", offline: "Reconnecting…" }[state] || state;
}

/** Keeps the element with id "clock" showing the time. */
function startClock() {
  const el = document.getElementById("clock");
  if (!el) return;
  const tick = () => {
    el.textContent = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  };
  tick();
  setInterval(tick, 10000);
}

/** "1:05:09" or "5:09" for a duration in ms. */
function duration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}` : `${minutes}:${seconds}`;
}

/** A view's table-time session as an element, or null. A running one counts up every second (by
 *  this screen's clock: the view only says when it started). */
function sessionBadge(view) {
  const session = view.session;
  if (!session) return null;
  if (session.stopped_ms === null || session.stopped_ms === undefined) {
    return h("span", { class: "session running", "data-started": session.started_ms },
      "Table time " + duration(Date.now() - session.started_ms));
  }
  return h("span", { class: "session" }, "Last session " + duration(session.elapsed_ms));
}

setInterval(() => {
  for (const el of document.querySelectorAll(".session.running")) {
    el.textContent = "Table time " + duration(Date.now() - Number(el.dataset.started));
  }
}, 1000);

/** Milliseconds left on a view's shot clock (its `shot_clock` field) by this screen's clock, or
 *  null when no shot is being timed. A running clock counts down from `deadline_ms`. */
function shotClockLeft(clock) {
  if (!clock || clock.remaining_ms === null || clock.remaining_ms === undefined) return null;
  if (clock.running && clock.deadline_ms) return Math.max(0, clock.deadline_ms - Date.now());
  return clock.remaining_ms;
}

// ---- Health on the TVs ----------------------------------------------------------------------
// The overview and the scoreboards ask the public `/healthz` every 15 s and, while the agent
// cannot do its job, show one short line (staff read the whole story in the console).

/** The TV's line for the failing parts of `/healthz` (`failing`: part names). */
function tvHealthLine(failing) {
  if (failing.includes("writer") || failing.includes("disk")) {
    return "Results are not being saved right now \u2014 please tell the staff.";
  }
  if (failing.includes("broker") || failing.includes("devices")) {
    return "Not hearing the tables\u2019 sensors \u2014 scores may lag; staff can score by hand.";
  }
  return "Scoring is held up \u2014 please tell the staff.";
}

(function tvHealth() {
  const body = document.body;
  if (!body || !(body.classList.contains("overview") || body.classList.contains("scoreboard"))) return;
  const line = document.createElement("div");
  line.id = "tv-health";
  line.className = "tv-health";
  line.setAttribute("role", "status");
  line.hidden = true;
  body.appendChild(line);
  async function check() {
    try {
      const response = await fetch("/healthz", { cache: "no-store" });
      const health = await response.json();
      const failing = response.status === 503 && Array.isArray(health.failing) ? health.failing : [];
      line.textContent = failing.length ? tvHealthLine(failing) : "";
      line.hidden = failing.length === 0;
    } catch (_) {
      // The agent does not answer: the link indicator already says so.
      line.hidden = true;
    }
  }
  check();
  setInterval(check, 15000);
})();
