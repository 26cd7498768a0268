// The moderation menu of one member: time out (or lift it), remove, ban, with an optional reason
// that goes to the room's audit log. Opened from the members dialog by the room's owner and
// admins (and server admins) on members they outrank; the server checks the same rules.

import { h } from '../dom.js';
import { modal, confirmDialog } from './dialogs.js';

const DURATIONS = [
  ['600', '10 minutes'],
  ['3600', '1 hour'],
  ['86400', '1 day'],
  ['604800', '1 week'],
];

/**
 * `act` holds the calls: `timeout(until | null)`, `remove()`, `ban(reason)`, each resolving when
 * done or throwing with a message to show.
 */
export function moderateDialog({ user, roomName, act }) {
  const name = user.display_name;
  const reason = h('input', { id: 'moderate-reason', maxlength: '500', autocomplete: 'off' });
  const duration = h('select', { id: 'moderate-duration' }, ...DURATIONS.map(([v, t]) => h('option', { value: v, text: t })));
  const error = h('p', { class: 'form-error', role: 'alert' });
  const status = h('p', { class: 'hint', role: 'status' });
  const run = (button, fn) => async () => {
    error.textContent = '';
    button.disabled = true;
    try {
      await fn();
    } catch (err) {
      error.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  };
  const timeOut = h('button', { type: 'button', class: 'button small', text: 'Time out' });
  timeOut.addEventListener('click', run(timeOut, async () => {
    const until = new Date(Date.now() + Number(duration.value) * 1000);
    await act.timeout(until);
    status.textContent = `${name} is timed out until ${until.toLocaleString()}.`;
  }));
  const lift = h('button', { type: 'button', class: 'button small ghost', text: 'Lift timeout' });
  lift.addEventListener('click', run(lift, async () => {
    await act.timeout(null);
    status.textContent = `${name} can post again.`;
  }));
  const remove = h('button', { type: 'button', class: 'button small ghost', text: 'Remove from room' });
  remove.addEventListener('click', run(remove, async () => {
    const ok = await confirmDialog({ title: `Remove ${name}?`, message: `${name} will no longer see #${roomName}, but can be added or invited again.`, confirmLabel: 'Remove', danger: true });
    if (!ok) return;
    await act.remove();
    m.close();
  }));
  const ban = h('button', { type: 'button', class: 'button small danger', text: 'Ban from room' });
  ban.addEventListener('click', run(ban, async () => {
    const ok = await confirmDialog({ title: `Ban ${name}?`, message: `${name} will be removed from #${roomName} and cannot come back, by invite or otherwise, until the ban is lifted.`, confirmLabel: 'Ban', danger: true });
    if (!ok) return;
    await act.ban(reason.value.trim());
    m.close();
  }));
  const m = modal({
    title: `Moderate ${name}`,
    className: 'modal-small',
    content: h('div', { class: 'stack' },
      h('label', { for: 'moderate-reason' }, 'Reason ', h('span', { class: 'optional', text: '(optional, kept in the audit log)' })), reason,
      h('label', { for: 'moderate-duration', text: 'Time out for' }),
      h('div', { class: 'modal-actions start' }, duration, timeOut, lift),
      h('div', { class: 'modal-actions start' }, remove, ban),
      error, status),
  });
  duration.focus();
}
