"use strict";
// The rack replay page: GET /api/v1/matches/{id}/layouts, then each rack's camera-bracketed shots
// drawn as the balls lay at rest, shot by shot (◀ ▶ or the arrow keys). Data only ever goes into
// the page as text or SVG attributes, never as HTML.

const SVG_NS = "http://www.w3.org/2000/svg";
// The playing surface in SVG units: the long side (the layout's y) runs left to right.
const RAIL = 40, LENGTH = 1000, WIDTH = 500, BALL_R = 13;
// Pocket centres in layout units (docs/protocol.md, "On `camera`").
const POCKETS = [[0, 0], [0, 0.5], [0, 1], [1, 1], [1, 0.5], [1, 0]];

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

/** Layout units to SVG: x across the table (top to bottom), y along it (left to right). */
function at(x, y) {
  return [RAIL + y * LENGTH, RAIL + x * WIDTH];
}

function clamp01(v) {
  const n = Number(v);
  return Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : 0;
}

function drawTable(balls) {
  const table = document.getElementById("table");
  const parts = [
    svg("rect", { class: "rail", x: 0, y: 0, width: LENGTH + 2 * RAIL, height: WIDTH + 2 * RAIL, rx: 18 }),
    svg("rect", { class: "felt", x: RAIL, y: RAIL, width: LENGTH, height: WIDTH }),
  ];
  for (const [px, py] of POCKETS) {
    const [cx, cy] = at(px, py);
    parts.push(svg("circle", { class: "pocket", cx, cy, r: 22 }));
  }
  for (const ball of balls) {
    const n = Number(ball.n) | 0;
    const [cx, cy] = at(clamp01(ball.x), clamp01(ball.y));
    const colour = BALL_COLOURS[n > 8 ? n - 8 : n] || "#888";
    const group = svg("g", { class: "ball", "data-n": n });
    group.append(svg("circle", { cx, cy, r: BALL_R, fill: n > 8 ? "#f4f1e8" : colour, stroke: "#000", "stroke-width": 1 }));
    if (n > 8) group.append(svg("rect", { x: cx - BALL_R, y: cy - 5, width: 2 * BALL_R, height: 10, fill: colour }));
    if (n > 0) group.append(svg("text", { class: "ball-num", x: cx, y: cy }, n));
    parts.push(group);
  }
  table.replaceChildren(...parts);
}

const state = { data: null, rack: 0, shot: 0 };

function currentRack() {
  return state.data && state.data.racks[state.rack];
}

function render() {
  const rack = currentRack();
  const step = document.getElementById("step");
  const shotInfo = document.getElementById("shot");
  const message = document.getElementById("message");
  for (const [i, button] of document.querySelectorAll("#racks button").entries()) {
    button.setAttribute("aria-pressed", String(i === state.rack));
  }
  if (!rack || rack.shots.length === 0) {
    drawTable([]);
    step.textContent = "";
    shotInfo.replaceChildren();
    message.textContent = "No camera layouts for this match: its table had no camera, or none saw a shot end.";
    document.getElementById("prev").disabled = true;
    document.getElementById("next").disabled = true;
    return;
  }
  message.textContent = "";
  const shot = rack.shots[state.shot];
  drawTable(shot.balls || []);
  step.textContent = `Rack ${rack.rack} · shot ${state.shot + 1} of ${rack.shots.length}`;
  const pocketed = (shot.pocketed || []).map((n) => (n === 0 ? "cue ball" : String(n)));
  const parts = [h("span", null, pocketed.length ? `Pocketed: ${pocketed.join(", ")}` : "Nothing pocketed")];
  for (const flag of shot.flags || []) parts.push(h("span", { class: "warning" }, `⚠ ${flag.detail}`));
  shotInfo.replaceChildren(...parts);
  document.getElementById("prev").disabled = state.shot === 0;
  document.getElementById("next").disabled = state.shot >= rack.shots.length - 1;
}

function chooseRack(index) {
  state.rack = index;
  state.shot = 0;
  render();
}

function move(delta) {
  const rack = currentRack();
  if (!rack) return;
  state.shot = Math.min(Math.max(state.shot + delta, 0), rack.shots.length - 1);
  render();
}

async function load() {
  const parts = location.pathname.split("/");
  const matchId = decodeURIComponent(parts[2] || "");
  const message = document.getElementById("message");
  let data;
  try {
    const response = await fetch(`/api/v1/matches/${encodeURIComponent(matchId)}/layouts`);
    data = await response.json();
    if (!response.ok) {
      message.textContent = data.error || `The agent answered ${response.status}`;
      return;
    }
  } catch (error) {
    message.textContent = "The agent cannot be reached.";
    return;
  }
  state.data = data;
  const players = Array.isArray(data.players) ? data.players.join(" vs ") : "";
  document.getElementById("match-line").replaceChildren(
    h("span", { class: "game" }, gameName(data.game)),
    h("span", null, players),
    h("span", { class: "dim" }, data.table || ""));
  const buttons = data.racks.map((rack, i) => {
    const button = h("button", { type: "button", "data-rack": rack.rack }, `Rack ${rack.rack}`);
    button.addEventListener("click", () => chooseRack(i));
    return button;
  });
  document.getElementById("racks").replaceChildren(...buttons);
  const wanted = Number(new URLSearchParams(location.search).get("rack"));
  const index = data.racks.findIndex((rack) => rack.rack === wanted);
  chooseRack(index >= 0 ? index : 0);
}

document.getElementById("prev").addEventListener("click", () => move(-1));
document.getElementById("next").addEventListener("click", () => move(1));
document.addEventListener("keydown", (event) => {
  if (event.key === "ArrowLeft") move(-1);
  if (event.key === "ArrowRight") move(1);
});
load();
