// Extension points for features that plug into the client without touching its core: voice
// (ui/call.js) and attachments register here.
//
// An extension is a function called once per signed-in session with `{chat, store, api, session,
// toast, shell, openRoom}`; it may subscribe to server events (`chat.onFrame('voice.', fn)`), add
// room header buttons and panels (`roomActionProviders`, `roomPanelProviders` in ui/room.js) or
// bars in `shell.dock`, and returns an optional cleanup function called at sign-out. main.js
// imports each extension's module once so that it registers.

const registered = [];

/** Registers an extension (call at module load). */
export function registerExtension(init) {
  registered.push(init);
}

/** Starts every extension for a session; returns a function that stops them. */
export function startExtensions(context) {
  const cleanups = registered.map((init) => {
    try {
      return init(context);
    } catch (e) {
      console.error('extension failed to start', e);
      return null;
    }
  });
  return () => {
    for (const cleanup of cleanups) if (typeof cleanup === 'function') cleanup();
  };
}
