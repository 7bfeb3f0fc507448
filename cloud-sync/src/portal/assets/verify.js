// Verify: the link from the email (`?token=…`) verifies the address.
'use strict';
document.addEventListener('DOMContentLoaded', async () => {
  const token = Portal.param('token');
  if (!token) return Portal.show('message', 'This link has no token. Open the link from the email again.');
  const res = await Portal.api('POST', '/api/v1/auth/verify', { token });
  if (!res.ok) return Portal.show('message', Portal.errorText(res));
  Portal.show('message', 'Your email address is verified.', 'ok');
  // A signed-in tab takes the verification into its access token now.
  if (Portal.signedIn() && await Portal.refresh()) {
    const next = document.getElementById('next');
    next.textContent = 'Go to your profile';
    next.setAttribute('href', '/portal/profile');
  }
});
