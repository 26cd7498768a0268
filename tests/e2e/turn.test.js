// Voice through a TURN relay: coturn runs with the repository's turn.conf (overridden only to
// stay on loopback and free ports), Confab mints credentials with the same secret, and two
// browsers that may only use relayed candidates talk through it. That proves turn.conf and
// Confab's credential scheme agree, end to end.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers/server.js';
import { ApiClient } from './helpers/api.js';
import { launchBrowser, newPage, assertClean } from './helpers/browser.js';
import { startTurn } from './helpers/turn.js';
import { instrument, callStats, expectAudioFlowing, participant } from './helpers/voice.js';
import * as ui from './helpers/ui.js';

let turn;
let server;
let browser;

before(async () => {
  turn = await startTurn();
  server = await startServer({ env: { CONFAB_TURN_URLS: turn.url, CONFAB_TURN_SECRET: turn.secret } });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.dispose();
  await turn?.stop();
});

test('two browsers forced to relay talk through coturn with Confab\'s credentials', async () => {
  const ana = await ApiClient.register(server.url, 'ana', 'Ana Lima');
  const bo = await ApiClient.register(server.url, 'bob', 'Bo Chen');
  const room = await ana.createRoom('relay');
  await ana.addMember(room.id, bo.user.id);
  const pages = [];
  for (const username of ['ana', 'bob']) {
    const page = await newPage(browser, server);
    await instrument(page, { relay: true });
    await ui.signIn(page, username);
    await ui.openRoom(page, 'relay');
    await page.getByRole('button', { name: /^Join voice call/ }).click();
    pages.push(page);
  }
  for (const [page, user] of [[pages[0], ana.user], [pages[1], bo.user]]) {
    await participant(page, 'Ana Lima').waitFor();
    await participant(page, 'Bo Chen').waitFor();
    // The client used the ICE servers of the voice.join ack: our coturn, with minted credentials.
    const config = await page.evaluate(() => window.__configs.at(-1));
    assert.deepEqual(config.iceServers.map((s) => s.urls).flat(), [turn.url]);
    assert.match(config.iceServers[0].username, new RegExp(`^\\d+:${user.id}$`));
    assert.ok(config.iceServers[0].credential, 'a credential');
  }
  try {
    for (const page of pages) {
      await ui.eventually(async () => {
        const s = await callStats(page);
        assert.equal(s?.state, 'connected');
        assert.equal(s.localCandidateType, 'relay', 'the selected pair goes through the relay');
      }, { timeout: 20_000 });
      await expectAudioFlowing(page);
    }
  } catch (e) {
    e.message += `\ncoturn log:\n${turn.log.slice(-40).join('')}`;
    throw e;
  }
  assertClean(...pages);
});
