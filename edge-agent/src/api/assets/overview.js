"use strict";
// The venue overview: one live card per table.

const PHONE_SIZED = window.matchMedia("(max-width: 600px)");
const STATUS_LABELS = { idle: "Open", playing: "Playing", finished: "Finished" };

function playerRow(view, index) {
  const match = view.match;
  const score = (view.score || [0, 0])[index];
  const shooting = view.status === "playing" && view.shooter === index;
  const won = view.match_winner === index;
  return h("div", { class: "row" + (shooting ? " shooting" : "") + (won ? " won" : "") },
    h("span", { class: "turn", "aria-label": shooting ? "at the table" : null }, shooting ? "▶" : ""),
    h("span", { class: "name" }, match.players[index]),
    won ? h("span", { class: "crown", title: "Winner" }, "🏆") : null,
    h("span", { class: "score" }, score));
}

function card(view) {
  const match = view.match;
  const status = view.status || "idle";
  const children = [
    h("div", { class: "card-head" },
      h("span", { class: "card-table" }, tableName(view)),
      sessionBadge(view),
      h("span", { class: "pill " + status }, STATUS_LABELS[status] || status)),
  ];
  if (match) {
    const unit = match.game === "straight-pool" ? " points" : "";
    children.push(
      h("div", { class: "card-game" },
        gameName(match.game), h("span", { class: "dim" }, ` · Race to ${match.race_to}${unit}`),
        view.rack ? h("span", { class: "dim" }, ` · Rack ${view.rack}`) : null),
      h("div", { class: "players" }, playerRow(view, 0), playerRow(view, 1)));
    const flags = [];
    if (match.tournament && view.break_shot && view.rack === 1 && !(view.score || [0, 0]).some((n) => n !== 0)) {
      flags.push(h("span", { class: "flag called" }, `Called: ${match.players[0]} v ${match.players[1]}, race to ${match.race_to}`));
    }
    if (status === "playing" && view.ball_in_hand) flags.push(h("span", { class: "flag hand" }, "Ball in hand"));
    if (status === "playing" && view.push_out_available) flags.push(h("span", { class: "flag" }, "Push-out"));
    if (view.foul) flags.push(h("span", { class: "flag foul" }, "Foul: " + foulText(view.foul_reasons)));
    if (status === "playing" && view.on_table) {
      flags.push(h("span", { class: "mini-balls" }, view.on_table.map((b) => ballIcon(b, "mini"))));
    }
    if (flags.length) children.push(h("div", { class: "flags" }, flags));
  } else {
    children.push(h("div", { class: "card-free" }, "Table open"));
  }
  const warnings = offlineDevices(view).map((d) => h("div", { class: "warning" }, `⚠ ${d.kind} ${d.device} offline`));
  if (view.missing_events > 0) {
    warnings.push(h("div", { class: "warning" }, `⚠ ${view.missing_events} sensor event(s) lost`));
  }
  if (warnings.length) children.push(h("div", { class: "warnings" }, warnings));
  const classes = "card " + status + (warnings.length ? " has-warning" : "");
  // On a phone a card opens the table's phone view (read-only for spectators); elsewhere the TV page.
  const base = PHONE_SIZED.matches ? "/phone/" : "/tables/";
  return h("a", { class: classes, href: base + encodeURIComponent(view.table) }, children);
}

function render(views) {
  const grid = document.getElementById("tables");
  const sorted = venueOrder(views.values());
  grid.replaceChildren(...sorted.map(card));
  document.getElementById("empty").hidden = sorted.length > 0;
}

startClock();
dojoLive({ tables: null, onChange: render, onStatus: linkStatus });
