"use strict";
// One table's scoreboard, for a TV beside the table.

const TABLE = document.body.dataset.table;

function playerPanel(view, index) {
  const match = view.match;
  const playing = view.status === "playing";
  const shooting = playing && view.shooter === index;
  const won = view.match_winner === index;
  const score = (view.score || [0, 0])[index];
  const stats = (view.stats || [])[index] || {};
  const consecutive = (view.consecutive_fouls || [0, 0])[index] || 0;
  const group = view.groups ? view.groups[index] : null;

  const foulDots = [];
  for (let i = 0; i < 3; i++) foulDots.push(h("span", { class: "dot" + (i < consecutive ? " on" : "") }));

  // The player sitting out is dimmed so that whose turn it is reads from across the room.
  const waiting = playing && !shooting && (view.shooter === 0 || view.shooter === 1);
  const name = match.players[index] || "";
  const classes = "player" + (shooting ? " shooting" : "") + (waiting ? " waiting" : "") + (won ? " won" : "");
  return h("section", { class: classes },
    h("div", { class: "player-turn" }, won ? "Winner" : shooting ? (view.break_shot ? "To break" : "At the table") : ""),
    // --chars lets the CSS shrink a long name to fit instead of cutting it off.
    h("div", { class: "player-name", style: `--chars:${Math.max(name.length, 8)}`, title: name }, name),
    h("div", { class: "player-score" }, score),
    h("div", { class: "player-meta" },
      group ? h("span", { class: "group " + group }, group === "solids" ? "Solids" : "Stripes") : null,
      // The dots count fouls in a row (three lose the rack where the rule applies); the match's
      // total is a separate number, so the two never read as one.
      h("span", { class: "fouls", title: "Fouls in a row" },
        "Fouls in a row", h("span", { class: "dots", "data-count": consecutive }, foulDots)),
      h("span", { class: "fouls-total" }, "Total fouls ", h("b", {}, stats.fouls || 0)),
      stats.high_run ? h("span", { class: "dim" }, `High run ${stats.high_run}`) : null,
      extensionTag(view, index)));
}

function ballTray(view) {
  const onTable = view.on_table || [];
  const pocketed = new Set((view.shot && view.shot.pocketed) || []);
  const balls = onTable.map((b) => ballIcon(b, pocketed.has(b) ? "dropping" : null));
  return h("div", { class: "tray" },
    balls.length ? balls : h("span", { class: "tray-empty" }, "Table cleared"));
}

function badges(view) {
  const list = [];
  const shooter = view.match.players[view.shooter] || "";
  if (view.ball_in_hand) {
    list.push(h("span", { class: "badge hand" },
      view.behind_head_string ? "Ball in hand — behind the head string" : "Ball in hand"));
  }
  if (view.push_out_available) list.push(h("span", { class: "badge push" }, "Push-out available"));
  if (view.can_pass) list.push(h("span", { class: "badge" }, `${shooter} may pass`));
  if (view.can_rerack) list.push(h("span", { class: "badge" }, "Re-rack option"));
  if (view.shot && view.shot.called) {
    const call = view.shot.called;
    list.push(h("span", { class: "badge" }, `Called: ${call.ball}` + (call.pocket ? ` in pocket ${call.pocket}` : "")));
  }
  return list;
}

// A tournament match called to this table and not yet broken: "Called: A v B, race to 7".
function calledLine(view) {
  const match = view.match;
  if (!match || !match.tournament || !view.break_shot || view.rack !== 1) return null;
  if ((view.score || [0, 0]).some((n) => n !== 0)) return null;
  return `Called: ${match.players[0]} v ${match.players[1]}, race to ${match.race_to} (${match.tournament.bracket_match})`;
}

function render(views) {
  const view = views.get(TABLE);
  const board = document.getElementById("board");
  const footer = document.getElementById("footer");
  const matchLine = document.getElementById("match-line");
  shown = view || null;
  document.body.dataset.tv = tvState(view);
  if (!view || !view.match) {
    // replaceChildren() writes a null child as the text "null": only real nodes go in.
    matchLine.replaceChildren(...present(view ? sessionBadge(view) : null));
    board.replaceChildren(idleBoard(view));
  } else {
    const match = view.match;
    const unit = match.game === "straight-pool" ? " points" : "";
    matchLine.replaceChildren(...present(
      h("span", { class: "game" }, gameName(match.game)),
      h("span", { class: "race" }, `Race to ${match.race_to}${unit}`),
      view.rack ? h("span", { class: "rack" }, `Rack ${view.rack}`) : null,
      sessionBadge(view)));
    const parts = [h("div", { class: "players" }, playerPanel(view, 0), h("div", { class: "vs" }, "vs"), playerPanel(view, 1))];
    const call = calledLine(view);
    if (call) parts.unshift(h("div", { class: "banner called" }, call));
    const over = view.status === "finished" || (view.match_winner ?? null) !== null;
    if (over) {
      parts.unshift(matchWonBoard(view));
    } else {
      parts.push(shotClockPanel(view));
      parts.push(ballTray(view));
      const b = badges(view);
      if (b.length) parts.push(h("div", { class: "badges" }, b));
      if (view.foul) {
        parts.push(h("div", { class: "banner foul" }, "Foul — " + (foulText(view.foul_reasons) || "called")));
      }
      if ((view.rack_winner ?? null) !== null) {
        parts.splice(1, 0, rackWonBoard(view));
      }
    }
    board.replaceChildren(...present(...parts));
  }
  const warnings = view ? offlineDevices(view).map((d) => h("span", { class: "warning" }, `⚠ ${d.kind} ${d.device} is offline`)) : [];
  if (view && view.missing_events > 0) {
    warnings.push(h("span", { class: "warning" }, `⚠ ${view.missing_events} sensor event(s) lost — check the score`));
  }
  document.body.classList.toggle("trouble", warnings.length > 0);
  if (warnings.length) warnings.unshift(h("span", { class: "trouble-title" }, "Device trouble — staff, please check the table"));
  if (view && view.scoring) warnings.unshift(scoringMode(view.scoring));
  footer.replaceChildren(...warnings);
  tickShotClock();
}

const SCORING_MODES = { camera: "Camera scoring", sensors: "Pocket sensors", manual: "Scored by staff" };

/** How the table is scored right now (camera, sensors, manual), small in the footer. */
function scoringMode(scoring) {
  return h("span", { class: "scoring-mode", id: "scoring-mode", "data-mode": scoring.mode },
    SCORING_MODES[scoring.mode] || scoring.mode);
}

// ---- TV states, the shot clock and the link (the screen across the room) ----

/** The view on screen, for the shot clock's countdown between updates. */
let shown = null;

/** The non-null arguments: DOM methods would write `null` as text. */
function present(...nodes) {
  return nodes.filter((n) => n !== null && n !== undefined && n !== false && n !== "");
}

/** What the TV is showing: idle, playing, rack-won or match-won. */
function tvState(view) {
  if (!view || !view.match) return "idle";
  if (view.status === "finished" || (view.match_winner ?? null) !== null) return "match-won";
  if ((view.rack_winner ?? null) !== null) return "rack-won";
  return "playing";
}

/** No match: the venue's name, the table, and what comes next. */
function idleBoard(view) {
  const venue = document.body.dataset.venue || "";
  const running = view && view.session && (view.session.stopped_ms ?? null) === null;
  return h("div", { class: "idle" },
    venue ? h("div", { class: "idle-venue" }, venue) : null,
    h("div", { class: "idle-title" }, TABLE),
    h("div", { class: "idle-sub" }, "Table open — rack ’em up"),
    h("div", { class: "idle-next" }, running ? "Next: your match — the table time is running" : "Next: ask at the bar to start a match"));
}

/** The rack just won: who, and the score now, large until the next break. */
function rackWonBoard(view) {
  const winner = view.match.players[view.rack_winner] || "";
  const score = view.score || [0, 0];
  return h("div", { class: "moment rack-won" },
    h("div", { class: "moment-title" }, `${winner} wins the rack`),
    h("div", { class: "moment-score" }, `${score[0]} – ${score[1]}`),
    h("div", { class: "moment-sub" }, `${view.match.players[view.shooter] || ""} breaks next`));
}

/** The match won: the winner and the final score, until the next match starts. */
function matchWonBoard(view) {
  const match = view.match;
  const winner = match.players[view.match_winner];
  const score = view.score || [0, 0];
  return h("div", { class: "moment match-won" },
    h("div", { class: "banner win" }, winner ? `${winner} wins the match!` : "Match over"),
    h("div", { class: "moment-score" }, `${score[0]} – ${score[1]}`),
    h("div", { class: "moment-sub" }, `${gameName(match.game)} · race to ${match.race_to} · next: the table is open`));
}

/** The shot clock, large; its number counts down by tickShotClock(). Null without a clock. */
function shotClockPanel(view) {
  const clock = view.shot_clock;
  if (!clock) return null;
  return h("div", { id: "shot-clock", class: "shot-clock" },
    h("span", { class: "sc-label" }, "Shot clock"),
    h("span", { class: "sc-time" }, ""),
    h("span", { class: "sc-note" }, ""));
}

/** "Extension" while the player still has this rack's extension. */
function extensionTag(view, index) {
  const clock = view.shot_clock;
  if (!clock || !clock.extensions_left || !clock.extensions_left[index]) return null;
  return h("span", { class: "extension", title: "Shot clock extension left in this rack" }, "Extension");
}

function tickShotClock() {
  const el = document.getElementById("shot-clock");
  if (!el) return;
  const clock = shown && shown.shot_clock;
  const left = shotClockLeft(clock);
  el.classList.toggle("idle", left === null);
  el.classList.toggle("warning", left !== null && (clock.warning || left <= clock.warning_ms));
  el.classList.toggle("paused", !!(clock && clock.paused));
  el.querySelector(".sc-time").textContent = left === null ? "—" : String(Math.ceil(left / 1000));
  el.querySelector(".sc-note").textContent = !clock ? ""
    : clock.paused ? "Paused"
    : left === null ? "Waiting for the balls to stop"
    : clock.first_shot ? "First shot after the break" : "";
}

/** The link to the agent: when it is down the board dims and says so, so stale scores never
 *  pass for live ones. */
let everLive = false;

function tvLink(state) {
  linkStatus(state);
  everLive = everLive || state === "live";
  document.body.classList.toggle("stale", state !== "live");
  let note = document.getElementById("stale-note");
  if (!note) {
    note = h("div", { id: "stale-note", class: "stale-note", role: "status" });
    document.body.append(note);
  }
  note.textContent = state === "live" ? "" : everLive ? "Reconnecting…" : "Connecting…";
  note.hidden = state === "live";
}

setInterval(tickShotClock, 200);
startClock();
dojoLive({ tables: [TABLE], onChange: (views) => { render(views); tvPairing(views); }, onStatus: tvLink, onNotice: tvNotice });
