// My profile: my display name, my player (create or claim one), whether it is public, and my
// statistics and matches from the read API (which shows me everything about my own player).
'use strict';
(() => {
  const { api, el, show, errorText } = Portal;

  async function loadPlayer() {
    const res = await api('GET', '/api/v1/me/player');
    if (!res.ok) { show('profile-message', errorText(res)); return; }
    const { player, profile_public: isPublic, claims } = res.body;
    document.getElementById('has-player').hidden = !player;
    document.getElementById('no-player').hidden = !!player;
    document.getElementById('stats-card').hidden = !player;
    document.getElementById('claims').replaceChildren(...claims.map((c) =>
      el('li', {}, 'Claim on ', c.player_name, ' (', c.player_id, '): waiting for a venue manager or an administrator')));
    if (!player) return;
    document.getElementById('player-name').textContent = player.name;
    document.getElementById('player-id').textContent = player.id;
    document.getElementById('profile-public').checked = isPublic;
    await loadStats(player.id);
  }

  async function loadStats(id) {
    const path = '/api/v1/players/' + encodeURIComponent(id);
    const [stats, matches] = await Promise.all([api('GET', path), api('GET', path + '/matches')]);
    if (stats.ok) {
      const s = stats.body.stats;
      const rows = [['Matches', s.matches], ['Wins', s.wins], ['Losses', s.losses], ['Racks won', s.racks_won],
        ['Break and runs', s.break_and_runs], ['High run', s.high_run]];
      document.getElementById('stats').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, String(v))]));
    }
    const body = document.querySelector('#matches tbody');
    body.replaceChildren();
    if (matches.ok) {
      for (const m of matches.body.matches) {
        const result = m.voided ? 'void' : (!m.finished ? 'in play' : (m.won ? 'won' : 'lost'));
        body.append(el('tr', {}, el('td', {}, m.game || ''), el('td', {}, (m.players || []).join(' vs ')),
          el('td', {}, (m.score || []).join('–')), el('td', {}, result)));
      }
    }
  }

  // The console PIN, for the venues where the user is staff (a manager or an organiser there).
  async function loadPinVenues() {
    const res = await api('GET', '/api/v1/me/venues');
    if (!res.ok) return;
    const staffAt = res.body.venues.filter((v) => v.roles.some((r) => r === 'venue_manager' || r === 'organiser'));
    if (!staffAt.length) return;
    document.getElementById('pin-venue').replaceChildren(
      ...staffAt.map((v) => el('option', { value: v.venue_id }, v.name)));
    document.getElementById('pin-card').hidden = false;
  }

  async function setPin(event) {
    event.preventDefault();
    const venue_id = document.getElementById('pin-venue').value;
    const field = document.getElementById('pin-value');
    const res = await api('PUT', '/api/v1/me/staff-pin', { venue_id, pin: field.value });
    field.value = '';
    show('profile-message', res.ok ? 'Console PIN set: the venue console has it within a minute (when online).' : errorText(res), res.ok ? 'ok' : 'error');
  }

  async function removePin() {
    const venue_id = document.getElementById('pin-venue').value;
    const res = await api('DELETE', '/api/v1/me/staff-pin', { venue_id });
    show('profile-message', res.ok ? 'Console PIN removed.' : errorText(res), res.ok ? 'ok' : 'error');
  }

  document.addEventListener('DOMContentLoaded', async () => {
    document.getElementById('pin-form').addEventListener('submit', setPin);
    document.getElementById('pin-remove').addEventListener('click', removePin);
    const user = await Portal.currentUser(false);
    if (!Portal.signedIn()) { location.assign('/portal/signin?next=/portal/profile'); return; }
    if (user) document.getElementById('display-name').value = user.display_name;
    loadPinVenues();
    document.getElementById('name-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      const display_name = document.getElementById('display-name').value.trim();
      const res = await api('PATCH', '/api/v1/me', { display_name });
      show('profile-message', res.ok ? 'Display name saved.' : errorText(res), res.ok ? 'ok' : 'error');
    });
    document.getElementById('player-create').addEventListener('click', async () => {
      const res = await api('POST', '/api/v1/me/player', {});
      show('profile-message', res.ok ? 'Your player profile is ready.' : errorText(res), res.ok ? 'ok' : 'error');
      loadPlayer();
    });
    document.getElementById('claim-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      const player_id = document.getElementById('claim-id').value.trim();
      const res = await api('POST', '/api/v1/me/player', { player_id });
      show('profile-message', res.ok ? 'Claim filed: a manager of a venue where you played, or an administrator, will decide.' : errorText(res), res.ok ? 'ok' : 'error');
      loadPlayer();
    });
    document.getElementById('profile-public').addEventListener('change', async (event) => {
      const res = await api('PATCH', '/api/v1/me/privacy', { profile_public: event.target.checked });
      show('profile-message', res.ok ? (res.body.profile_public ? 'Your profile is public.' : 'Your profile is private.') : errorText(res), res.ok ? 'ok' : 'error');
      if (!res.ok) event.target.checked = !event.target.checked;
    });
    loadPlayer();
  });
})();
