// The portal's home: greets a signed-in user by name.
'use strict';
document.addEventListener('DOMContentLoaded', async () => {
  const user = await Portal.currentUser(false);
  if (user) document.getElementById('greeting').textContent = 'Welcome back, ' + user.display_name + '.';
});
