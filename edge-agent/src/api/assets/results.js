"use strict";
// The day's results at the venue: finished matches from /api/v1/results, newest first, with
// filters (day, table, player) and keyset paging ("Older matches"). Each rack links to its replay.

const results = { next: null, loading: false };

function todayLocal() {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

function resultsQuery(before) {
  const params = new URLSearchParams();
  const day = document.getElementById("f-day").value;
  const table = document.getElementById("f-table").value.trim();
  const player = document.getElementById("f-player").value.trim();
  if (day) {
    params.set("day", day);
    // The day is the screen's local day: minutes east of UTC on that date.
    params.set("tz", String(-new Date(`${day}T12:00:00`).getTimezoneOffset()));
  }
  if (table) params.set("table", table);
  if (player) params.set("player", player);
  if (before !== null && before !== undefined) params.set("before", String(before));
  params.set("limit", "20");
  return params;
}

function timeOf(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function matchItem(m) {
  const racks = (m.racks || []).map((r) => h("li", { class: "rack-item" },
    h("a", { class: "rack-link", href: `/matches/${encodeURIComponent(m.match_id)}/replay?rack=${r.ordinal}` },
      `Rack ${r.ordinal}`),
    ` · ${m.players[r.winner] || ""} · ${r.score[0]}–${r.score[1]}`));
  const stat = (i) => {
    const s = (m.stats || [])[i] || {};
    return `${m.players[i]}: ${s.balls_pocketed || 0} balls, high run ${s.high_run || 0}, ${s.fouls || 0} fouls`;
  };
  return h("li", { class: "result", "data-match": m.match_id },
    h("div", { class: "result-head" },
      h("span", { class: "result-time" }, `${timeOf(m.started_ms)}–${timeOf(m.finished_ms)}`),
      h("span", { class: "result-table" }, m.table),
      h("span", { class: "result-game" }, `${gameName(m.game)} · race to ${m.race_to}`)),
    h("div", { class: "result-score" },
      h("span", { class: "result-player" + (m.winner === 0 ? " won" : "") }, m.players[0]),
      h("span", { class: "result-points" }, `${m.score[0]} – ${m.score[1]}`),
      h("span", { class: "result-player" + (m.winner === 1 ? " won" : "") }, m.players[1])),
    h("div", { class: "result-stats dim" }, stat(0), h("br", {}), stat(1)),
    racks.length ? h("ol", { class: "rack-list" }, racks) : null);
}

async function loadResults(older) {
  if (results.loading) return;
  results.loading = true;
  const list = document.getElementById("results-list");
  const error = document.getElementById("results-error");
  try {
    const response = await fetch("/api/v1/results?" + resultsQuery(older ? results.next : null));
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      error.textContent = `${body.error || "The results cannot be read"} (HTTP ${response.status})`;
      error.hidden = false;
      return;
    }
    error.hidden = true;
    const items = (body.matches || []).map(matchItem);
    if (older) list.append(...items); else list.replaceChildren(...items);
    results.next = body.next_before ?? null;
    document.getElementById("older").hidden = results.next === null;
    document.getElementById("results-empty").hidden = list.children.length > 0;
  } catch (_) {
    error.textContent = "The agent cannot be reached.";
    error.hidden = false;
  } finally {
    results.loading = false;
  }
}

(() => {
  const params = new URLSearchParams(location.search);
  document.getElementById("f-day").value = params.has("day") ? params.get("day") : todayLocal();
  document.getElementById("f-table").value = params.get("table") || "";
  document.getElementById("f-player").value = params.get("player") || "";
  document.getElementById("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    loadResults(false);
  });
  document.getElementById("older").addEventListener("click", () => loadResults(true));
  startClock();
  loadResults(false);
})();
