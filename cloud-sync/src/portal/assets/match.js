// One match's racks (the read API's match detail), where a tournament's bracket links. Anyone
// may read it; private players come masked by the API.
'use strict';
(() => {
  const { api, el, show, errorText } = Portal;

  function text(id, value) { document.getElementById(id).textContent = value; }

  document.addEventListener('DOMContentLoaded', async () => {
    const id = Portal.param('id') || '';
    const res = await api('GET', '/api/v1/matches/' + encodeURIComponent(id));
    if (!res.ok) { show('message', errorText(res)); return; }
    const m = res.body;
    const players = (m.players || []).map((p) => p || '?');
    text('m-title', players.join(' vs ') + (m.voided ? ' (voided)' : ''));
    text('m-game', m.game || '');
    text('m-table', m.table || '');
    text('m-race', m.race_to === null || m.race_to === undefined ? '' : String(m.race_to));
    text('m-score', (m.score || []).join('\u2013') + (m.finished ? '' : ' (playing)'));
    text('m-started', m.started_ms ? new Date(m.started_ms).toLocaleString() : '');
    const rows = (m.racks || []).map((r) => el('tr', { 'data-rack': r.ordinal },
      el('td', {}, String(r.ordinal)),
      el('td', {}, r.winner === null || r.winner === undefined ? '' : (players[r.winner] || '?')),
      el('td', {}, (r.score || []).join('\u2013'))));
    document.querySelector('#racks tbody').replaceChildren(...rows);
    document.getElementById('racks-empty').hidden = rows.length > 0;
    document.body.dataset.ready = 'true';
  });
})();
