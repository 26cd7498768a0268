// Account settings, one dialog: profile (display name, status line), password, the list of
// sessions (each can be signed out), voice (push to talk, input device and audio processing, from
// voice-settings.js, this browser's), notifications while Confab is closed (Web Push, in
// ./push.js, loaded when the dialog opens), deleting the account, and for server admins the
// server's custom emoji (add one from an image, delete one).
//
// Everything shown comes from the server as data (user agents, addresses, names): text only.

import { h } from '../dom.js';
import { modal, confirmDialog } from './dialogs.js';
import { fullTime } from '../format.js';
import { customEmoji } from '../emoji.js';
import { customEmojiImage } from './reactions.js';
import { sessionVoice } from './call.js';

/** A section of the dialog with its heading, fields and a status line of its own. */
function section(title, ...children) {
  const id = `settings-${title.toLowerCase().replace(/\W+/g, '-')}`;
  return h('section', { class: 'settings-section', 'aria-labelledby': id }, h('h3', { id, text: title }), ...children);
}

/** Runs `fn` for a form's submit, showing its outcome in `status` or its failure in `error`. */
function handle(form, button, error, status, fn) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    status.textContent = '';
    button.disabled = true;
    try {
      status.textContent = await fn();
    } catch (err) {
      error.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });
}

function profileSection({ api, store }) {
  const me = store.me;
  const name = h('input', { id: 'settings-display-name', maxlength: '64', required: true, value: me.display_name, autocomplete: 'name' });
  const status = h('input', { id: 'settings-status', maxlength: '140', value: me.status_text || '', placeholder: 'In a meeting, on holiday…' });
  const picture = h('input', { id: 'settings-avatar', type: 'file', accept: 'image/png,image/jpeg,image/webp,image/gif' });
  const save = h('button', { type: 'submit', class: 'button primary small', text: 'Save profile' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const done = h('p', { class: 'hint', role: 'status' });
  picture.addEventListener('change', async () => {
    const file = picture.files?.[0];
    if (!file) return;
    error.textContent = '';
    done.textContent = 'Uploading…';
    try {
      const uploaded = await api.upload(file).done;
      store.setMe(await api.updateMe({ avatar_file_id: uploaded.id }));
      done.textContent = 'Avatar updated.';
    } catch (err) {
      done.textContent = '';
      error.textContent = err.message;
    }
  });
  const form = h('form', { class: 'stack' },
    h('label', { for: name.id, text: 'Display name' }), name,
    h('label', { for: status.id }, 'Status ', h('span', { class: 'optional', text: '(optional)' })), status,
    h('label', { for: picture.id }, 'Avatar ', h('span', { class: 'optional', text: '(an image; its centre is cropped square)' })), picture,
    h('div', { class: 'modal-actions start' }, save), error, done);
  handle(form, save, error, done, async () => {
    store.setMe(await api.updateMe({ display_name: name.value.trim(), status_text: status.value.trim() }));
    return 'Profile saved.';
  });
  return section('Profile', form);
}

function passwordSection({ api }) {
  const current = h('input', { id: 'settings-current-password', type: 'password', required: true, autocomplete: 'current-password' });
  const next = h('input', { id: 'settings-new-password', type: 'password', required: true, minlength: '8', maxlength: '1024', autocomplete: 'new-password' });
  const change = h('button', { type: 'submit', class: 'button small', text: 'Change password' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const done = h('p', { class: 'hint', role: 'status' });
  const form = h('form', { class: 'stack' },
    h('label', { for: current.id, text: 'Current password' }), current,
    h('label', { for: next.id, text: 'New password' }), next,
    h('div', { class: 'modal-actions start' }, change), error, done);
  handle(form, change, error, done, async () => {
    await api.changePassword(current.value, next.value);
    current.value = '';
    next.value = '';
    return 'Password changed. Your other sessions were signed out.';
  });
  return section('Password', form);
}

function sessionsSection({ api }) {
  const list = h('ul', { class: 'people-results', 'aria-label': 'Your sessions' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const live = h('p', { class: 'visually-hidden', 'aria-live': 'polite' });
  const render = async () => {
    try {
      const sessions = await api.sessions();
      list.replaceChildren(...sessions.map((s) => {
        const what = s.user_agent || 'Unknown client';
        const where = `${s.address || 'unknown address'} · last used ${fullTime(new Date(s.last_used_at))}`;
        const out = s.current
          ? h('span', { class: 'hint', text: 'This session' })
          : h('button', {
            type: 'button', class: 'button small ghost', text: 'Sign out', 'aria-label': `Sign out ${what}`,
            onClick: async () => {
              try {
                await api.signOutSession(s.id);
                live.textContent = 'Session signed out';
                await render();
              } catch (err) {
                error.textContent = err.message;
              }
            },
          });
        return h('li', { class: 'person' },
          h('span', { class: 'person-names' }, h('span', { class: 'person-name', text: what }), h('span', { class: 'person-username', text: where })),
          out);
      }));
    } catch (err) {
      error.textContent = err.message;
    }
  };
  render();
  return section('Sessions', list, error, live);
}

function notificationsSection({ api }) {
  const body = h('div', { class: 'settings-push' });
  import('./push.js')
    .then(({ pushControls }) => body.replaceChildren(...pushControls({ api })))
    .catch((err) => body.replaceChildren(h('p', { class: 'form-error', role: 'alert', text: err.message })));
  return section('Notifications', body);
}

function deleteSection({ deleteAccount, close }) {
  const password = h('input', { id: 'settings-delete-password', type: 'password', required: true, autocomplete: 'current-password' });
  const remove = h('button', { type: 'submit', class: 'button small danger', text: 'Delete account' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const done = h('p', { class: 'hint', role: 'status' });
  const form = h('form', { class: 'stack' },
    h('p', { class: 'hint', text: 'Your messages stay, shown as by “Deleted user”. This cannot be undone.' }),
    h('label', { for: password.id, text: 'Password' }), password,
    h('div', { class: 'modal-actions start' }, remove), error, done);
  handle(form, remove, error, done, async () => {
    const ok = await confirmDialog({ title: 'Delete your account?', message: 'You will leave every room and be signed out everywhere.', confirmLabel: 'Delete account', danger: true });
    if (!ok) return '';
    await deleteAccount(password.value);
    close();
    return '';
  });
  return section('Delete account', form);
}

function customEmojiSection({ api }) {
  const list = h('ul', { class: 'people-results', 'aria-label': 'Custom emoji' });
  const name = h('input', { id: 'settings-emoji-name', required: true, pattern: '[a-z0-9_]{2,32}', maxlength: '32', placeholder: 'party_parrot', autocomplete: 'off' });
  const picture = h('input', { id: 'settings-emoji-image', type: 'file', required: true, accept: 'image/png,image/jpeg,image/webp,image/gif' });
  const add = h('button', { type: 'submit', class: 'button small', text: 'Add emoji' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const done = h('p', { class: 'hint', role: 'status' });
  const render = async (fresh) => {
    try {
      const all = await customEmoji(api, { fresh });
      list.replaceChildren(...all.map((e) => h('li', { class: 'person' },
        customEmojiImage(api, e),
        h('span', { class: 'person-names' }, h('span', { class: 'person-name', text: `:${e.name}:` })),
        h('button', {
          type: 'button', class: 'button small ghost', text: 'Delete', 'aria-label': `Delete :${e.name}:`,
          onClick: async () => {
            error.textContent = '';
            try {
              await api.deleteCustomEmoji(e.name);
              done.textContent = `:${e.name}: deleted.`;
              await render(true);
            } catch (err) {
              error.textContent = err.message;
            }
          },
        }))));
      if (!all.length) list.replaceChildren(h('li', { class: 'hint', text: 'No custom emoji yet.' }));
    } catch (err) {
      error.textContent = err.message;
    }
  };
  const form = h('form', { class: 'stack' },
    h('label', { for: name.id }, 'Name ', h('span', { class: 'optional', text: '(2 to 32 of a-z, 0-9 and _)' })), name,
    h('label', { for: picture.id }, 'Image ', h('span', { class: 'optional', text: '(PNG, JPEG, WebP or GIF, at most 512 KiB)' })), picture,
    h('div', { class: 'modal-actions start' }, add), error, done);
  handle(form, add, error, done, async () => {
    const file = picture.files?.[0];
    if (!file) throw new Error('Choose an image.');
    const uploaded = await api.upload(file).done;
    const emoji = await api.addCustomEmoji(name.value.trim().replace(/^:|:$/g, ''), uploaded.id);
    name.value = '';
    picture.value = '';
    await render(true);
    return `:${emoji.name}: added.`;
  });
  render(false);
  return section('Custom emoji', list, form);
}

/** This browser's voice settings; their form loads with the section. */
function voiceSection({ store }) {
  const voice = sessionVoice();
  if (!voice) return null;
  const body = h('div', { class: 'stack' }, h('p', { class: 'hint', text: 'Loading…' }));
  Promise.all([voice.controls(), import('./voice-settings.js')])
    .then(([controls, { voiceSettings }]) => body.replaceChildren(voiceSettings({ store, controls })))
    .catch((err) => body.replaceChildren(h('p', { class: 'form-error', role: 'alert', text: err.message })));
  return section('Voice', body);
}

/** Opens the settings. `deleteAccount(password)` deletes the account and leaves the app. */
export function settingsDialog({ api, store, deleteAccount }) {
  let m = null;
  m = modal({
    title: 'Settings',
    className: 'modal-settings',
    content: [
      profileSection({ api, store }),
      passwordSection({ api }),
      sessionsSection({ api }),
      voiceSection({ store }),
      notificationsSection({ api }),
      store.me.server_role === 'admin' ? customEmojiSection({ api }) : null,
      deleteSection({ deleteAccount, close: () => m.close() }),
    ].filter(Boolean),
  });
  m.dialog.querySelector('#settings-display-name')?.focus();
}
