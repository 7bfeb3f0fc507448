"use strict";
// The stream overlay: a lower third for one table, live from /ws, on a transparent page.
// ?pos=bottom-left|bottom-center|bottom-right|top-left|top-center|top-right (default bottom-center)
// and ?scale=0.5..3 (default 1) place and size it for the stream's layout.

const OVERLAY_TABLE = document.body.dataset.table;
const OVERLAY_POSITIONS = ["bottom-left", "bottom-center", "bottom-right", "top-left", "top-center", "top-right"];

function overlayOptions() {
  const params = new URLSearchParams(location.search);
  const pos = OVERLAY_POSITIONS.includes(params.get("pos")) ? params.get("pos") : "bottom-center";
  const scale = Number(params.get("scale"));
  return { pos, scale: Number.isFinite(scale) && scale >= 0.5 && scale <= 3 ? scale : 1 };
}

function overlayBall(number) {
  const colour = BALL_COLOURS[number > 8 ? number - 8 : number] || "#888";
  return h("span", { class: "lt-ball " + (number > 8 ? "stripe" : "solid"), style: `--c:${colour}`, title: `Ball ${number}` },
    h("span", { class: "n" }, number));
}

let overlayView = null;

function renderOverlay(views) {
  overlayView = views.get(OVERLAY_TABLE) || null;
  const box = document.getElementById("overlay");
  const view = overlayView;
  if (!view || !view.match) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  const match = view.match;
  const unit = match.game === "straight-pool" ? " points" : "";
  document.getElementById("lt-game").textContent = gameName(match.game);
  document.getElementById("lt-race").textContent = `Race to ${match.race_to}${unit}`;
  const playing = view.status === "playing";
  for (const row of document.querySelectorAll(".lt-row")) {
    const seat = Number(row.dataset.seat);
    row.classList.toggle("shooting", playing && view.shooter === seat);
    row.classList.toggle("won", view.match_winner === seat);
    row.querySelector(".lt-name").textContent = match.players[seat] || "";
    row.querySelector(".lt-score").textContent = String((view.score || [0, 0])[seat]);
  }
  const balls = playing ? (view.on_table || []).map(overlayBall) : [];
  document.getElementById("lt-balls").replaceChildren(...balls);
  tickOverlayClock();
}

function tickOverlayClock() {
  const el = document.getElementById("lt-clock");
  const clock = overlayView && overlayView.status === "playing" ? overlayView.shot_clock : null;
  const left = shotClockLeft(clock);
  el.hidden = left === null;
  if (left === null) return;
  el.textContent = String(Math.ceil(left / 1000));
  el.classList.toggle("warning", left <= clock.warning_ms || clock.warning);
  el.classList.toggle("paused", clock.paused);
}

function overlayStatus(state) {
  document.body.classList.toggle("stale", state !== "live");
  document.getElementById("lt-link").hidden = state === "live";
}

(() => {
  const options = overlayOptions();
  const box = document.getElementById("overlay");
  box.className = "lower-third pos-" + options.pos;
  document.body.style.setProperty("--scale", String(options.scale));
  setInterval(tickOverlayClock, 200);
  dojoLive({ tables: [OVERLAY_TABLE], onChange: renderOverlay, onStatus: overlayStatus });
})();
