// The portal's shared client: the session (tokens), the JSON API with refresh on 401, the header
// navigation, and DOM helpers that only ever set text (every value shown is escaped by the DOM).
//
// Tokens: the refresh token is kept in localStorage (it rotates on every use, and a stolen used
// one revokes its family); the short-lived access token in sessionStorage (this tab only). No
// secret is in the page itself.
'use strict';

const Portal = (() => {
  const REFRESH = 'dojo.refresh';
  const ACCESS = 'dojo.access';
  let access = sessionStorage.getItem(ACCESS);
  let refreshing = null;

  function signedIn() { return access !== null || localStorage.getItem(REFRESH) !== null; }

  function keep(pair) {
    access = pair.access_token;
    sessionStorage.setItem(ACCESS, access);
    if (pair.refresh_token) localStorage.setItem(REFRESH, pair.refresh_token);
  }

  function forget() {
    access = null;
    sessionStorage.removeItem(ACCESS);
    localStorage.removeItem(REFRESH);
  }

  async function refresh() {
    const token = localStorage.getItem(REFRESH);
    if (!token) { forget(); return false; }
    if (!refreshing) {
      refreshing = (async () => {
        const res = await fetch('/api/v1/auth/refresh', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ refresh_token: token }),
        });
        if (res.ok) { keep(await res.json()); return true; }
        if (res.status === 401) forget();
        return false;
      })().finally(() => { refreshing = null; });
    }
    return refreshing;
  }

  // `api('GET', '/api/v1/me')` → `{ status, ok, body }`; the body is parsed JSON or null.
  async function api(method, path, body) {
    if (!access && signedIn()) await refresh();
    const send = () => {
      const headers = {};
      if (access) headers.Authorization = 'Bearer ' + access;
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      return fetch(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      });
    };
    let res = await send();
    if (res.status === 401 && access && await refresh()) res = await send();
    const text = await res.text();
    let parsed = null;
    try { parsed = text ? JSON.parse(text) : null; } catch (_) { parsed = null; }
    return { status: res.status, ok: res.ok, body: parsed };
  }

  // The message of an error answer, for people.
  function errorText(res) {
    if (res.status === 429) return 'Too many attempts. Wait a moment and try again.';
    return (res.body && res.body.error) || ('Something went wrong (' + res.status + ').');
  }

  // `el('td', { class: 'x' }, 'text', child)`: attributes are set as attributes, strings as text.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === false || value === null || value === undefined) continue;
      if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function show(target, text, kind) {
    const node = typeof target === 'string' ? document.getElementById(target) : target;
    if (!node) return;
    node.className = 'message ' + (kind || 'error');
    node.textContent = text || '';
  }

  // The signed-in user (`/api/v1/me`), or null; sends to sign-in when `required`.
  let me = null;
  async function currentUser(required) {
    if (me) return me;
    if (signedIn()) {
      const res = await api('GET', '/api/v1/me');
      if (res.ok) me = res.body;
    }
    if (!me && required) {
      location.assign('/portal/signin?next=' + encodeURIComponent(location.pathname + location.search));
      return null;
    }
    return me;
  }

  function hasRole(user, role, venue) {
    return !!user && (user.roles || []).some((r) => r.role === role && (venue === undefined || r.venue_id === venue || r.venue_id === null));
  }

  // Header navigation, by who is signed in. Pages add themselves here as they are built.
  async function nav() {
    const header = document.querySelector('header.top nav');
    if (!header) return;
    const user = await currentUser(false);
    const links = [];
    if (user) {
      links.push(['/portal/profile', 'My profile']);
      links.push(['/portal/results', 'My results']);
      links.push(['/portal/notifications', 'Notifications']);
      links.push(['/portal/sessions', 'Sessions']);
      if (hasRole(user, 'venue_manager')) links.push(['/portal/venue', 'My venue']);
      if (hasRole(user, 'admin')) links.push(['/portal/admin', 'Administration']);
    } else {
      links.push(['/portal/signin', 'Sign in']);
      links.push(['/portal/signup', 'Sign up']);
    }
    header.replaceChildren(...links.map(([href, text]) => el('a', { href }, text)));
    if (user) {
      header.append(el('button', {
        class: 'secondary', type: 'button', id: 'signout',
        onclick: async () => { await api('POST', '/api/v1/auth/logout', {}); forget(); location.assign('/portal/signin'); },
      }, 'Sign out'));
    }
  }

  function param(name) { return new URLSearchParams(location.search).get(name); }

  document.addEventListener('DOMContentLoaded', () => { nav(); });

  return { api, keep, forget, signedIn, refresh, currentUser, hasRole, errorText, el, show, param };
})();
