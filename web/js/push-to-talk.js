// Push to talk: whether the chosen key is held down in this page, as a flag.
//
// A browser page sees keys only while it has the focus, so the key counts as released the moment
// the page loses it (window blur, the tab hidden, the page going away): a talk key let go in
// another window must never leave the microphone open. While push to talk is on, the key is
// push to talk everywhere in the page, text fields included: it is swallowed (a held backquote
// does not type into the composer), so a key you type often is a poor choice and settings let you
// pick another. With Ctrl, Alt or Meta held it is left alone, so shortcuts that use it still work.
// Loaded when a call in push-to-talk mode starts (voice.js imports it then).

const MODIFIERS = ['ControlLeft', 'ControlRight', 'AltLeft', 'AltRight', 'MetaLeft', 'MetaRight', 'ShiftLeft', 'ShiftRight'];

export class PushToTalk {
  /** `key`: a KeyboardEvent.code; `onChange(held)` on every press and release. */
  constructor({ key, onChange }) {
    this.key = key;
    this.onChange = onChange;
    this.held = false;
    this.onKeyDown = (e) => {
      if (!this.isTalkKey(e)) return;
      e.preventDefault();
      e.stopPropagation();
      this.set(true);
    };
    this.onKeyUp = (e) => {
      if (e.code !== this.key) return;
      e.preventDefault();
      e.stopPropagation();
      this.set(false);
    };
    this.onLost = () => this.set(false);
    this.onVisibility = () => {
      if (document.visibilityState !== 'visible') this.set(false);
    };
    // Capture: the key is ours before the composer or any shortcut handler sees it.
    window.addEventListener('keydown', this.onKeyDown, true);
    window.addEventListener('keyup', this.onKeyUp, true);
    window.addEventListener('blur', this.onLost);
    window.addEventListener('pagehide', this.onLost);
    document.addEventListener('visibilitychange', this.onVisibility);
  }

  isTalkKey(e) {
    if (e.code !== this.key) return false;
    return MODIFIERS.includes(this.key) || (!e.ctrlKey && !e.altKey && !e.metaKey);
  }

  /** Another key; a held one counts as released. */
  setKey(key) {
    this.set(false);
    this.key = key;
  }

  set(held) {
    if (this.held === held) return;
    this.held = held;
    this.onChange(held);
  }

  stop() {
    window.removeEventListener('keydown', this.onKeyDown, true);
    window.removeEventListener('keyup', this.onKeyUp, true);
    window.removeEventListener('blur', this.onLost);
    window.removeEventListener('pagehide', this.onLost);
    document.removeEventListener('visibilitychange', this.onVisibility);
    this.set(false);
  }
}
