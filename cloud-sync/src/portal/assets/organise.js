// Organise a tournament: for a venue's organisers and managers (the API decides; the venue list
// offers the venues where the user holds one of those roles). Creates it, then goes to its page.
'use strict';
(() => {
  const { api, el, show, errorText } = Portal;

  function value(id) { return document.getElementById(id).value.trim(); }

  function number(id) {
    const text = value(id);
    if (text === '') return undefined;
    const n = Number(text);
    return Number.isInteger(n) && n > 0 ? n : NaN;
  }

  // A `datetime-local` value (the browser's time zone) as RFC 3339, or undefined when empty.
  function instant(id) {
    const text = value(id);
    if (text === '') return undefined;
    const date = new Date(text);
    return Number.isNaN(date.getTime()) ? null : date.toISOString();
  }

  // The form as the API's body; a string when something is wrong.
  function body() {
    const format = value('format');
    const options = { third_place: document.getElementById('third-place').checked };
    if (format === 'double-elimination') options.grand_final = value('grand-final');
    const race = {};
    const to = number('race-to');
    const last = number('race-final');
    if (to !== undefined) race.to = to;
    if (last !== undefined) race.final = last;
    if (Object.keys(race).length) options.race = race;
    for (const [id, key] of [['groups', 'groups'], ['advance', 'advance'], ['rounds', 'rounds']]) {
      const n = number(id);
      if (n !== undefined) options[key] = n;
    }
    if (Object.values(race).concat(Object.values(options)).some((n) => Number.isNaN(n))) {
      return 'Numbers must be whole and positive.';
    }
    const out = { name: value('name'), format, options, public: document.getElementById('public').checked };
    for (const [id, key] of [['starts-at', 'starts_at'], ['registration-opens-at', 'registration_opens_at'],
      ['registration-closes-at', 'registration_closes_at'], ['check-in-opens-at', 'check_in_opens_at']]) {
      const at = instant(id);
      if (at === null) return 'A date is not valid.';
      if (at !== undefined) out[key] = at;
    }
    const cap = number('cap');
    if (Number.isNaN(cap)) return 'Places must be a whole number.';
    if (cap !== undefined) out.cap = cap;
    return out;
  }

  async function create(event) {
    event.preventDefault();
    const made = body();
    if (typeof made === 'string') { show('message', made); return; }
    const button = document.getElementById('create-submit');
    button.disabled = true;
    const venue = value('venue');
    const res = await api('POST', '/api/v1/venues/' + encodeURIComponent(venue) + '/tournaments', made);
    button.disabled = false;
    if (!res.ok || !res.body || res.body.id === undefined) { show('message', errorText(res)); return; }
    location.assign('/portal/tournament?id=' + encodeURIComponent(res.body.id));
  }

  document.addEventListener('DOMContentLoaded', async () => {
    const user = await Portal.currentUser(true);
    if (!user) return;
    document.getElementById('create').addEventListener('submit', create);
    const res = await api('GET', '/api/v1/me/venues');
    const admin = Portal.hasRole(user, 'admin');
    const mine = res.ok ? res.body.venues.filter((v) => admin
      || v.roles.includes('organiser') || v.roles.includes('venue_manager')) : [];
    const wanted = Portal.param('venue');
    const options = mine.map((v) => el('option', { value: v.venue_id }, v.name));
    if (wanted && !mine.some((v) => v.venue_id === wanted)) options.unshift(el('option', { value: wanted }, wanted));
    document.getElementById('venue').replaceChildren(...options);
    if (wanted) document.getElementById('venue').value = wanted;
    if (!options.length) show('message', 'You organise at no venue.');
    document.body.dataset.ready = 'true';
  });
})();
