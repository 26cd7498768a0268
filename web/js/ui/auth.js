// Sign in and create an account: one form that switches between the two.

import { h, icon } from '../dom.js';

/**
 * The signed-out screen. `signIn(username, password)` and `signUp(username, password,
 * displayName)` resolve when signed in and throw with a message to show otherwise. `invite` (a
 * node) is shown above the form when the visitor came by an invite link.
 */
export function authView({ signIn, signUp, notice, invite = null }) {
  let mode = 'signin';
  const title = h('h1', { id: 'auth-title' });
  const username = h('input', { id: 'auth-username', name: 'username', required: true, autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', minlength: '3', maxlength: '32' });
  const usernameHint = h('p', { id: 'auth-username-hint', class: 'hint', text: '3 to 32 letters, digits, “.”, “_” or “-”.' });
  const displayName = h('input', { id: 'auth-display', name: 'display_name', autocomplete: 'name', maxlength: '64' });
  const password = h('input', { id: 'auth-password', name: 'password', type: 'password', required: true, minlength: '8', maxlength: '1024' });
  const passwordHint = h('p', { id: 'auth-password-hint', class: 'hint', text: 'At least 8 characters.' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'button primary wide' });
  const switchText = h('span');
  const switchButton = h('button', { type: 'button', class: 'link-button', onClick: () => setMode(mode === 'signin' ? 'signup' : 'signin') });
  const signupOnly = [
    h('label', { for: 'auth-display' }, 'Display name ', h('span', { class: 'optional', text: '(optional)' })),
    displayName,
  ];
  const form = h('form', { class: 'stack', 'aria-labelledby': 'auth-title' },
    h('label', { for: 'auth-username', text: 'Username' }), username, usernameHint,
    ...signupOnly,
    h('label', { for: 'auth-password', text: 'Password' }), password, passwordHint,
    error,
    submit);

  function setMode(next) {
    mode = next;
    const up = mode === 'signup';
    if (invite) title.textContent = up ? 'Create an account to join' : 'Sign in to join';
    else title.textContent = up ? 'Create your account' : 'Sign in to Confab';
    submit.textContent = up ? 'Create account' : 'Sign in';
    switchText.textContent = up ? 'Already have an account? ' : 'New here? ';
    switchButton.textContent = up ? 'Sign in' : 'Create an account';
    for (const el of signupOnly) el.hidden = !up;
    usernameHint.hidden = !up;
    passwordHint.hidden = !up;
    username.setAttribute('aria-describedby', up ? 'auth-username-hint' : '');
    password.setAttribute('aria-describedby', up ? 'auth-password-hint' : '');
    password.autocomplete = up ? 'new-password' : 'current-password';
    error.textContent = '';
    username.focus();
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    try {
      if (mode === 'signup') await signUp(username.value.trim(), password.value, displayName.value.trim());
      else await signIn(username.value.trim(), password.value);
    } catch (err) {
      error.textContent = err.message;
      submit.disabled = false;
      password.focus();
    }
  });

  const el = h('main', { id: 'main', class: 'auth', tabindex: '-1' },
    h('div', { class: 'auth-card' },
      h('div', { class: 'brand auth-brand' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, icon('message')), h('span', { text: 'Confab' })),
      title,
      notice ? h('p', { class: 'notice', role: 'status', text: notice }) : null,
      invite,
      form,
      h('p', { class: 'auth-switch' }, switchText, switchButton)));
  setMode('signin');
  return el;
}
