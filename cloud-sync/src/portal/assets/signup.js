// Sign up: creates the account; the verification link arrives by email.
'use strict';
document.addEventListener('DOMContentLoaded', () => {
  const form = document.getElementById('signup');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type=submit]');
    const body = {
      email: form.email.value.trim(),
      display_name: form.display_name.value.trim(),
      password: form.password.value,
    };
    if (!body.email || !body.display_name) return Portal.show('message', 'Fill in your email address and your name.');
    if (body.password.length < 10) return Portal.show('message', 'A password must be at least 10 characters.');
    button.disabled = true;
    const res = await Portal.api('POST', '/api/v1/auth/register', body);
    button.disabled = false;
    if (res.status === 201) {
      form.password.value = '';
      Portal.show('message', 'Almost done: open the link we sent to ' + body.email + ' to verify your address, then sign in.', 'ok');
    } else {
      Portal.show('message', Portal.errorText(res));
    }
  });
});
