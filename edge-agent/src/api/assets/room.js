"use strict";
// The staff console's part of the room (loaded after staff.js, whose api(), notice() and failed()
// it uses): announcements to the TVs and phones, the players' messages to acknowledge, and the
// players' requests to undo to confirm or decline, and alerts for staff (a burst of wrong staff
// tokens). It hears of each over /ws (roomNotice) and reads the texts with the staff token. Every
// text is shown with textContent.

const roomUndo = new Map(); // table → {id, seat, expires}

function roomNotice(message) {
  if (message.type === "undo_request") {
    if (message.status === "pending" && message.ttl_ms > 0) {
      roomUndo.set(message.table, { id: message.id, seat: message.seat, expires: Date.now() + message.ttl_ms });
      setTimeout(renderRoomUndo, message.ttl_ms + 50);
    } else {
      const open = roomUndo.get(message.table);
      if (open && open.id === message.id) roomUndo.delete(message.table);
    }
    renderRoomUndo();
  } else if (message.type === "player_message") {
    loadPlayerMessages();
  } else if (message.type === "announcement") {
    loadAnnouncements();
  } else if (message.type === "staff_alert") {
    loadStaffAlerts();
  }
}

function renderRoomUndo() {
  const rows = [];
  for (const [table, request] of roomUndo) {
    if (Date.now() >= request.expires) continue;
    const view = state.live && state.live.views.get(table);
    const asker = (view && view.match && view.match.players[request.seat]) || `seat ${request.seat}`;
    const answer = (confirm) => async () => {
      try {
        await api("POST", `/api/v1/tables/${encodeURIComponent(table)}/undo-requests/${request.id}`, { confirm });
        notice("ok", confirm ? `Undo applied on ${table}` : `Undo declined on ${table}`);
      } catch (failure) {
        failed("Answering the request to undo", failure);
      }
    };
    const yes = h("button", { class: "btn small primary undo-confirm", type: "button", "data-table": table }, "Confirm");
    const no = h("button", { class: "btn small", type: "button" }, "Decline");
    yes.addEventListener("click", answer(true));
    no.addEventListener("click", answer(false));
    rows.push(h("div", { class: "room-row undo-row" }, h("b", {}, table), ` ${asker} asks to undo the last shot `, no, yes));
  }
  $("room-undo").replaceChildren(...rows);
  $("room").hidden = !$("room-undo").children.length && !$("room-messages").children.length
    && !$("room-announcements").children.length && !$("room-alerts").children.length
    && $("room").dataset.open !== "1";
}

async function loadPlayerMessages() {
  if (!state.token) return;
  let list;
  try {
    list = await api("GET", "/api/v1/messages");
  } catch (failure) {
    failed("Loading the players' messages", failure);
    return;
  }
  const rows = list.slice().reverse().map((message) => {
    const at = new Date(message.at_ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const row = h("div", { class: "room-row message" + (message.acknowledged ? " done" : "") },
      h("b", {}, message.table), " ", h("span", { class: "dim" }, `${message.player} · ${at}`), " ",
      h("span", { class: "message-text" }, message.text));
    if (!message.acknowledged) {
      const ack = h("button", { class: "btn small primary message-ack", type: "button" }, "Seen to");
      ack.addEventListener("click", async () => {
        try {
          await api("POST", `/api/v1/messages/${message.id}/ack`);
          loadPlayerMessages();
        } catch (failure) {
          failed("Acknowledging the message", failure);
        }
      });
      row.append(" ", ack);
    }
    return row;
  });
  $("room-messages").replaceChildren(...rows);
  renderRoomUndo();
}

async function loadStaffAlerts() {
  if (!state.token) return;
  let list;
  try {
    list = await api("GET", "/api/v1/alerts");
  } catch (failure) {
    failed("Loading the alerts", failure);
    return;
  }
  $("room-alerts").replaceChildren(...list.slice().reverse().map((alert) => {
    const at = new Date(alert.at_ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return h("div", { class: "room-row staff-alert" }, h("b", {}, "Alert"), " ",
      h("span", { class: "dim" }, at), " ", h("span", { class: "alert-text" }, alert.text));
  }));
  renderRoomUndo();
}

async function loadAnnouncements() {
  let list;
  try {
    list = await api("GET", "/api/v1/announcements");
  } catch (failure) {
    return;
  }
  $("room-announcements").replaceChildren(...list.map((a) => {
    const take = h("button", { class: "btn small", type: "button" }, "Take down");
    take.addEventListener("click", async () => {
      try {
        await api("POST", `/api/v1/announcements/${a.id}/withdraw`);
      } catch (failure) {
        failed("Taking the announcement down", failure);
      }
    });
    return h("div", { class: "room-row" }, h("b", {}, a.table || "All screens"), " ", h("span", {}, a.text), " ", take);
  }));
  renderRoomUndo();
}

$("announce-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("announce-text").value.trim();
  const table = $("announce-table").value.trim();
  const minutes = Number($("announce-minutes").value) || 10;
  if (!text) return;
  try {
    await api("POST", "/api/v1/announcements", { text, table: table || undefined, ttl_s: Math.round(minutes * 60) });
    $("announce-text").value = "";
    notice("ok", "Announced");
  } catch (failure) {
    failed("Announcing", failure);
  }
});
$("room-toggle").addEventListener("click", () => {
  const open = $("room").dataset.open === "1";
  $("room").dataset.open = open ? "0" : "1";
  $("room").hidden = false;
  $("announce-form").hidden = open;
});
