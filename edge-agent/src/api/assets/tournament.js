"use strict";
// A tournament's live page for the venue's TVs and phones (/tournaments/{id}): the bracket (drawn
// by the shared renderer, bracket.js), the matches called to tables ("called: A v B, race to 7")
// and what's next. The view comes from GET /api/v1/tournaments/{id} and then from /ws, whose
// "tournament" messages carry each committed change; after a reconnect the page asks again.
// Every value is set as text (h() in live.js, the renderer's textContent).

const tournamentId = document.body.dataset.tournament || "";
const STATUS = { draft: "Check-in", running: "Live", complete: "Finished" };

function since(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min`;
}

function callItem(call) {
  return h("li", { class: "t-call", "data-match": call.bracket_match },
    h("span", { class: "t-table" }, `Table ${call.table}`),
    h("span", { class: "t-players" }, `called: ${call.players[0]} v ${call.players[1]}, race to ${call.race_to}`),
    h("span", { class: "t-since dim" }, `${call.bracket_match} · ${since(call.called_ms)} ago`));
}

function queueItem(entry) {
  return h("li", { class: "t-queued", "data-match": entry.bracket_match },
    h("span", { class: "t-players" }, `${entry.players[0]} v ${entry.players[1]}`),
    h("span", { class: "t-since dim" },
      `${entry.bracket_match} · race to ${entry.race_to}` + (entry.reserved_table ? ` · table ${entry.reserved_table}` : "")));
}

function showTournament(view) {
  document.getElementById("t-error").hidden = true;
  document.getElementById("t-name").textContent = view.name;
  document.title = view.name;
  const status = document.getElementById("t-status");
  status.textContent = STATUS[view.status] || view.status;
  status.className = "pill " + view.status;
  const champion = document.getElementById("t-champion");
  champion.hidden = !view.champion;
  champion.textContent = view.champion ? `Champion: ${view.champion}` : "";
  const calls = view.calls || [];
  document.getElementById("t-calls").replaceChildren(...calls.map(callItem));
  document.getElementById("t-calls-empty").hidden = calls.length > 0;
  const queue = view.queue || [];
  document.getElementById("t-queue").replaceChildren(...queue.map(queueItem));
  document.getElementById("t-queue-empty").hidden = queue.length > 0;
  const draft = view.status === "draft";
  document.getElementById("t-draft").hidden = !draft;
  document.getElementById("t-entrants").replaceChildren(...(draft ? view.entrants : []).map((e) =>
    h("li", { class: e.checked_in ? "t-in" : "t-out" }, e.name, e.checked_in ? " ✓" : "")));
  const container = document.getElementById("bracket");
  if (view.bracket && window.DojoBracket) {
    window.DojoBracket.render(container, view.bracket, { matchHref: () => null, empty: "No bracket yet." });
  } else {
    container.replaceChildren();
  }
}

async function loadTournament() {
  try {
    const response = await fetch(`/api/v1/tournaments/${encodeURIComponent(tournamentId)}`, { cache: "no-store" });
    const data = await response.json();
    if (!response.ok) throw new Error(data && data.error ? data.error : response.statusText);
    showTournament(data);
  } catch (error) {
    const el = document.getElementById("t-error");
    el.textContent = `Cannot show this tournament: ${error.message}`;
    el.hidden = false;
  }
}

// Only tournament messages matter here: a filter naming no real table keeps the tables' updates out.
dojoLive({
  tables: ["_tournaments"],
  onStatus: (state) => {
    linkStatus(state);
    if (state === "live") loadTournament();
  },
  onNotice: (message) => {
    if (message.type === "tournament" && message.tournament && message.tournament.id === tournamentId) {
      showTournament(message.tournament);
    }
  },
});
startClock();
loadTournament();
