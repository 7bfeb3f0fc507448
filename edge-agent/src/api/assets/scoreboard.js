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
      h("span", { class: "fouls", title: "Fouls in a row" },
        "Fouls ", h("b", {}, stats.fouls || 0), h("span", { class: "dots" }, foulDots)),
      stats.high_run ? h("span", { class: "dim" }, `High run ${stats.high_run}`) : null));
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

function render(views) {
  const view = views.get(TABLE);
  const board = document.getElementById("board");
  const footer = document.getElementById("footer");
  const matchLine = document.getElementById("match-line");
  if (!view || !view.match) {
    matchLine.replaceChildren(view ? sessionBadge(view) || "" : "");
    board.replaceChildren(h("div", { class: "idle" },
      h("div", { class: "idle-title" }, TABLE),
      h("div", { class: "idle-sub" }, "Table open — rack ’em up")));
  } else {
    const match = view.match;
    const unit = match.game === "straight-pool" ? " points" : "";
    matchLine.replaceChildren(
      h("span", { class: "game" }, gameName(match.game)),
      h("span", { class: "race" }, `Race to ${match.race_to}${unit}`),
      view.rack ? h("span", { class: "rack" }, `Rack ${view.rack}`) : null,
      sessionBadge(view));
    const parts = [h("div", { class: "players" }, playerPanel(view, 0), h("div", { class: "vs" }, "vs"), playerPanel(view, 1))];
    const over = view.status === "finished" || (view.match_winner ?? null) !== null;
    if (over) {
      const winner = match.players[view.match_winner];
      parts.push(h("div", { class: "banner win" }, winner ? `${winner} wins the match!` : "Match over"));
    } else {
      parts.push(ballTray(view));
      const b = badges(view);
      if (b.length) parts.push(h("div", { class: "badges" }, b));
      if (view.foul) {
        parts.push(h("div", { class: "banner foul" }, "Foul — " + (foulText(view.foul_reasons) || "called")));
      } else if ((view.rack_winner ?? null) !== null) {
        parts.push(h("div", { class: "banner rack" }, `${match.players[view.rack_winner]} wins the rack`));
      }
    }
    board.replaceChildren(...parts);
  }
  const warnings = view ? offlineDevices(view).map((d) => h("span", { class: "warning" }, `⚠ ${d.kind} ${d.device} is offline`)) : [];
  if (view && view.missing_events > 0) {
    warnings.push(h("span", { class: "warning" }, `⚠ ${view.missing_events} sensor event(s) lost — check the score`));
  }
  footer.replaceChildren(...warnings);
}

startClock();
dojoLive({ tables: [TABLE], onChange: (views) => { render(views); tvPairing(views); }, onStatus: linkStatus, onNotice: tvNotice });
