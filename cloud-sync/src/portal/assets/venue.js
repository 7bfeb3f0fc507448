// My venue, for its managers: staff with roles there (grant organiser or manager by email or
// user id), the venue's keys (list, add — shown once —, revoke) and its audit log.
'use strict';
(() => {
  const { api, el, show, errorText } = Portal;
  const when = (ms) => (ms ? new Date(ms).toLocaleString() : '');
  let venue = null;
  const base = () => '/api/v1/venues/' + encodeURIComponent(venue);

  async function loadStaff() {
    const res = await api('GET', base() + '/staff');
    const body = document.querySelector('#staff tbody');
    body.replaceChildren();
    if (!res.ok) { show('venue-message', errorText(res)); return; }
    for (const s of res.body.staff) {
      const revokes = s.roles.map((role) => el('button', {
        type: 'button', class: 'danger',
        onclick: async () => {
          const answer = await api('DELETE', '/api/v1/admin/users/' + encodeURIComponent(s.user_id) + '/roles', { role, venue_id: venue });
          show('venue-message', answer.ok ? 'Role revoked.' : errorText(answer), answer.ok ? 'ok' : 'error');
          refresh();
        },
      }, 'Revoke ' + role));
      body.append(el('tr', { 'data-user': s.user_id },
        el('td', {}, s.display_name), el('td', {}, s.email || ''), el('td', {}, s.roles.join(', ')),
        el('td', {}, revokes)));
    }
  }

  async function loadKeys() {
    const res = await api('GET', base() + '/keys');
    const body = document.querySelector('#keys tbody');
    body.replaceChildren();
    if (!res.ok) { show('venue-message', errorText(res)); return; }
    for (const k of res.body.keys) {
      body.append(el('tr', { 'data-key': k.id },
        el('td', {}, String(k.id)), el('td', {}, when(k.created_ms)),
        el('td', {}, el('button', {
          type: 'button', class: 'danger',
          onclick: async () => {
            const answer = await api('DELETE', base() + '/keys/' + k.id);
            show('venue-message', answer.ok ? 'Key ' + k.id + ' revoked.' : errorText(answer), answer.ok ? 'ok' : 'error');
            refresh();
          },
        }, 'Revoke'))));
    }
  }

  async function loadAudit() {
    const res = await api('GET', base() + '/audit');
    const body = document.querySelector('#venue-audit tbody');
    body.replaceChildren();
    if (!res.ok) return;
    for (const e of res.body.entries) {
      body.append(el('tr', {}, el('td', {}, when(e.at_ms)), el('td', {}, e.actor_id || 'system'),
        el('td', {}, e.action), el('td', {}, e.resource)));
    }
  }

  // Claims on players who played at this venue (the API lists those of every venue one manages).
  async function loadClaims() {
    const res = await api('GET', '/api/v1/admin/claims');
    const body = document.querySelector('#venue-claims tbody');
    body.replaceChildren();
    if (!res.ok) return;
    for (const c of res.body.claims.filter((claim) => claim.venues.includes(venue))) {
      const decide = async (verb) => {
        const answer = await api('POST', '/api/v1/admin/claims/' + c.id + '/' + verb);
        show('venue-message', answer.ok ? 'Claim ' + answer.body.status + '.' : errorText(answer), answer.ok ? 'ok' : 'error');
        loadClaims();
      };
      body.append(el('tr', {}, el('td', {}, c.display_name), el('td', {}, c.player_name, ' (', c.player_id, ')'),
        el('td', {},
          el('button', { type: 'button', onclick: () => decide('approve') }, 'Approve'), ' ',
          el('button', { type: 'button', class: 'danger', onclick: () => decide('reject') }, 'Reject'))));
    }
  }

  function tournamentLinks() {
    const query = '?venue=' + encodeURIComponent(venue);
    document.getElementById('venue-tournaments').setAttribute('href', '/portal/tournaments' + query);
    document.getElementById('venue-organise').setAttribute('href', '/portal/organise' + query);
  }

  function refresh() { tournamentLinks(); return Promise.all([loadStaff(), loadKeys(), loadClaims(), loadAudit()]); }

  async function addStaff(event) {
    event.preventDefault();
    const who = document.getElementById('staff-who').value.trim();
    const role = document.getElementById('staff-role').value;
    const body = who.includes('@') ? { email: who, role } : { user_id: who, role };
    const res = await api('POST', base() + '/staff', body);
    show('venue-message', res.ok ? 'Role granted; it reaches them at their next refresh.' : errorText(res), res.ok ? 'ok' : 'error');
    refresh();
  }

  async function addKey() {
    const res = await api('POST', base() + '/keys');
    if (!res.ok) { show('venue-message', errorText(res)); return; }
    show('new-key', 'New key ' + res.body.id + ' (shown only now): ' + res.body.key, 'ok');
    refresh();
  }

  document.addEventListener('DOMContentLoaded', async () => {
    document.getElementById('staff-form').addEventListener('submit', addStaff);
    document.getElementById('key-add').addEventListener('click', addKey);
    if (!Portal.signedIn()) { location.assign('/portal/signin?next=/portal/venue'); return; }
    const pick = document.getElementById('venue-pick');
    const res = await api('GET', '/api/v1/me/venues');
    const mine = res.ok ? res.body.venues.filter((v) => v.roles.includes('venue_manager')) : [];
    const wanted = Portal.param('venue');
    const options = mine.map((v) => el('option', { value: v.venue_id }, v.name));
    if (wanted && !mine.some((v) => v.venue_id === wanted)) options.unshift(el('option', { value: wanted }, wanted));
    pick.replaceChildren(...options);
    if (!options.length) { show('venue-message', 'You manage no venue.'); return; }
    if (wanted) pick.value = wanted;
    venue = pick.value;
    pick.addEventListener('change', () => { venue = pick.value; refresh(); });
    refresh();
  });
})();
