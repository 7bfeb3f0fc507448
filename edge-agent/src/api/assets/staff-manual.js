"use strict";
// The staff console's manual scoring pad and corrections panel (loaded after staff.js, whose
// `state`, `act`, `write`, `views` and `render` it uses). Scoring by hand sends the same actions a
// table's sensors and buttons would (pocket, cue_ball, end_turn); corrections (+1/−1 rack, set the
// score, void) need a reason, and go with the name typed here (X-Dojo-Staff) so the event log and
// the cloud know who made them and why. Everything shown is text (textContent), never markup.

const STAFF_NAME_KEY = "dojo.staffName";
const FULL_RACK = { "eight-ball": 15, "straight-pool": 15, "nine-ball": 9, "ten-ball": 10 };

const manual = { pocket: null };

/** The balls that can drop now: those on the table, or a fresh rack once a rack is over. */
function droppable(view) {
  if (view.rack_winner === 0 || view.rack_winner === 1) {
    const count = FULL_RACK[view.match && view.match.game] || 15;
    return Array.from({ length: count }, (_, i) => i + 1);
  }
  return view.on_table || [];
}

/** What the shot in progress holds so far, in words. */
function shotText(shot) {
  if (!shot) return "";
  const parts = [];
  if (shot.pocketed && shot.pocketed.length) parts.push("down: " + shot.pocketed.join(", "));
  if (shot.cue_ball_pocketed) parts.push("cue ball down");
  if (shot.called) parts.push(`called: ${shot.called.ball}` + (shot.called.pocket ? ` in ${shot.called.pocket}` : ""));
  if (shot.safety) parts.push("safety");
  if (shot.push_out) parts.push("push-out");
  return parts.length ? "This shot so far: " + parts.join(" · ") : "Nothing entered for this shot yet.";
}

function renderManual(view) {
  const playing = !!view && view.status === "playing";
  $("manual").hidden = !playing;
  $("corrections").hidden = !playing;
  if (!playing) {
    $("void-confirm").hidden = true;
    return;
  }
  const down = (view.shot && view.shot.pocketed) || [];
  const balls = droppable(view);
  const pad = $("manual-balls");
  const key = balls.join(",") + "|" + down.join(",") + "|" + state.busy;
  if (pad.dataset.key !== key) {
    pad.dataset.key = key;
    pad.replaceChildren(...balls.map((b) => h("button", {
      class: "btn pick-ball manual-ball" + (down.includes(b) ? " selected" : ""),
      type: "button",
      "data-ball": b,
      "aria-pressed": down.includes(b) ? "true" : "false",
    }, ballIcon(b, "call-ball"))));
  }
  for (const button of pad.querySelectorAll(".manual-ball")) {
    button.disabled = state.busy || down.includes(Number(button.dataset.ball));
  }
  for (const button of document.querySelectorAll(".manual-pocket")) {
    const pocket = button.dataset.pocket ? Number(button.dataset.pocket) : null;
    button.classList.toggle("selected", pocket === manual.pocket);
  }
  $("manual-cue").disabled = state.busy || !!(view.shot && view.shot.cue_ball_pocketed);
  $("manual-shot").textContent = shotText(view.shot);

  for (const seat of [0, 1]) {
    const row = document.querySelector(`.adjust-seat[data-seat="${seat}"]`);
    row.querySelector(".adjust-name").textContent =
      `${view.match.players[seat]}: ${(view.score || [0, 0])[seat]}`;
  }
  for (const button of document.querySelectorAll("#corrections button")) button.disabled = state.busy;
}

/** The reason typed in, or null after saying one is needed. */
function reasonOrAsk() {
  const reason = $("reason").value.trim();
  if (reason) return reason;
  notice("error", "A correction needs a reason: type it in the Reason field first.");
  $("reason").focus();
  return null;
}

/** Sends a correction; once the agent took it, the reason field is cleared (unless staff have
 * already typed the next one). */
async function correct(body) {
  const table = state.selected;
  if (table === null) return;
  const what = `${ACTION_LABELS[body.action] || body.action} on ${table}`;
  const view = await write(what, actionsPath(table), body);
  if (view && $("reason").value.trim() === body.reason) {
    $("reason").value = "";
    render();
  }
}

Object.assign(ACTION_LABELS, {
  pocket: "Ball down", cue_ball: "Cue ball down", adjust_rack: "Rack correction",
  set_score: "Set score", void: "Void",
});

$("staff-name").value = localStorage.getItem(STAFF_NAME_KEY) || "";
$("staff-name").addEventListener("input", () => {
  const name = $("staff-name").value.trim();
  if (name) localStorage.setItem(STAFF_NAME_KEY, name);
  else localStorage.removeItem(STAFF_NAME_KEY);
});

for (const button of document.querySelectorAll(".manual-pocket")) {
  button.addEventListener("click", () => {
    manual.pocket = button.dataset.pocket ? Number(button.dataset.pocket) : null;
    render();
  });
}

$("manual-balls").addEventListener("click", async (event) => {
  const button = event.target.closest(".manual-ball");
  if (!button || button.disabled) return;
  const body = { action: "pocket", ball: Number(button.dataset.ball) };
  if (manual.pocket !== null) body.pocket = manual.pocket;
  manual.pocket = null;
  await act(body);
});

$("manual-cue").addEventListener("click", () => act({ action: "cue_ball" }));

for (const button of document.querySelectorAll("[data-adjust]")) {
  button.addEventListener("click", () => {
    const reason = reasonOrAsk();
    if (!reason) return;
    correct({
      action: "adjust_rack",
      player: Number(button.dataset.adjust),
      delta: Number(button.dataset.delta),
      reason,
    });
  });
}

$("set-score").addEventListener("click", () => {
  const raw = [$("score0").value.trim(), $("score1").value.trim()];
  if (!raw.every((v) => /^-?\d+$/.test(v))) {
    notice("error", "Set score: type both scores as whole numbers.");
    return;
  }
  const reason = reasonOrAsk();
  if (!reason) return;
  correct({ action: "set_score", score: raw.map(Number), reason });
});

$("void-open").addEventListener("click", () => {
  if (reasonOrAsk()) $("void-confirm").hidden = false;
});
$("void-cancel").addEventListener("click", () => { $("void-confirm").hidden = true; });
$("void-yes").addEventListener("click", () => {
  $("void-confirm").hidden = true;
  const reason = reasonOrAsk();
  if (reason) correct({ action: "void", reason });
});
