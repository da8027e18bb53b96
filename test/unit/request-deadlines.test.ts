import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AttemptAbort } from '../../src/core/call-signal.ts';
import { isNexusError } from '../../src/core/errors.ts';
import { RequestDeadlines } from '../../src/http/deadlines.ts';

describe('request deadlines', () => {
  it('abort each request still in flight once its timeout has passed, with upstream_timeout, and no other', async () => {
    const deadlines = new RequestDeadlines(60);
    try {
      const [early, settled, late] = [new AttemptAbort(), new AttemptAbort(), new AttemptAbort()];
      deadlines.track(early);
      deadlines.track(settled);
      await sleep(40);
      deadlines.track(late);
      deadlines.settle(settled);
      await sleep(45);
      assert.equal(early.aborted, true, 'the first request is past its 60 ms');
      assert.ok(isNexusError(early.reason) && early.reason.code === 'upstream_timeout');
      assert.equal(settled.aborted, false, 'a finished request is never aborted');
      assert.equal(late.aborted, false, 'a request 45 ms old is not yet due');
      await sleep(60);
      assert.equal(late.aborted, true);
      assert.equal(settled.aborted, false);
    } finally {
      deadlines.stop();
    }
  });

  it('keep working after falling idle, and fire nothing once stopped', async () => {
    const deadlines = new RequestDeadlines(20);
    const first = new AttemptAbort();
    deadlines.track(first);
    deadlines.settle(first);
    await sleep(60);
    const second = new AttemptAbort();
    deadlines.track(second);
    await sleep(60);
    assert.equal(first.aborted, false);
    assert.equal(second.aborted, true, 'a request tracked after the sweeper went idle still times out');
    const third = new AttemptAbort();
    deadlines.track(third);
    deadlines.stop();
    await sleep(60);
    assert.equal(third.aborted, false);
  });
});
