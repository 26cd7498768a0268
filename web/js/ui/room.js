// The open room: its header, timeline, typing line and composer.
//
// The view subscribes to the store topics of its room and re-renders the parts they touch; the
// timeline and composer do the heavy lifting. Features plug in through two extension points:
// `roomActionProviders` add header buttons (the call button) and `roomPanelProviders` add panels
// under the header (the call panel). Files dropped anywhere on the room go to the composer.

import { h, icon, iconButton, labeledButton, avatar } from '../dom.js';
import { presenceLabel, typingText } from '../format.js';
import { Timeline } from './timeline.js';
import { Composer } from './composer.js';
import { reactionPicker } from './reactions.js';
import { confirmDialog, forwardDialog, notifyDialog, peopleDialog, pinsDialog } from './dialogs.js';

/**
 * Functions `(ctx) => Node | {el, destroy} | null` that add buttons to a room's header (voice
 * plugs in here); `destroy` runs when the view goes.
 */
export const roomActionProviders = [];

/** Functions `(ctx) => Node | {el, destroy} | null` that add panels under a room's header. */
export const roomPanelProviders = [];

function provided(providers, ctx) {
  return providers.map((p) => p(ctx)).filter(Boolean).map((x) => (x instanceof Node ? { el: x } : x));
}

export class RoomView {
  constructor({ store, chat, api, roomId, nav, toast, announce }) {
    this.store = store;
    this.chat = chat;
    this.roomId = roomId;
    this.nav = nav;
    this.toast = toast;
    this.announce = announce;
    const ctx = {
      store, chat, api, roomId,
      canModerate: () => ['owner', 'admin'].includes(store.room(roomId)?.role),
      // Owners and admins pin in group rooms; both people pin in a DM.
      canPin: () => store.room(roomId)?.kind === 'dm' || ['owner', 'admin'].includes(store.room(roomId)?.role),
      actions: this.actions(),
    };
    this.ctx = ctx;
    this.timeline = new Timeline(ctx);
    this.composer = new Composer(ctx);

    this.title = h('h1', { id: 'room-title', class: 'room-title' });
    this.subtitle = h('p', { class: 'room-subtitle' });
    this.headerAvatar = h('span', { class: 'room-avatar' });
    this.headerActions = h('div', { class: 'room-actions' });
    this.typingLine = h('div', { class: 'typing-line', 'aria-live': 'polite' });
    const header = h('header', { class: 'room-header' },
      iconButton('back', 'Back to rooms', () => nav.home(), { class: 'back-button' }),
      this.headerAvatar,
      h('div', { class: 'room-heading' }, this.title, this.subtitle),
      this.headerActions);
    this.extraActions = provided(roomActionProviders, ctx);
    this.panels = provided(roomPanelProviders, ctx);
    this.dropHint = h('div', { class: 'drop-hint', hidden: true, 'aria-hidden': 'true' },
      h('p', { text: 'Drop files to attach them' }));
    this.el = h('section', { class: 'room', 'aria-labelledby': 'room-title' },
      header, this.panels.map((p) => p.el), this.timeline.el, this.typingLine, this.composer.el, this.dropHint);
    this.watchDrops();

    this.unsubscribe = [
      store.on(`room:${roomId}`, () => this.renderRoom()),
      store.on(`typing:${roomId}`, () => this.renderTyping()),
      store.on('presence', () => this.renderHeader()),
      store.on('rooms', () => this.renderHeader()),
      store.on('me', () => this.renderRoom()),
    ];
    this.renderHeader();
    this.renderActions();
    this.timeline.render();
  }

  destroy() {
    this.unsubscribe.forEach((u) => u());
    this.threadPanel?.destroy();
    for (const x of [...this.extraActions, ...this.panels]) x.destroy?.();
    this.composer.destroy();
    this.timeline.destroy();
    this.chat.typing(this.roomId, false);
  }

  focusComposer() {
    this.composer.focus();
  }

  /** The view is in the document: what needs layout to measure can now do so. */
  attached() {
    this.composer.attached();
  }

  tick() {
    this.timeline.tick();
    this.renderHeader();
  }

  renderRoom() {
    if (!this.store.room(this.roomId)) return;
    this.renderHeader();
    this.renderActions();
    this.timeline.render();
    this.composer.renderReply();
  }

  renderHeader() {
    const { store } = this;
    const room = store.room(this.roomId);
    if (!room) return;
    const name = store.roomName(room);
    if (room.kind === 'dm') {
      const other = room.dm_user;
      const p = other && store.state.presence.get(other.id);
      this.title.textContent = name;
      this.subtitle.textContent = presenceLabel(p);
      this.headerAvatar.replaceChildren(avatar(other || { id: room.id, display_name: name }), h('span', { class: ['presence-dot', `status-${p?.status || 'offline'}`], 'aria-hidden': 'true' }));
    } else {
      this.title.textContent = `#${name}`;
      const count = `${room.members_count} ${room.members_count === 1 ? 'member' : 'members'}`;
      this.subtitle.textContent = room.topic ? `${room.topic} · ${count}` : count;
      this.headerAvatar.replaceChildren(h('span', { class: 'room-hash' }, icon('hash')));
    }
  }

  renderActions() {
    const room = this.store.room(this.roomId);
    if (!room) return;
    const key = `${room.kind}|${room.role}`;
    if (this.actionsKey === key) return;
    this.actionsKey = key;
    const buttons = this.extraActions.map((x) => x.el);
    buttons.push(this.notifyButton());
    buttons.push(iconButton('pin', 'Pinned messages', () => this.showPins()));
    buttons.push(iconButton('message', 'Threads', () => this.showThreads()));
    if (room.kind === 'group') {
      if (this.ctx.canModerate()) {
        buttons.push(labeledButton('userPlus', 'Add people', 'Add', () => this.addPeople()));
        buttons.push(labeledButton('link', 'Invite people', 'Invite', () => import('./invites.js').then((m) => m.inviteDialog({ api: this.ctx.api, roomId: this.roomId, roomName: this.store.roomName(room) }))));
      }
      buttons.push(labeledButton('users', 'Members', 'Members', () => this.showMembers()));
      buttons.push(labeledButton('door', 'Leave room', 'Leave', () => this.leave()));
    }
    this.headerActions.replaceChildren(...buttons);
  }

  /** Files dragged over the room: a hint while over it, to the composer when dropped. */
  watchDrops() {
    let depth = 0;
    const hasFiles = (e) => [...(e.dataTransfer?.types || [])].includes('Files');
    const show = (on) => { this.dropHint.hidden = !on; };
    this.el.addEventListener('dragenter', (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth += 1;
      show(true);
    });
    this.el.addEventListener('dragover', (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'copy';
    });
    this.el.addEventListener('dragleave', (e) => {
      if (!hasFiles(e)) return;
      depth = Math.max(0, depth - 1);
      if (!depth) show(false);
    });
    this.el.addEventListener('drop', (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      show(false);
      this.composer.attach([...e.dataTransfer.files]);
    });
  }

  renderTyping() {
    const names = this.store.typists(this.roomId).map((id) => this.store.displayName(id));
    const text = typingText(names);
    if (this.typingLine.textContent !== text) this.typingLine.textContent = text;
  }

  // ---- actions offered to the timeline and composer ----

  actions() {
    const { store, chat, roomId } = this;
    return {
      reply: (m) => {
        store.setReply(roomId, m);
        this.composer.focus();
      },
      forward: (m) => forwardDialog({
        store,
        message: m,
        forward: (room) => {
          chat.forward(m, room.id);
          this.toast(`Forwarded to ${room.kind === 'dm' ? '' : '#'}${store.roomName(room)}.`);
        },
      }),
      edit: (m) => {
        this.ctx.editDraft = null;
        store.setEditing(m.id, roomId);
        this.timeline.focusKey(m.id, 'textarea');
      },
      cancelEdit: (m) => {
        this.ctx.editDraft = null;
        store.setEditing(null, roomId);
        this.timeline.focusKey(m.id);
      },
      saveEdit: async (m, body) => {
        await chat.edit(m, body);
        this.ctx.editDraft = null;
        this.timeline.focusKey(m.id);
      },
      remove: async (m) => {
        const ok = await confirmDialog({ title: 'Delete message?', message: 'It will be removed for everyone in the room.', confirmLabel: 'Delete', danger: true });
        if (!ok) return;
        try {
          await chat.remove(m);
          this.timeline.focusKey(m.id);
          this.toast('Message deleted.');
        } catch (e) {
          this.toast(`Could not delete: ${e.message}`);
        }
      },
      pin: (m, add) => chat.pin(m, add)
        .then(() => this.toast(add ? 'Message pinned.' : 'Message unpinned.'))
        .catch((e) => this.toast(`Could not ${add ? 'pin' : 'unpin'}: ${e.message}`)),
      react: (m, emoji, add) => chat.react(m, emoji, add).catch((e) => this.toast(`Could not react: ${e.message}`)),
      pickReaction: (m) => reactionPicker({ api: this.ctx.api, pick: (emoji) => this.ctx.actions.react(m, emoji, true) }),
      retry: (clientId) => chat.retry(clientId),
      discard: (clientId) => chat.discard(clientId),
      jump: (targetRoom, messageId) => {
        if (targetRoom === roomId) this.timeline.jumpTo(messageId);
        else this.nav.open(targetRoom, messageId);
      },
      toast: (text) => this.toast(text),
      openThread: (m, highlightId) => this.openThread(m, highlightId),
      focusComposer: () => this.composer.focus(),
      scrollToBottom: () => this.timeline.scrollToBottom(),
    };
  }

  /** Opens `root`'s thread in the side panel (full screen on phones), at `highlightId`. */
  async openThread(root, highlightId = null) {
    const { ThreadPanel, threadStyles } = await import('./thread.js');
    await threadStyles();
    this.closeThread();
    this.threadPanel = new ThreadPanel(this.ctx, root, () => this.closeThread(true), highlightId);
    this.el.append(this.threadPanel.el);
    this.el.classList.add('thread-open');
    this.threadPanel.focus();
  }

  /** Closes the thread panel; `refocus` gives the focus back to the root in the timeline. */
  closeThread(refocus = false) {
    if (!this.threadPanel) return;
    const rootId = this.threadPanel.rootId;
    this.threadPanel.destroy();
    this.threadPanel.el.remove();
    this.threadPanel = null;
    this.el.classList.remove('thread-open');
    if (refocus) this.timeline.focusKey(rootId);
  }

  async showThreads() {
    const { threadsDialog } = await import('./thread.js');
    threadsDialog({ api: this.ctx.api, store: this.store, roomId: this.roomId, open: (root) => this.openThread(root), toast: this.toast });
  }

  addPeople() {
    const { store, chat, roomId } = this;
    chat.loadMembers(roomId);
    peopleDialog({
      title: 'Add people',
      actionLabel: 'Add',
      store,
      search: (q) => chat.searchUsers(q),
      status: (u) => (store.state.members.get(roomId)?.has(u.id) ? 'Member' : null),
      pick: async (u) => {
        await chat.addMember(roomId, u);
        return 'Added';
      },
    });
  }

  /** The button that opens the viewer's notification level for this room. */
  notifyButton() {
    return iconButton('bell', 'Notifications for this room', () => notifyDialog({
      current: this.store.room(this.roomId)?.notify || 'all',
      choose: (level) => this.chat.setNotify(this.roomId, level)
        .catch((e) => this.toast(`Could not change notifications: ${e.message}`)),
    }));
  }

  async showPins() {
    const { store, chat, roomId } = this;
    let pins;
    try {
      pins = await chat.pins(roomId);
    } catch (e) {
      this.toast(`Could not load the pins: ${e.message}`);
      return;
    }
    pinsDialog({
      store,
      pins,
      canUnpin: this.ctx.canPin(),
      jump: (m) => this.timeline.jumpTo(m.id),
      unpin: (m) => this.ctx.actions.pin(m, false),
    });
  }

  async showMembers() {
    const { store, chat, roomId } = this;
    const { membersDialog } = await import('./members.js');
    membersDialog({
      store,
      roomId,
      loadMembers: () => chat.loadMembers(roomId),
      watch: (ids) => chat.socket.send({ type: 'presence.subscribe', room_id: roomId, user_ids: ids }),
      onAdd: () => this.addPeople(),
      onBlock: async (user, on) => {
        try {
          await chat.setBlocked(user.id, on);
          this.toast(on ? `You blocked ${user.display_name}: no DMs from them, and their messages show collapsed.` : `You unblocked ${user.display_name}.`);
        } catch (e) {
          this.toast(e.message);
        }
      },
      onModerate: (user) => import('./moderation.js').then((m) => m.moderateDialog({
        user,
        roomName: store.roomName(store.room(roomId)),
        act: {
          timeout: (until) => chat.api.timeoutMember(roomId, user.id, until),
          remove: async () => {
            await chat.api.removeMember(roomId, user.id);
            store.memberLeft(roomId, user.id);
          },
          ban: async (reason) => {
            await chat.api.banMember(roomId, user.id, reason);
            store.memberLeft(roomId, user.id);
          },
        },
      })),
    });
  }

  async leave() {
    const { store, chat, roomId } = this;
    const name = store.roomName(store.room(roomId));
    const ok = await confirmDialog({ title: `Leave #${name}?`, message: 'You will stop receiving its messages. Someone will have to add you again to come back.', confirmLabel: 'Leave room', danger: true });
    if (!ok) return;
    try {
      await chat.leaveRoom(roomId);
      this.toast(`You left #${name}.`);
      this.nav.home();
    } catch (e) {
      this.toast(`Could not leave: ${e.message}`);
    }
  }
}
