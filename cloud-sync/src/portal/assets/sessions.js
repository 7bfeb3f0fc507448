// Sessions: the caller's sessions, each revocable (the current one is marked).
'use strict';
async function load() {
  const res = await Portal.api('GET', '/api/v1/me/sessions');
  if (!res.ok) return Portal.show('message', Portal.errorText(res));
  const when = (text) => new Date(text).toLocaleString();
  const rows = res.body.sessions.map((s) => Portal.el('tr', { 'data-session': s.id },
    Portal.el('td', {}, when(s.created_at)),
    Portal.el('td', {}, when(s.last_used_at)),
    Portal.el('td', {}, s.addr || '—'),
    Portal.el('td', {}, s.user_agent || '—'),
    Portal.el('td', {}, s.current
      ? Portal.el('span', { class: 'badge' }, 'This device')
      : Portal.el('button', {
        type: 'button', class: 'danger', 'aria-label': 'Revoke the session signed in ' + when(s.created_at),
        onclick: async () => {
          const out = await Portal.api('DELETE', '/api/v1/me/sessions/' + encodeURIComponent(s.id));
          if (out.ok) { Portal.show('message', 'Session revoked.', 'ok'); load(); } else Portal.show('message', Portal.errorText(out));
        },
      }, 'Revoke'))));
  document.querySelector('#sessions tbody').replaceChildren(...rows);
}
document.addEventListener('DOMContentLoaded', async () => {
  if (await Portal.currentUser(true)) load();
});
