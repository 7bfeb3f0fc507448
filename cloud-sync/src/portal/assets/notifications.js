// Notifications: the inbox (newest first, paged), the unread count, marking read, live updates
// over the WebSocket (the access token goes in the first message, never the URL), each
// notification's deliveries with their status, and the channels chosen per kind.
'use strict';

const KINDS = {
  verify_email: 'Verify your email address',
  reset_password: 'Reset your password',
  new_sign_in: 'New sign-in',
  role_granted: 'Role granted',
  result_disputed: 'Result disputed at your venue',
  tournament_check_in: 'Tournament check-in is open',
  tournament_called: 'Your tournament match is called',
  tournament_promoted: 'Off the waiting list',
  tournament_cancelled: 'Tournament cancelled',
};

function summary(item) {
  const p = item.payload || {};
  switch (item.kind) {
    case 'new_sign_in': return p.addr ? 'New sign-in to your account from ' + p.addr + '.' : 'New sign-in to your account.';
    case 'role_granted': return 'You were granted the role ' + (p.role || '?') + (p.venue_id ? ' at venue ' + p.venue_id : '') + '.';
    case 'result_disputed': return (p.player_name || 'A player') + ' disputes a result at ' + (p.venue_name || 'your venue') + (p.reason ? ': ' + p.reason : '.');
    case 'verify_email': return 'We sent you a link to verify your email address.';
    case 'reset_password': return 'We sent you a link to reset your password.';
    case 'tournament_check_in': return 'Check-in is open for ' + (p.tournament_name || 'your tournament') + '.';
    case 'tournament_called': return 'You are up on table ' + (p.table || '?') + (p.opponent ? ' against ' + p.opponent : '') + ' in ' + (p.tournament_name || 'your tournament') + '.';
    case 'tournament_promoted': return 'You moved up from the waiting list of ' + (p.tournament_name || 'a tournament') + '.';
    case 'tournament_cancelled': return (p.tournament_name || 'A tournament') + ' was cancelled.';
    default: return KINDS[item.kind] || item.kind;
  }
}

let oldest = null;
const shown = new Set();

async function refreshUnread() {
  const res = await Portal.api('GET', '/api/v1/me/notifications/unread');
  if (res.ok) {
    const n = res.body.count;
    document.getElementById('unread').textContent = n === 1 ? '1 unread notification.' : n + ' unread notifications.';
  }
}

async function showDeliveries(item, holder, button) {
  const res = await Portal.api('GET', '/api/v1/me/notifications/' + item.id + '/deliveries');
  if (!res.ok) { Portal.show(holder, Portal.errorText(res)); return; }
  button.setAttribute('aria-expanded', 'true');
  if (res.body.items.length === 0) {
    holder.replaceChildren(Portal.el('p', { class: 'hint' }, 'Shown here only (no other channel).'));
    return;
  }
  const rows = res.body.items.map((d) => Portal.el('tr', { class: 'delivery', 'data-status': d.status },
    Portal.el('td', {}, d.channel),
    Portal.el('td', {}, Portal.el('span', { class: 'badge' }, d.status)),
    Portal.el('td', {}, String(d.attempts)),
    Portal.el('td', {}, d.last_error || '')));
  holder.className = 'table-wrap';
  holder.replaceChildren(Portal.el('table', {},
    Portal.el('caption', { class: 'sr-only' }, 'Deliveries of this notification'),
    Portal.el('thead', {}, Portal.el('tr', {},
      Portal.el('th', { scope: 'col' }, 'Channel'), Portal.el('th', { scope: 'col' }, 'Status'),
      Portal.el('th', { scope: 'col' }, 'Attempts'), Portal.el('th', { scope: 'col' }, 'Last error'))),
    Portal.el('tbody', {}, rows)));
}

function render(item) {
  const when = new Date(item.created_at);
  const holder = Portal.el('div', { class: 'deliveries' });
  const li = Portal.el('li', { class: item.read_at ? 'notification read' : 'notification unread', 'data-id': item.id },
    Portal.el('strong', {}, KINDS[item.kind] || item.kind), ' ',
    item.read_at ? null : Portal.el('span', { class: 'badge new' }, 'new'),
    Portal.el('p', {}, summary(item)),
    Portal.el('p', { class: 'hint' }, Portal.el('time', { datetime: item.created_at }, when.toLocaleString())));
  if (!item.read_at) {
    li.append(Portal.el('button', {
      type: 'button', class: 'secondary mark-read',
      onclick: async (event) => {
        const res = await Portal.api('POST', '/api/v1/me/notifications/' + item.id + '/read');
        if (!res.ok) { Portal.show('inbox-message', Portal.errorText(res)); return; }
        li.className = 'notification read';
        const badge = li.querySelector('.badge.new');
        if (badge) badge.remove();
        event.target.remove();
        refreshUnread();
      },
    }, 'Mark as read'));
  }
  const button = Portal.el('button', {
    type: 'button', class: 'secondary show-deliveries', 'aria-expanded': 'false',
    onclick: (event) => showDeliveries(item, holder, event.target),
  }, 'Deliveries');
  li.append(' ', button, holder);
  return li;
}

async function loadPage() {
  const path = '/api/v1/me/notifications?limit=20' + (oldest ? '&before=' + oldest : '');
  const res = await Portal.api('GET', path);
  if (res.status === 401) {
    location.assign('/portal/signin?next=' + encodeURIComponent(location.pathname));
    return;
  }
  if (!res.ok) { Portal.show('inbox-message', Portal.errorText(res)); return; }
  const list = document.getElementById('list');
  for (const item of res.body.items) {
    if (shown.has(item.id)) continue;
    shown.add(item.id);
    list.append(render(item));
  }
  oldest = res.body.next_before;
  document.getElementById('more').hidden = oldest === null;
  if (list.children.length === 0) {
    Portal.show('inbox-message', 'Nothing yet.', 'ok');
  }
}

function prepend(item) {
  if (shown.has(item.id)) return;
  shown.add(item.id);
  Portal.show('inbox-message', '', 'ok');
  document.getElementById('list').prepend(render(item));
  refreshUnread();
}

// The live feed: reconnects (with a fresh token) after a drop, and reloads after a gap.
function connectLive(attempt) {
  const status = document.getElementById('live');
  Portal.api('GET', '/api/v1/me/notifications/unread').then(() => {
    const token = sessionStorage.getItem('dojo.access');
    if (!token) { status.textContent = 'Live updates are off (not signed in).'; return; }
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    const socket = new WebSocket(scheme + location.host + '/api/v1/me/notifications/live');
    socket.addEventListener('open', () => socket.send(JSON.stringify({ token })));
    socket.addEventListener('message', (event) => {
      let message = null;
      try { message = JSON.parse(event.data); } catch (_) { return; }
      if (message.type === 'ready') { status.textContent = 'Live updates on.'; attempt = 0; }
      else if (message.type === 'notification') prepend(message.notification);
      else if (message.type === 'lagged') { oldest = null; loadPage(); refreshUnread(); }
    });
    socket.addEventListener('close', () => {
      status.textContent = 'Live updates paused; reconnecting…';
      setTimeout(() => connectLive(attempt + 1), Math.min(30000, 1000 * 2 ** Math.min(attempt, 5)));
    });
  });
}

async function loadPrefs() {
  const res = await Portal.api('GET', '/api/v1/me/notification-preferences');
  if (!res.ok) { Portal.show('prefs-message', Portal.errorText(res)); return; }
  const rows = Object.entries(res.body).map(([kind, c]) => {
    const box = (channel) => {
      const id = 'pref-' + kind + '-' + channel;
      const locked = channel === 'email' && c.email_required;
      return Portal.el('td', {},
        Portal.el('label', { for: id, class: 'sr-only' }, (KINDS[kind] || kind) + ': ' + channel),
        Portal.el('input', {
          type: 'checkbox', id, 'data-kind': kind, 'data-channel': channel,
          checked: !!c[channel], disabled: locked, title: locked ? 'Always sent by email' : null,
        }));
    };
    return Portal.el('tr', {}, Portal.el('th', { scope: 'row' }, KINDS[kind] || kind),
      box('email'), box('push'), box('webhook'));
  });
  document.getElementById('prefs-rows').replaceChildren(...rows);
}

async function savePrefs(event) {
  event.preventDefault();
  const body = {};
  for (const input of document.querySelectorAll('#prefs-rows input[type=checkbox]')) {
    const kind = input.dataset.kind;
    body[kind] = body[kind] || { email: false, push: false, webhook: false };
    body[kind][input.dataset.channel] = input.checked;
  }
  const res = await Portal.api('PUT', '/api/v1/me/notification-preferences', body);
  if (!res.ok) { Portal.show('prefs-message', Portal.errorText(res)); return; }
  Portal.show('prefs-message', 'Preferences saved.', 'ok');
  loadPrefs();
}

document.addEventListener('DOMContentLoaded', async () => {
  document.getElementById('more').addEventListener('click', loadPage);
  document.getElementById('read-all').addEventListener('click', async () => {
    const res = await Portal.api('POST', '/api/v1/me/notifications/read-all');
    if (!res.ok) { Portal.show('inbox-message', Portal.errorText(res)); return; }
    for (const li of document.querySelectorAll('#list li.unread')) {
      li.className = 'notification read';
      for (const node of li.querySelectorAll('.badge.new, .mark-read')) node.remove();
    }
    refreshUnread();
  });
  document.getElementById('prefs').addEventListener('submit', savePrefs);
  await loadPage();
  refreshUnread();
  loadPrefs();
  connectLive(0);
});
