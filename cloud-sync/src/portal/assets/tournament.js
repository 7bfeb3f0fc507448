// A tournament: what, where, when, who (entrants with their status), the bracket drawn by the
// shared renderer (each match linking to its racks once a table played it), and the caller's
// buttons: register, check in, withdraw; for the venue's organisers, open check-in and cancel.
// Live: the public live feed's `{"type": "tournament"}` messages re-fetch it; while the feed is
// down it is polled every 10 s. Every value is set as text.
'use strict';
(() => {
  const { api, el, show, errorText } = Portal;
  const FORMATS = {
    'single-elimination': 'Single elimination', 'double-elimination': 'Double elimination',
    'round-robin': 'Round robin', swiss: 'Swiss', 'groups-knockout': 'Groups, then knockout',
  };
  const STATUS = {
    registration: 'Registration', check_in: 'Check-in open', closed: 'Registration closed',
    running: 'Running', complete: 'Complete', cancelled: 'Cancelled',
  };
  const ENTRANT = { registered: 'registered', waitlisted: 'waiting list', checked_in: 'checked in' };
  const OVER = ['running', 'complete', 'cancelled'];
  const id = Portal.param('id') || '';
  const base = '/api/v1/tournaments/' + encodeURIComponent(id);
  let user = null;
  let live = false;

  function when(text) {
    if (!text) return '—';
    const date = new Date(text);
    return Number.isNaN(date.getTime()) ? String(text) : date.toLocaleString();
  }

  function text(elementId, value) { document.getElementById(elementId).textContent = value; }

  function signIn() {
    location.assign('/portal/signin?next=' + encodeURIComponent(location.pathname + location.search));
  }

  function writer(venue) {
    return Portal.hasRole(user, 'admin') || Portal.hasRole(user, 'organiser', venue)
      || Portal.hasRole(user, 'venue_manager', venue);
  }

  function drawFacts(t) {
    text('t-name', t.name);
    document.title = t.name + ' · DojoPool';
    const venue = document.getElementById('t-venue');
    venue.textContent = t.venue_name || t.venue_id;
    venue.setAttribute('href', '/portal/tournaments?venue=' + encodeURIComponent(t.venue_id));
    text('t-format', FORMATS[t.format] || String(t.format));
    const status = document.getElementById('t-status');
    status.textContent = STATUS[t.status] || String(t.status);
    status.dataset.status = t.status;
    text('t-starts', when(t.starts_at));
    text('t-registration', (t.registration_opens_at ? 'opens ' + when(t.registration_opens_at) : 'open')
      + (t.registration_closes_at ? ', closes ' + when(t.registration_closes_at) : ''));
    text('t-check-in', when(t.check_in_opens_at));
    text('t-places', String(t.registered) + (t.cap ? ' of ' + t.cap : '') + ' registered');
  }

  function drawYou(t) {
    const you = t.you;
    const open = !OVER.includes(t.status);
    let line = '';
    if (you) {
      line = you.status === 'waitlisted'
        ? 'You are on the waiting list (position ' + you.position + ').'
        : 'You are ' + (ENTRANT[you.status] || you.status) + '.';
    } else if (user && t.status === 'registration') {
      line = 'You are not registered.';
    }
    text('you', line);
    document.getElementById('you').dataset.status = you ? you.status : '';
    document.getElementById('register').hidden = !user || !!you || t.status !== 'registration';
    document.getElementById('sign-in').hidden = !!user || t.status !== 'registration';
    document.getElementById('withdraw').hidden = !you || !open;
    document.getElementById('check-in').hidden = !you || you.status !== 'registered' || t.status !== 'check_in';
    document.getElementById('organiser').hidden = !writer(t.venue_id) || !open;
    document.getElementById('open-check-in').hidden = !['registration', 'closed'].includes(t.status);
  }

  function drawEntrants(entrants) {
    const rows = entrants.map((e) => el('tr', { 'data-status': e.status },
      el('td', {}, e.position === null || e.position === undefined ? '' : String(e.position)),
      el('td', {}, e.name),
      el('td', {}, el('span', { class: 'badge' }, ENTRANT[e.status] || e.status))));
    document.querySelector('#entrants tbody').replaceChildren(...rows);
    document.getElementById('entrants-empty').hidden = rows.length > 0;
  }

  function drawBracket(t) {
    const links = t.links || {};
    window.DojoBracket.render(document.getElementById('bracket'), t.bracket, {
      matchHref: (match) => (Object.prototype.hasOwnProperty.call(links, match.id)
        ? '/portal/match?id=' + encodeURIComponent(links[match.id]) : null),
      empty: 'The bracket is drawn when the venue starts the tournament.',
    });
    const calls = (t.calls || []).map((c) => el('li', { 'data-match': c.match },
      c.match + ': to table ' + c.table + ' (called ' + when(c.called_at) + ')'));
    document.getElementById('calls').replaceChildren(...calls);
  }

  async function load() {
    const res = await api('GET', base);
    if (!res.ok) { show('message', errorText(res)); return; }
    const t = res.body;
    drawFacts(t);
    drawYou(t);
    drawEntrants(t.entrants || []);
    drawBracket(t);
    document.body.dataset.ready = 'true';
  }

  // A button's action: the API call, a message, then the page again.
  async function act(method, path, done) {
    if (!Portal.signedIn()) { signIn(); return; }
    const res = await api(method, path);
    if (res.status === 401) { signIn(); return; }
    show('message', res.ok ? done(res.body || {}) : errorText(res), res.ok ? 'ok' : 'error');
    load();
  }

  // The public live feed; back to polling while it is down, and a fresh load after a reconnect.
  function listen() {
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    const socket = new WebSocket(scheme + location.host + '/api/v1/live');
    socket.addEventListener('open', () => { live = true; text('live', 'Live'); load(); });
    socket.addEventListener('message', (event) => {
      let message = null;
      try { message = JSON.parse(event.data); } catch (_) { return; }
      if (message && message.type === 'tournament' && String(message.tournament_id) === id) load();
    });
    socket.addEventListener('close', () => {
      live = false;
      text('live', '');
      setTimeout(listen, 5000);
    });
  }

  document.addEventListener('DOMContentLoaded', async () => {
    if (!id) { show('message', 'No tournament given.'); return; }
    user = await Portal.currentUser(false);
    document.getElementById('sign-in').setAttribute('href',
      '/portal/signin?next=' + encodeURIComponent(location.pathname + location.search));
    document.getElementById('register').addEventListener('click', () => act('POST', base + '/registrations',
      (b) => (b.status === 'waitlisted' ? 'The tournament is full: you are on the waiting list (position ' + b.position + ').' : 'You are registered.')));
    document.getElementById('withdraw').addEventListener('click', () => act('DELETE', base + '/registrations/me',
      () => 'You have withdrawn.'));
    document.getElementById('check-in').addEventListener('click', () => act('POST', base + '/check-in',
      () => 'You are checked in.'));
    document.getElementById('open-check-in').addEventListener('click', () => act('POST', base + '/open-check-in',
      () => 'Check-in is open; registered players are told.'));
    document.getElementById('cancel').addEventListener('click', () => act('DELETE', base,
      () => 'The tournament is cancelled; registered players are told.'));
    await load();
    listen();
    setInterval(() => { if (!live) load(); }, 10000);
  });
})();
