// My results: the results venues reported for my player, to confirm or dispute; my check-ins
// (and a form to check in at a venue); the venues I trust. Every value is set as text.
'use strict';
(() => {
  const { api, el, show, errorText } = Portal;
  const STATUS = {
    unconfirmed: 'Waiting for you', confirmed: 'Confirmed', checked_in: 'Checked in',
    trusted: 'Trusted venue', reported: 'Reported before you joined', disputed: 'Disputed',
  };

  function when(ms) { return ms ? new Date(ms).toLocaleString() : '—'; }

  // Signed out: to sign-in, then back here.
  function signIn() {
    location.assign('/portal/signin?next=' + encodeURIComponent(location.pathname));
  }

  async function call(method, path, body) {
    const res = await api(method, path, body);
    if (res.status === 401) { signIn(); return null; }
    if (!res.ok) { show('message', errorText(res)); return null; }
    return res;
  }

  function wordCell(result) {
    const cell = el('td', {});
    if (result.status === 'disputed') {
      cell.append(el('span', { class: 'hint' }, result.reason || ''));
    }
    if (result.status !== 'confirmed') {
      cell.append(el('button', {
        type: 'button', class: 'confirm', 'data-match': result.match_id,
        onclick: async () => {
          const res = await call('POST', '/api/v1/me/results/' + encodeURIComponent(result.match_id) + '/confirm');
          if (res) { show('message', 'Confirmed: it counts in your record.', 'ok'); loadResults(); }
        },
      }, 'Confirm'));
    }
    if (result.status !== 'disputed') {
      const reasonId = 'reason-' + result.match_id;
      const form = el('form', {
        class: 'dispute', 'data-match': result.match_id,
        onsubmit: async (event) => {
          event.preventDefault();
          const reason = form.querySelector('input').value;
          const res = await call('POST', '/api/v1/me/results/' + encodeURIComponent(result.match_id) + '/dispute', { reason });
          if (res) { show('message', 'Disputed: it stays out of your record.', 'ok'); loadResults(); }
        },
      },
      el('label', { for: reasonId, class: 'sr-only' }, 'Why you dispute it'),
      el('input', { id: reasonId, name: 'reason', required: true, maxlength: 500, placeholder: 'Why (e.g. I never played this)' }),
      el('button', { type: 'submit', class: 'danger' }, 'Dispute'));
      cell.append(form);
    }
    return cell;
  }

  async function loadResults() {
    const status = document.getElementById('status').value;
    const res = await call('GET', '/api/v1/me/results?status=' + encodeURIComponent(status));
    if (!res) return;
    document.getElementById('no-player').hidden = res.body.player_id !== null;
    const rows = (res.body.results || []).map((r) => el('tr', { 'data-match': r.match_id },
      el('td', {}, when(r.started_ms)),
      el('td', {}, r.venue_name),
      el('td', {}, (r.players || []).map((p) => p || '?').join(' vs ') + (r.voided ? ' (voided)' : '')),
      el('td', {}, (r.score || []).join('–') + (r.finished && !r.voided ? (r.won ? ' won' : ' lost') : '')),
      el('td', {}, el('span', { class: 'badge status' }, STATUS[r.status] || r.status)),
      wordCell(r)));
    document.querySelector('#results tbody').replaceChildren(...rows);
    document.getElementById('results-empty').hidden = rows.length > 0;
  }

  async function loadCheckins() {
    const res = await call('GET', '/api/v1/me/checkins');
    if (!res) return;
    const rows = res.body.checkins.map((c) => el('tr', { 'data-checkin': c.id },
      el('td', {}, c.venue_name),
      el('td', {}, when(c.checked_in_ms)),
      el('td', {}, c.active ? when(c.ends_ms) : 'ended ' + when(c.ends_ms)),
      el('td', {}, c.active ? el('button', {
        type: 'button', class: 'secondary end',
        onclick: async () => {
          if (await call('DELETE', '/api/v1/me/checkins/' + encodeURIComponent(c.id))) loadCheckins();
        },
      }, 'End') : '')));
    document.querySelector('#checkins tbody').replaceChildren(...rows);
  }

  async function loadTrusted() {
    const res = await call('GET', '/api/v1/me/trusted-venues');
    if (!res) return;
    const items = res.body.venues.map((v) => el('li', { 'data-venue': v.venue_id },
      v.venue_name + ' ',
      el('button', {
        type: 'button', class: 'secondary untrust',
        onclick: async () => {
          if (await call('DELETE', '/api/v1/me/trusted-venues/' + encodeURIComponent(v.venue_id))) { loadTrusted(); loadResults(); }
        },
      }, 'Stop trusting')));
    document.getElementById('trusted').replaceChildren(...items);
  }

  async function loadVenues() {
    const res = await api('GET', '/api/v1/venues?limit=200');
    if (!res.ok) return;
    for (const id of ['checkin-venue', 'trust-venue']) {
      document.getElementById(id).replaceChildren(
        ...res.body.venues.map((v) => el('option', { value: v.id }, v.name)));
    }
  }

  // My player's tournaments (GET /api/v1/players/{id}/tournaments), each linking to its page.
  async function loadTournaments() {
    const mine = await api('GET', '/api/v1/me/player');
    const player = mine.ok && mine.body ? mine.body.player : null;
    let items = [];
    if (player) {
      const res = await api('GET', '/api/v1/players/' + encodeURIComponent(player.id) + '/tournaments');
      if (res.ok && res.body) items = res.body.tournaments || [];
    }
    const rows = items.map((t) => el('tr', { 'data-tournament': t.id },
      el('td', {}, t.starts_at ? new Date(t.starts_at).toLocaleString() : '—'),
      el('td', {}, el('a', { href: '/portal/tournament?id=' + encodeURIComponent(t.id) }, t.name)),
      el('td', {}, el('a', { href: '/portal/tournaments?venue=' + encodeURIComponent(t.venue_id) }, t.venue_name || t.venue_id)),
      el('td', {}, el('span', { class: 'badge' }, String(t.status))),
      el('td', {}, t.rank === null || t.rank === undefined ? '—' : String(t.rank)),
      el('td', {}, String(t.wins || 0) + '–' + String(t.losses || 0))));
    document.querySelector('#my-tournaments tbody').replaceChildren(...rows);
    document.getElementById('tournaments-empty').hidden = rows.length > 0;
  }

  document.addEventListener('DOMContentLoaded', async () => {
    if (!Portal.signedIn()) { signIn(); return; }
    document.getElementById('status').addEventListener('change', loadResults);
    document.getElementById('checkin-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      const venue = document.getElementById('checkin-venue').value;
      if (await call('POST', '/api/v1/me/checkins', { venue_id: venue })) {
        show('message', 'Checked in.', 'ok');
        loadCheckins();
      }
    });
    document.getElementById('trust-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      const venue = document.getElementById('trust-venue').value;
      if (await call('PUT', '/api/v1/me/trusted-venues/' + encodeURIComponent(venue))) {
        show('message', 'Trusted.', 'ok');
        loadTrusted();
        loadResults();
      }
    });
    await Promise.all([loadVenues(), loadResults(), loadCheckins(), loadTrusted(), loadTournaments()]);
    document.body.dataset.ready = 'true';
  });
})();
