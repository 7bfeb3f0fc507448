// Administration: search users, grant and revoke roles, decide player-profile claims, merge
// profiles, read the audit log. Every value is shown as text (Portal.el); the API decides who
// may do what (403 here just says so).
'use strict';
(() => {
  const { api, el, show, errorText } = Portal;
  const when = (ms) => (ms ? new Date(ms).toLocaleString() : '');
  const roleText = (r) => r.role + (r.venue_id ? ' @ ' + r.venue_id : ' (global)');
  let usersNext = null;
  let auditNext = null;
  let selected = null;

  async function searchUsers(more) {
    const q = document.getElementById('user-q').value.trim();
    const params = new URLSearchParams();
    if (q) params.set('q', q);
    if (more && usersNext) params.set('after', usersNext);
    const res = await api('GET', '/api/v1/admin/users?' + params);
    if (!res.ok) { show('admin-message', errorText(res)); return; }
    const body = document.querySelector('#users tbody');
    if (!more) body.replaceChildren();
    for (const u of res.body.users) {
      body.append(el('tr', { 'data-user': u.id },
        el('td', {}, u.display_name, u.deleted ? ' (deleted)' : ''),
        el('td', {}, u.email || ''),
        el('td', { class: 'roles' }, u.roles.map(roleText).join(', ')),
        el('td', {}, el('button', { type: 'button', class: 'secondary', onclick: () => openUser(u.id) }, 'Manage'))));
    }
    usersNext = res.body.next;
    document.getElementById('users-more').hidden = !usersNext;
  }

  async function openUser(id) {
    const res = await api('GET', '/api/v1/admin/users/' + encodeURIComponent(id));
    if (!res.ok) { show('admin-message', errorText(res)); return; }
    selected = res.body;
    document.getElementById('user-detail').hidden = false;
    document.getElementById('detail-who').textContent =
      selected.display_name + ' · ' + (selected.email || 'no email') + ' · ' + selected.id +
      (selected.player_id ? ' · player ' + selected.player_id : '');
    const list = document.getElementById('detail-roles');
    list.replaceChildren(...selected.roles.map((r) => el('li', {}, roleText(r), ' ',
      el('button', { type: 'button', class: 'danger', onclick: () => revoke(r) }, 'Revoke'))));
    if (!selected.roles.length) list.append(el('li', {}, 'Player only'));
  }

  async function grant(event) {
    event.preventDefault();
    if (!selected) return;
    const role = document.getElementById('grant-role').value;
    const venue = document.getElementById('grant-venue').value.trim();
    const res = await api('POST', '/api/v1/admin/users/' + encodeURIComponent(selected.id) + '/roles',
      { role, venue_id: venue || null });
    if (!res.ok) { show('admin-message', errorText(res)); return; }
    show('admin-message', res.status === 201 ? 'Role granted.' : 'They already hold that role.', 'ok');
    await openUser(selected.id);
    await searchUsers(false);
  }

  async function revoke(r) {
    const res = await api('DELETE', '/api/v1/admin/users/' + encodeURIComponent(selected.id) + '/roles',
      { role: r.role, venue_id: r.venue_id });
    if (!res.ok) { show('admin-message', errorText(res)); return; }
    show('admin-message', 'Role revoked.', 'ok');
    await openUser(selected.id);
    await searchUsers(false);
  }

  async function loadClaims() {
    const res = await api('GET', '/api/v1/admin/claims');
    const body = document.querySelector('#claims tbody');
    body.replaceChildren();
    if (!res.ok) return;
    for (const c of res.body.claims) {
      const decide = async (verb) => {
        const answer = await api('POST', '/api/v1/admin/claims/' + c.id + '/' + verb);
        show('admin-message', answer.ok ? 'Claim ' + answer.body.status + '.' : errorText(answer), answer.ok ? 'ok' : 'error');
        loadClaims();
      };
      body.append(el('tr', {},
        el('td', {}, c.display_name),
        el('td', {}, c.player_name, ' (', c.player_id, ')'),
        el('td', {}, when(c.created_ms)),
        el('td', {},
          el('button', { type: 'button', onclick: () => decide('approve') }, 'Approve'), ' ',
          el('button', { type: 'button', class: 'danger', onclick: () => decide('reject') }, 'Reject'))));
    }
  }

  async function merge(event) {
    event.preventDefault();
    const from = document.getElementById('merge-from').value.trim();
    const into = document.getElementById('merge-into').value.trim();
    const res = await api('POST', '/api/v1/admin/players/merge', { from, into });
    show('admin-message', res.ok ? 'Merged: ' + res.body.seats + ' seats moved.' : errorText(res), res.ok ? 'ok' : 'error');
    if (res.ok) loadAudit(false);
  }

  async function loadAudit(more) {
    const params = new URLSearchParams();
    for (const name of ['action', 'resource', 'actor']) {
      const value = document.getElementById('audit-' + name).value.trim();
      if (value) params.set(name, value);
    }
    if (more && auditNext) params.set('before', auditNext);
    const res = await api('GET', '/api/v1/admin/audit?' + params);
    if (!res.ok) { show('admin-message', errorText(res)); return; }
    const body = document.querySelector('#audit tbody');
    if (!more) body.replaceChildren();
    for (const e of res.body.entries) {
      body.append(el('tr', {},
        el('td', {}, when(e.at_ms)), el('td', {}, e.actor_id || 'system'), el('td', {}, e.action),
        el('td', {}, e.resource), el('td', {}, e.venue_id || ''), el('td', {}, e.addr || '')));
    }
    auditNext = res.body.next;
    document.getElementById('audit-more').hidden = !auditNext;
  }

  document.addEventListener('DOMContentLoaded', async () => {
    document.getElementById('user-search').addEventListener('submit', (e) => { e.preventDefault(); searchUsers(false); });
    document.getElementById('users-more').addEventListener('click', () => searchUsers(true));
    document.getElementById('grant-form').addEventListener('submit', grant);
    document.getElementById('merge-form').addEventListener('submit', merge);
    document.getElementById('audit-filter').addEventListener('submit', (e) => { e.preventDefault(); loadAudit(false); });
    document.getElementById('audit-more').addEventListener('click', () => loadAudit(true));
    if (!Portal.signedIn()) { location.assign('/portal/signin?next=/portal/admin'); return; }
    await Promise.all([searchUsers(false), loadClaims(), loadAudit(false)]);
  });
})();
