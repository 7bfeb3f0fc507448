// Reset: without `?token=` asks for the address and sends the link; with it, sets the password.
'use strict';
document.addEventListener('DOMContentLoaded', () => {
  const token = Portal.param('token');
  const forgot = document.getElementById('forgot');
  const reset = document.getElementById('reset');
  if (token) { forgot.hidden = true; reset.hidden = false; }
  forgot.addEventListener('submit', async (event) => {
    event.preventDefault();
    const email = forgot.email.value.trim();
    if (!email) return Portal.show('message', 'Fill in your email address.');
    const res = await Portal.api('POST', '/api/v1/auth/password/forgot', { email });
    if (res.status === 202) Portal.show('message', 'If an account has this address, a link is on its way to it.', 'ok');
    else Portal.show('message', Portal.errorText(res));
  });
  reset.addEventListener('submit', async (event) => {
    event.preventDefault();
    const password = reset.password.value;
    if (password.length < 10) return Portal.show('message', 'A password must be at least 10 characters.');
    const res = await Portal.api('POST', '/api/v1/auth/password/reset', { token, password });
    if (!res.ok) return Portal.show('message', Portal.errorText(res));
    Portal.forget();
    reset.hidden = true;
    const message = document.getElementById('message');
    Portal.show(message, 'Your password is changed. ', 'ok');
    message.append(Portal.el('a', { href: '/portal/signin' }, 'Sign in'));
  });
});
