// Sign in: keeps the pair, then goes to `?next=` when it is a path of this site, else the profile.
'use strict';
function nextPage() {
  const next = Portal.param('next') || '';
  // Only a local path: "/x", never "//host" or "/\host" (open redirect).
  return /^\/(?![/\\])/.test(next) ? next : '/portal/profile';
}
document.addEventListener('DOMContentLoaded', () => {
  const form = document.getElementById('signin');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type=submit]');
    const body = { email: form.email.value.trim(), password: form.password.value };
    if (!body.email || !body.password) return Portal.show('message', 'Fill in your email address and password.');
    button.disabled = true;
    const res = await Portal.api('POST', '/api/v1/auth/login', body);
    button.disabled = false;
    if (!res.ok) {
      form.password.value = '';
      const wait = res.status === 429 ? ' Too many attempts: wait a little before trying again.' : '';
      return Portal.show('message', (res.status === 429 ? '' : Portal.errorText(res)) + wait);
    }
    Portal.keep(res.body);
    location.assign(nextPage());
  });
});
