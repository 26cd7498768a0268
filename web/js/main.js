// Confab's browser client: start here.
//
// main.js wires the parts together and owns the top-level screens: signed out (ui/auth.js) or
// signed in (ui/shell.js with the room list and the open room). The parts:
//   session.js  tokens in localStorage, refreshed once for all tabs
//   api.js      the HTTP API
//   socket.js   the WebSocket session with resume and reconnection
//   store.js    the state, and the only place it changes
//   chat.js     actions: HTTP calls, socket frames, the outbox of pending sends
//   notify.js   tab title and desktop notifications
//   router.js   the address bar
//   calls.js    voice calls; their WebRTC (voice.js) loads with the first; recorder.js voice notes
//   ui/         one module per view; DOM built with dom.js, text only ever as text
//
// Features that plug in through extensions.js are imported here once, for their registration:
// ui/call.js (voice calls).

import { Session } from './session.js';
import { Api, ApiError } from './api.js';
import { Store } from './store.js';
import { Chat } from './chat.js';
import { h, replaceChildren, setAvatarSource } from './dom.js';
import { attachmentsSummary, preview } from './format.js';
import { currentInvite, currentPermalink, currentRoute, navigate, onPermalink, onRouteChange } from './router.js';
import { maybeNotify, updateTitle } from './notify.js';
import { authView } from './ui/auth.js';
import { Shell } from './ui/shell.js';
import { RoomList } from './ui/roomlist.js';
import { RoomView } from './ui/room.js';
import { createRoomDialog, peopleDialog } from './ui/dialogs.js';
import { forgetDrafts } from './ui/composer.js';
import { clearMediaCache, objectUrl } from './ui/attachments.js';
import { clearCustomEmoji } from './emoji.js';
import { startExtensions } from './extensions.js';
import './ui/call.js';
import './ui/search.js';

const app = document.getElementById('app');
const announcer = document.getElementById('announcer');
const toasts = document.getElementById('toasts');

const session = new Session();
const api = new Api(session);
const store = new Store();

let chat = null;
let started = false; // the room list is in
let shell = null;
let sidebar = null;
let roomView = null;
let ticker = null;
let signedInAs = null;
let subscriptions = [];
let stopExtensions = null;
let signingOut = false;
// The code of the invite link this page was opened with, until it is used or declined; and
// whether the visitor already said yes (by signing in or up on the invite page).
let pendingInvite = currentInvite();
// Dialogs no first screen needs load on first use (a cold load stays small); the invite page's
// module is loaded before the first screen when the address is an invite link.
const loadInvites = () => import('./ui/invites.js');
let invites = pendingInvite ? await loadInvites() : null;
let inviteAccepted = false;

/** A short message in the corner, read out politely. */
function toast(text) {
  const el = h('div', { class: 'toast', text });
  toasts.append(el);
  setTimeout(() => el.remove(), 5000);
}

/** Text for screen readers only (new messages in the open room). */
function announce(text) {
  announcer.textContent = '';
  setTimeout(() => { announcer.textContent = text; }, 50);
}

// ---- signed out ----

function showAuth(notice) {
  teardown();
  app.classList.remove('signed-in', 'has-room');
  app.removeAttribute('aria-busy');
  document.title = 'Sign in · Confab';
  const code = pendingInvite;
  replaceChildren(app, authView({
    notice,
    invite: code && invites ? invites.inviteCard({ api, code }) : null,
    signIn: async (username, password) => {
      session.save(await api.login(username, password));
      inviteAccepted = !!code;
      await startApp();
    },
    signUp: async (username, password, displayName) => {
      // The server joins the invite's room as it creates the account.
      session.save(await api.register(username, password, displayName, code));
      inviteAccepted = !!code;
      await startApp();
    },
  }));
  app.querySelector('#auth-username')?.focus();
}

function teardown() {
  // Listeners first, then the session: stopping the chat updates the store, and a listener
  // that still ran would draw into a shell that is being taken down.
  subscriptions.forEach((u) => u());
  subscriptions = [];
  stopExtensions?.();
  stopExtensions = null;
  chat?.stop();
  chat = null;
  started = false;
  roomView?.destroy();
  roomView = null;
  sidebar?.destroy();
  sidebar = null;
  shell?.destroy();
  shell = null;
  signedInAs = null;
  clearInterval(ticker);
  store.reset();
  clearMediaCache();
  clearCustomEmoji();
  setAvatarSource(null);
}

// ---- signed in ----

async function startApp() {
  teardown();
  signedInAs = session.user?.id || null;
  setAvatarSource((url) => objectUrl(api, url).promise);
  chat = new Chat({
    store,
    api,
    session,
    onSignedOut: (why) => {
      // Deleting the account ends this login too; that flow says so itself.
      if (signingOut) return;
      showAuth(why === 'suspended' ? 'Your account was suspended by the server’s admins.' : 'Your session ended. Please sign in again.');
    },
    onEvent: onChatEvent,
  });
  sidebar = new RoomList({ store, open: (id) => openRoom(id), newRoom, newDm, browse: browseRooms });
  shell = new Shell({ store, chat, sidebar, signOut, openSettings });
  app.classList.add('signed-in');
  replaceChildren(app, shell.el);
  stopExtensions = startExtensions({ chat, store, api, session, toast, shell, openRoom: (id, messageId = null) => openRoom(id, { messageId }) });
  try {
    await chat.start();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return showAuth('Your session ended. Please sign in again.');
    renderStartError(e);
    return;
  }
  app.removeAttribute('aria-busy');
  started = true;
  subscriptions = [
    store.on('current', renderCurrent),
    store.on('current', () => updateTitle(store)),
    store.on('rooms', () => {
      updateTitle(store);
      if (store.state.currentRoomId && !store.room(store.state.currentRoomId) && roomView) openRoom(null, { replace: true });
    }),
  ];
  ticker = setInterval(() => {
    sidebar?.render();
    roomView?.tick();
  }, 30_000);
  if (pendingInvite) return inviteAccepted ? joinInvite(pendingInvite) : showInvite(pendingInvite);
  const link = currentPermalink();
  if (link) openRoom(link.roomId, { replace: true, seq: link.seq });
  else openRoom(currentRoute(), { replace: true });
}

// ---- invite links ----

/** Joins the invite's room and opens it; on failure, the invite page says why. */
async function joinInvite(code) {
  try {
    const room = await chat.acceptInvite(code);
    pendingInvite = null;
    inviteAccepted = false;
    openRoom(room.id, { replace: true });
  } catch (e) {
    showInvite(code, invites.inviteProblem(e));
  }
}

/** A signed-in visitor of an invite link: the room, and a button to join it. */
function showInvite(code, problem) {
  roomView?.destroy();
  roomView = null;
  app.classList.remove('has-room');
  document.title = 'Invitation · Confab';
  const join = h('button', { type: 'button', class: 'button primary', text: 'Join room', onClick: () => { join.disabled = true; joinInvite(code); } });
  const card = invites.inviteCard({ api, code, action: problem ? null : join, failed: problem });
  replaceChildren(shell.main, h('div', { class: 'empty-state' },
    card,
    h('button', { type: 'button', class: 'button ghost', text: 'Not now', onClick: () => { pendingInvite = null; openRoom(null); } })));
  join.focus();
}

async function browseRooms() {
  invites ??= await loadInvites();
  invites.browseRoomsDialog({
    search: (q) => api.publicRooms(q),
    join: (id) => chat.joinRoom(id),
    open: (id) => openRoom(id),
    isMember: (id) => !!store.room(id),
  });
}

function renderStartError(e) {
  replaceChildren(shell.main, h('div', { class: 'empty-state' },
    h('h1', { text: 'Cannot reach Confab' }),
    h('p', { text: e.message }),
    h('button', { type: 'button', class: 'button primary', text: 'Try again', onClick: () => startApp() })));
  app.removeAttribute('aria-busy');
}

function onChatEvent(kind, payload) {
  if (kind === 'message') {
    const m = payload;
    maybeNotify(store, m, (id) => openRoom(id));
    if (m.room_id === store.state.currentRoomId && m.sender_id !== store.me?.id && !m.deleted) {
      announce(`${store.displayName(m.sender_id)}: ${preview(m.body, 140) || attachmentsSummary(m.attachments)}`);
    }
  } else if (kind === 'left' && payload === store.state.currentRoomId) {
    openRoom(null, { replace: true });
  } else if (kind === 'error') {
    toast(payload.message || 'Something went wrong.');
  }
}

/** Opens a room (null: none), optionally scrolling to a message in it. */
function openRoom(roomId, { replace = false, messageId = null, seq = null } = {}) {
  // Before that, startApp opens the permalink.
  if (seq != null && !started) return;
  if (roomId && !store.room(roomId)) roomId = null;
  if (seq != null && location.hash) history.replaceState(null, '', location.pathname);
  navigate(roomId, { replace });
  chat.openRoom(roomId);
  renderCurrent();
  // Whatever brought the room up (a click, sign-in, a reload, the back button), typing goes
  // to its composer, unless a message was asked for.
  if (roomId && seq != null) roomView?.timeline.jumpToSeq(seq);
  else if (roomId && messageId) roomView?.timeline.jumpTo(messageId);
  else if (roomId) roomView?.focusComposer();
}

function renderCurrent() {
  if (!shell) return;
  const id = store.state.currentRoomId;
  if (roomView?.roomId === id && roomView) return;
  roomView?.destroy();
  roomView = null;
  app.classList.toggle('has-room', !!id);
  if (!id) {
    replaceChildren(shell.main, h('div', { class: 'empty-state' },
      h('h1', { text: store.state.rooms.size ? 'Pick a conversation' : 'Welcome to Confab' }),
      h('p', { text: store.state.rooms.size ? 'Choose a room or a direct message on the left.' : 'Create a room with the + next to “Rooms”, or start a direct message.' })));
    return;
  }
  roomView = new RoomView({
    store, chat, api, roomId: id, toast, announce,
    nav: {
      home: () => openRoom(null),
      open: (roomId, messageId) => openRoom(roomId, { messageId }),
    },
  });
  replaceChildren(shell.main, roomView.el);
  roomView.attached();
}

function newRoom() {
  createRoomDialog({
    create: (name, topic, visibility) => chat.createRoom(name, topic, visibility),
    created: (room) => openRoom(room.id),
  });
}

function newDm() {
  peopleDialog({
    title: 'New direct message',
    actionLabel: 'Message',
    store,
    closeOnPick: true,
    search: (q) => chat.searchUsers(q),
    status: () => null,
    pick: async (user) => {
      const room = await chat.openDm(user.id);
      setTimeout(() => openRoom(room.id), 0);
      return 'Opened';
    },
  });
}

async function openSettings() {
  const { settingsDialog } = await import('./ui/settings.js');
  settingsDialog({
    api,
    store,
    deleteAccount: async (password) => {
      // The server ends every login, this one included: its socket closing must not be taken
      // for an unexpected sign-out while the answer is on its way.
      signingOut = true;
      try {
        await api.deleteMe(password);
      } catch (e) {
        signingOut = false;
        throw e;
      }
      try {
        session.clear();
      } finally {
        signingOut = false;
        showAuth('Your account was deleted.');
      }
    },
  });
}

async function signOut() {
  signingOut = true;
  const me = store.me?.id;
  try {
    await chat?.signOut();
    if (me) forgetDrafts(me);
  } finally {
    signingOut = false;
    showAuth('You signed out.');
  }
}

// ---- tabs and history ----

session.onChange((reason) => {
  // Tokens refused (the refresh failed for good): back to the sign-in screen.
  if (reason === 'cleared' && chat && !signingOut) {
    showAuth('Your session ended. Please sign in again.');
    return;
  }
  if (reason !== 'external') return;
  const s = session.get();
  if (!s && chat) showAuth('You signed out in another tab.');
  else if (s && !chat) startApp();
  else if (s && signedInAs && s.user.id !== signedInAs) location.reload();
});

// A file dropped outside a room must not make the browser leave the app to show it.
for (const type of ['dragover', 'drop']) {
  window.addEventListener(type, (e) => {
    if ([...(e.dataTransfer?.types || [])].includes('Files')) e.preventDefault();
  });
}

onRouteChange((roomId) => {
  if (chat) openRoom(roomId, { replace: true });
});

onPermalink(({ roomId, seq }) => {
  if (chat) openRoom(roomId, { seq });
});

if (session.get()) {
  session.schedule();
  startApp();
} else {
  showAuth();
}
