"use strict";
// The staff console's Tournaments tab (docs/tournaments.md, "At the venue"): make a draft, enter
// and check in players, seed them by hand, start it; then the calls (forfeit a no-show once the
// call timeout has passed), what's next, and results entered or corrected by hand. Loaded after
// staff.js and uses its api(), $() and notice(); every value is set as text. The selected
// tournament follows /ws ("tournament" messages) like the other screens.

const tour = { selected: null, view: null, live: null };

async function tourCall(method, path, body, done) {
  try {
    const view = await api(method, path, body);
    if (view && view.id) showTour(view);
    if (done) notice("ok", done);
    return view;
  } catch (failure) {
    notice("error", failure.status ? `${failure.message} (HTTP ${failure.status})` : failure.message);
    return null;
  }
}

function tourPath(suffix) {
  return `/api/v1/tournaments/${encodeURIComponent(tour.selected)}${suffix || ""}`;
}

async function loadTours() {
  try {
    const list = await api("GET", "/api/v1/tournaments");
    $("tour-list").replaceChildren(...list.tournaments.map((t) => {
      const button = h("button", { class: "btn" + (t.id === tour.selected ? " primary" : ""), type: "button", "data-tournament": t.id },
        `${t.name} · ${t.status} · ${t.entrants} players`);
      button.addEventListener("click", () => selectTour(t.id));
      return h("li", null, button);
    }));
  } catch (failure) {
    notice("error", failure.message);
  }
}

async function selectTour(id) {
  tour.selected = id;
  await tourCall("GET", tourPath());
  loadTours();
}

function entrantRow(view, entrant) {
  const row = h("li", { class: "tour-entrant", "data-entrant": entrant.name }, h("span", null, entrant.name));
  if (view.status !== "draft") return row;
  const check = h("button", { class: "btn small", type: "button", "data-check-in": entrant.name }, entrant.checked_in ? "Checked in ✓" : "Check in");
  check.addEventListener("click", () => tourCall("POST", tourPath("/check-in"), { name: entrant.name, checked_in: !entrant.checked_in }));
  const remove = h("button", { class: "btn small danger", type: "button" }, "Remove");
  remove.addEventListener("click", () => tourCall("DELETE", tourPath(`/entrants/${encodeURIComponent(entrant.name)}`)));
  row.append(check, remove);
  return row;
}

function callRow(call) {
  const due = Date.now() >= call.forfeit_from_ms;
  const row = h("li", { class: "tour-call", "data-match": call.bracket_match },
    h("span", null, `${call.bracket_match} · table ${call.table}: ${call.players[0]} v ${call.players[1]}, race to ${call.race_to}`));
  for (const player of call.players) {
    const forfeit = h("button", { class: "btn small danger", type: "button", disabled: !due,
      title: due ? "" : "Possible once the call timeout has passed" }, `${player} no-show`);
    forfeit.addEventListener("click", () => tourCall("POST", tourPath("/entries"), { forfeit: { match: call.bracket_match, player } }, `${player} forfeits ${call.bracket_match}`));
    row.append(forfeit);
  }
  return row;
}

function showTour(view) {
  if (!view || view.id !== tour.selected) return;
  tour.view = view;
  $("tour-detail").hidden = false;
  $("tour-title").textContent = `${view.name} (${view.status})`;
  $("tour-page").setAttribute("href", `/tournaments/${encodeURIComponent(view.id)}`);
  $("tour-draft").hidden = view.status !== "draft";
  $("tour-running").hidden = view.status === "draft";
  $("tour-entrants").replaceChildren(...view.entrants.map((e) => entrantRow(view, e)));
  $("tour-seeds").value = view.seeds.join("\n");
  $("tour-calls").replaceChildren(...(view.calls || []).map(callRow));
  $("tour-queue").replaceChildren(...(view.queue || []).map((q) =>
    h("li", { "data-match": q.bracket_match }, `${q.bracket_match}: ${q.players[0]} v ${q.players[1]}, race to ${q.race_to}`)));
  $("tour-champion").textContent = view.champion ? `Champion: ${view.champion}` : "";
}

$("tour-create").addEventListener("submit", (event) => {
  event.preventDefault();
  const race = Number($("tour-race").value);
  const body = {
    name: $("tour-name").value,
    format: $("tour-format").value,
    options: race > 0 ? { race: { to: race } } : {},
    entrants: $("tour-players").value.split("\n").map((s) => s.trim()).filter(Boolean),
    tables: $("tour-tables").value.split(",").map((s) => s.trim()).filter(Boolean),
  };
  api("POST", "/api/v1/tournaments", body).then((view) => {
    tour.selected = view.id;
    showTour(view);
    loadTours();
    notice("ok", `Tournament ${view.name} made`);
  }).catch((failure) => notice("error", `${failure.message} (HTTP ${failure.status})`));
});

$("tour-add").addEventListener("submit", (event) => {
  event.preventDefault();
  tourCall("POST", tourPath("/entrants"), { name: $("tour-add-name").value }).then(() => { $("tour-add-name").value = ""; });
});

$("tour-seed-save").addEventListener("click", () =>
  tourCall("PUT", tourPath("/seeds"), { players: $("tour-seeds").value.split("\n").map((s) => s.trim()).filter(Boolean) }, "Seeds saved"));

$("tour-start").addEventListener("click", () => tourCall("POST", tourPath("/start"), undefined, "Tournament started"));

$("tour-result").addEventListener("submit", (event) => {
  event.preventDefault();
  const match = $("tour-r-match").value.trim();
  const found = ((tour.view && tour.view.bracket && tour.view.bracket.matches) || []).find((m) => m.id === match);
  const score = [Number($("tour-r-a").value), Number($("tour-r-b").value)];
  const players = found ? found.players : [null, null];
  const winner = score[0] > score[1] ? players[0] : players[1];
  const kind = found && found.status === "done" ? "correct" : "result";
  tourCall("POST", tourPath("/entries"), { [kind]: { match, winner, score } }, `${match}: ${kind === "correct" ? "corrected" : "entered"}`);
});

for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    $("pane-tournaments").hidden = tab.dataset.tab !== "tournaments";
    if (tab.dataset.tab === "tournaments") {
      loadTours();
      if (tour.selected) selectTour(tour.selected);
      if (!tour.live) {
        tour.live = dojoLive({
          tables: ["_tournaments"],
          onNotice: (message) => {
            if (message.type === "tournament" && message.tournament) showTour(message.tournament);
          },
        });
      }
    }
  });
}
