"use strict";
// The staff console's Venue tab: how phones and TVs reach this agent (its LAN URLs, each with a QR
// code to scan), the table registry (name, order, retire, and one tap to register a table a
// device announces) and the provisioned devices (add, showing the secret once; revoke). A banner
// over every tab warns while the broker lets anonymous devices in. Loaded after staff.js and uses
// its `api`, `failed`, `notice`, `state` and `$`; every value is shown as text, never as markup.

const venue = { busy: false };

function networkBlock(network) {
  $("network-advice").textContent = network.advice || "";
  const urls = (network.lan_urls || []).map((url) =>
    h("figure", { class: "lan-url" },
      h("img", { class: "qr", alt: "QR code for " + url, src: "/api/v1/network/qr?url=" + encodeURIComponent(url) }),
      h("figcaption", null, h("a", { href: url }, url))));
  $("network-urls").replaceChildren(...urls);
}

function devicesText(devices) {
  if (!devices.length) return "no device has announced it";
  return devices.map((d) => `${d.kind || "device"} ${d.device}${d.online ? "" : " (offline)"}`).join(", ");
}

function registryRow(entry) {
  const name = h("input", { type: "text", maxlength: "40", "aria-label": "Name of " + entry.table, class: "reg-name" });
  name.value = entry.name;
  const position = h("input", { type: "number", min: "0", inputmode: "numeric", "aria-label": "Position of " + entry.table, class: "reg-position" });
  position.value = String(entry.position);
  const save = h("button", { class: "btn", type: "button", "data-save": entry.table }, entry.retired ? "Bring back" : "Save");
  save.addEventListener("click", () => putEntry(entry.table, { name: name.value, position: Number(position.value) }));
  const retire = entry.retired ? null : h("button", { class: "btn danger", type: "button", "data-retire": entry.table }, "Retire");
  if (retire) retire.addEventListener("click", () => retireEntry(entry.table));
  return h("div", { class: "registry-row" + (entry.retired ? " retired" : ""), "data-table": entry.table },
    h("span", { class: "reg-id" }, entry.table),
    name, position, save, retire,
    h("span", { class: "reg-devices dim" }, entry.retired ? "retired" : devicesText(entry.devices || [])));
}

function unknownRow(announcement) {
  const register = h("button", { class: "btn primary", type: "button", "data-register": announcement.table }, "Register " + announcement.table);
  register.addEventListener("click", () => putEntry(announcement.table, {}));
  return h("div", { class: "registry-row unknown" },
    h("span", { class: "reg-id" }, announcement.table),
    h("span", { class: "reg-devices" }, `${announcement.kind || "device"} ${announcement.device} announces it`),
    register);
}

function when(ms) {
  return ms ? new Date(ms).toLocaleString() : "never";
}

function deviceRow(device) {
  const revoked = device.revoked_ms !== null && device.revoked_ms !== undefined;
  const revoke = revoked ? null : h("button", { class: "btn danger", type: "button", "data-revoke": device.device }, "Revoke");
  if (revoke) revoke.addEventListener("click", () => revokeDevice(device.device));
  const facts = revoked
    ? `revoked ${when(device.revoked_ms)}`
    : `added ${when(device.created_ms)} · last connected ${when(device.last_seen_ms)}`;
  return h("div", { class: "registry-row" + (revoked ? " revoked" : ""), "data-device": device.device },
    h("span", { class: "reg-id" }, device.device),
    h("span", null, (device.tables || []).join(", ")),
    h("span", { class: "reg-devices dim" }, facts),
    revoke);
}

function showDevices(listing) {
  $("anonymous-devices").hidden = !(listing.anonymous && listing.embedded);
  $("devices-external").hidden = listing.embedded;
  $("devices-list").replaceChildren(...listing.devices.map(deviceRow));
  $("devices-empty").hidden = listing.devices.length > 0;
}

/** The banner over every tab: asked once unlocked, then every 30 s (quietly: a lock is staff.js's). */
async function checkAnonymous() {
  if (!state.token) return;
  try {
    const listing = await api("GET", "/api/v1/devices");
    $("anonymous-devices").hidden = !(listing.anonymous && listing.embedded);
  } catch (_) {
    // Shown by whatever staff.js asks next.
  }
}

async function addDevice(device, tables) {
  if (venue.busy) return;
  venue.busy = true;
  try {
    const added = await api("POST", "/api/v1/devices", { device, tables });
    $("device-secret-id").textContent = added.device;
    $("device-secret-text").textContent = added.secret;
    $("device-secret").hidden = false;
    notice("ok", `Device ${added.device} added for ${added.tables.join(", ")}`);
  } catch (failure) {
    failed("Adding device " + device, failure);
  } finally {
    venue.busy = false;
  }
  loadVenue();
}

async function revokeDevice(device) {
  if (venue.busy) return;
  if (!confirm(`Revoke ${device}? It is cut off at once and refused until added again with a new secret.`)) return;
  venue.busy = true;
  try {
    await api("DELETE", "/api/v1/devices/" + encodeURIComponent(device));
    notice("ok", `Device ${device} revoked`);
  } catch (failure) {
    failed("Revoking device " + device, failure);
  } finally {
    venue.busy = false;
  }
  loadVenue();
}

async function loadVenue() {
  try {
    const [network, registry, devices] = await Promise.all([
      api("GET", "/api/v1/network"),
      api("GET", "/api/v1/registry"),
      api("GET", "/api/v1/devices"),
    ]);
    showDevices(devices);
    networkBlock(network);
    $("registry-list").replaceChildren(...registry.tables.map(registryRow));
    $("registry-unknown").replaceChildren(...registry.unknown.map(unknownRow));
    $("registry-unknown-empty").hidden = registry.unknown.length > 0;
  } catch (failure) {
    failed("Loading the venue", failure);
  }
}

async function putEntry(table, body) {
  if (venue.busy) return;
  venue.busy = true;
  try {
    const entry = await api("PUT", "/api/v1/registry/" + encodeURIComponent(table), body);
    notice("ok", `Table ${entry.table} saved as “${entry.name}”`);
  } catch (failure) {
    failed("Saving table " + table, failure);
  } finally {
    venue.busy = false;
  }
  loadVenue();
}

async function retireEntry(table) {
  if (venue.busy) return;
  venue.busy = true;
  try {
    await api("POST", "/api/v1/registry/" + encodeURIComponent(table) + "/retire");
    notice("ok", `Table ${table} retired`);
  } catch (failure) {
    failed("Retiring table " + table, failure);
  } finally {
    venue.busy = false;
  }
  loadVenue();
}

$("register-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const table = $("register-table").value.trim();
  const name = $("register-name").value.trim();
  if (!table) return;
  putEntry(table, name ? { name } : {});
  $("register-table").value = "";
  $("register-name").value = "";
});

$("device-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const device = $("device-id").value.trim();
  const tables = $("device-tables").value.split(/[\s,]+/).filter((t) => t);
  if (!device || !tables.length) return;
  addDevice(device, tables);
  $("device-id").value = "";
  $("device-tables").value = "";
});

$("device-secret-done").addEventListener("click", () => {
  $("device-secret-text").textContent = "";
  $("device-secret").hidden = true;
});

checkAnonymous();
setInterval(checkAnonymous, 30000);
$("unlock-form").addEventListener("submit", () => setTimeout(checkAnonymous, 1000));

for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    $("pane-venue").hidden = tab.dataset.tab !== "venue";
    if (tab.dataset.tab === "venue") loadVenue();
  });
}
