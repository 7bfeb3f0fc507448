// A venue's tournaments: upcoming (registration, check-in, running) and past, each linking to its
// page; the venue's organisers and managers get a link to organise one. Anyone may read it.
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
  let user = null;

  function when(text) {
    const date = new Date(text);
    return text && !Number.isNaN(date.getTime()) ? date.toLocaleString() : '—';
  }

  async function list(venue, which) {
    const res = await api('GET', '/api/v1/venues/' + encodeURIComponent(venue) + '/tournaments?when=' + which);
    if (!res.ok) { show('message', errorText(res)); return; }
    const rows = (res.body.tournaments || []).map((t) => el('tr', { 'data-tournament': t.id, 'data-status': t.status },
      el('td', {}, when(t.starts_at)),
      el('td', {}, el('a', { href: '/portal/tournament?id=' + encodeURIComponent(t.id) }, t.name)),
      el('td', {}, FORMATS[t.format] || String(t.format)),
      el('td', {}, el('span', { class: 'badge' }, STATUS[t.status] || String(t.status))),
      el('td', {}, String(t.registered) + (t.cap ? ' / ' + t.cap : ''))));
    document.querySelector('#' + which + ' tbody').replaceChildren(...rows);
    document.getElementById(which + '-empty').hidden = rows.length > 0;
  }

  async function load(venue) {
    const organise = document.getElementById('organise');
    organise.hidden = !(Portal.hasRole(user, 'admin') || Portal.hasRole(user, 'organiser', venue)
      || Portal.hasRole(user, 'venue_manager', venue));
    organise.setAttribute('href', '/portal/organise?venue=' + encodeURIComponent(venue));
    await Promise.all([list(venue, 'upcoming'), list(venue, 'past')]);
    document.body.dataset.ready = 'true';
  }

  document.addEventListener('DOMContentLoaded', async () => {
    user = await Portal.currentUser(false);
    const pick = document.getElementById('venue-pick');
    const res = await api('GET', '/api/v1/venues?limit=200');
    const venues = res.ok ? res.body.venues : [];
    const wanted = Portal.param('venue');
    const options = venues.map((v) => el('option', { value: v.id }, v.name));
    if (wanted && !venues.some((v) => v.id === wanted)) options.unshift(el('option', { value: wanted }, wanted));
    pick.replaceChildren(...options);
    if (!options.length) { show('message', 'No venue yet.'); return; }
    if (wanted) pick.value = wanted;
    const name = pick.selectedOptions[0] ? pick.selectedOptions[0].textContent : '';
    document.getElementById('title').textContent = 'Tournaments at ' + name;
    pick.addEventListener('change', () => {
      history.replaceState(null, '', '?venue=' + encodeURIComponent(pick.value));
      document.getElementById('title').textContent = 'Tournaments at ' + pick.selectedOptions[0].textContent;
      load(pick.value);
    });
    load(pick.value);
  });
})();
