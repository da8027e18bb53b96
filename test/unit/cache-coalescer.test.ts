import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep, setImmediate as tick } from 'node:timers/promises';
import { Coalescer } from '../../src/cache/coalescer.ts';
import { FanoutAbandonedError, FanoutOverrunError, StreamFanout } from '../../src/cache/stream-fanout.ts';
import { AttemptAbort, ClientClosedError } from '../../src/core/call-signal.ts';
import { NexusError } from '../../src/core/errors.ts';
import { RecordingStream } from '../../src/pipeline/cache-streams.ts';

describe('coalescer', () => {
  it('100 concurrent identical calls: the leader runs exactly once, 100 results', async () => {
    const coalescer = new Coalescer<{ answer: string }>();
    let calls = 0;
    const upstream = async () => {
      calls++;
      await sleep(20);
      return { answer: 'tea' };
    };
    const results = await Promise.all(Array.from({ length: 100 }, () => coalescer.run('k', upstream)));
    assert.equal(calls, 1);
    assert.equal(results.length, 100);
    assert.ok(results.every((result) => result.value.answer === 'tea'));
    assert.equal(results.filter((result) => result.role === 'leader').length, 1);
    assert.equal(results.filter((result) => result.role === 'follower').length, 99);
    assert.equal(coalescer.size, 0);
    // The flight is over: the next call leads again.
    assert.equal((await coalescer.run('k', upstream)).role, 'leader');
    assert.equal(calls, 2);
  });

  it('different keys do not coalesce', async () => {
    const coalescer = new Coalescer<number>();
    let calls = 0;
    const upstream = async () => {
      calls++;
      await tick();
      return calls;
    };
    await Promise.all([coalescer.run('a', upstream), coalescer.run('b', upstream)]);
    assert.equal(calls, 2);
  });

  it('a failed leader fails only itself: the followers run again once, coalesced among themselves', async () => {
    const coalescer = new Coalescer<string>();
    let calls = 0;
    const upstream = (id: number) => async () => {
      calls++;
      await sleep(10);
      if (id === 0) throw new Error('the leader’s client left');
      return `answer for ${id}`;
    };
    const leader = coalescer.run('k', upstream(0));
    const followers = Array.from({ length: 50 }, (_, index) => coalescer.run('k', upstream(index + 1)));
    await assert.rejects(leader, /client left/);
    const results = await Promise.all(followers);
    // One failed call, then one new leader among the followers (with its own function): 2 upstream calls.
    assert.equal(calls, 2);
    const answers = new Set(results.map((result) => result.value));
    assert.equal(answers.size, 1);
    assert.equal(results.filter((result) => result.role === 'leader').length, 1);
  });

  it('leaders whose clients leave one after another never hand that departure to a follower', async () => {
    const coalescer = new Coalescer<string>({ abandoned: (error) => error instanceof ClientClosedError });
    let calls = 0;
    // The first three callers' clients leave before their answer arrives; the fourth caller's stays.
    const upstream = (id: number) => async () => {
      calls++;
      await sleep(5);
      if (id < 3) throw new ClientClosedError('client closed the connection');
      return `answer for ${id}`;
    };
    const runs = Array.from({ length: 6 }, (_, id) => coalescer.run('k', upstream(id)));
    const settled = await Promise.allSettled(runs);
    const failed = settled.filter((result) => result.status === 'rejected');
    const answered = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value.value] : []));
    // Each departed client fails only its own request; the other three all get one answer.
    assert.equal(failed.length, 3);
    assert.ok(failed.every((result) => result.reason instanceof ClientClosedError));
    assert.deepEqual(answered, ['answer for 3', 'answer for 3', 'answer for 3']);
    assert.equal(calls, 4);
  });

  it('a request that fails every time costs two upstream calls per burst, then the followers get the error', async () => {
    const coalescer = new Coalescer<string>();
    let calls = 0;
    const failing = async () => {
      calls++;
      await sleep(5);
      throw new Error(`upstream down #${calls}`);
    };
    const all = await Promise.allSettled(Array.from({ length: 20 }, () => coalescer.run('k', failing)));
    assert.equal(calls, 2);
    assert.ok(all.every((result) => result.status === 'rejected'));
  });

  it('a shared failure goes to the followers at once', async () => {
    const coalescer = new Coalescer<string>({
      sharedFailure: (error) => (error as Error).message === 'bad request',
    });
    let calls = 0;
    const bad = async () => {
      calls++;
      await sleep(5);
      throw new Error('bad request');
    };
    const all = await Promise.allSettled(Array.from({ length: 10 }, () => coalescer.run('k', bad)));
    assert.equal(calls, 1);
    assert.ok(all.every((result) => result.status === 'rejected' && result.reason.message === 'bad request'));
  });

  it('a follower whose signal aborts stops waiting; the others still get the answer', async () => {
    const coalescer = new Coalescer<string>();
    let release!: (value: string) => void;
    const leader = coalescer.run('k', () => new Promise<string>((resolve) => (release = resolve)));
    const controller = new AbortController();
    const leaving = coalescer.run('k', async () => 'never', { signal: controller.signal });
    const staying = coalescer.run('k', async () => 'never');
    controller.abort(new Error('client left'));
    await assert.rejects(leaving, /client left/);
    release('tea');
    assert.deepEqual(await leader, { value: 'tea', role: 'leader' });
    assert.deepEqual(await staying, { value: 'tea', role: 'follower' });
  });

  it('keepWhile keeps a stream joinable until it ends', async () => {
    const coalescer = new Coalescer<StreamFanout<string>>({ keepWhile: (fanout) => fanout.done });
    let calls = 0;
    const lead = async () => {
      calls++;
      return new StreamFanout<string>();
    };
    const first = await coalescer.run('k', lead);
    first.value.push('a');
    const late = await coalescer.run('k', lead);
    assert.equal(late.role, 'follower');
    assert.equal(late.value, first.value);
    first.value.end();
    await tick();
    assert.equal(coalescer.size, 0);
    assert.equal((await coalescer.run('k', lead)).role, 'leader');
    assert.equal(calls, 2);
  });
});

async function collect<T>(iterator: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterator) out.push(item);
  return out;
}

describe('stream fanout', () => {
  it('every follower gets every chunk from the start, in order, then the end', async () => {
    const fanout = new StreamFanout<number>();
    const early = collect(fanout.subscribe()!);
    fanout.push(1);
    fanout.push(2);
    const late = collect(fanout.subscribe()!);
    await tick();
    fanout.push(3);
    fanout.end();
    const afterEnd = collect(fanout.subscribe()!);
    assert.deepEqual(await early, [1, 2, 3]);
    assert.deepEqual(await late, [1, 2, 3]);
    assert.deepEqual(await afterEnd, [1, 2, 3]);
    assert.equal(fanout.subscribers, 0);
  });

  it('a failure reaches every follower after the chunks before it', async () => {
    const fanout = new StreamFanout<string>();
    const reader = fanout.subscribe()!;
    fanout.push('a');
    fanout.fail(new Error('cut'));
    assert.deepEqual(await reader.next(), { value: 'a', done: false });
    await assert.rejects(reader.next(), /cut/);
  });

  it("the leader's upstream outlives its client while a follower reads, and stops when the last one leaves", async () => {
    const fanout = new StreamFanout<number>();
    const leader = new AttemptAbort();
    const upstream = fanout.upstreamSignal(leader);
    const first = new AbortController();
    const second = fanout.subscribe(first.signal)!;
    const third = fanout.subscribe()!;
    fanout.push(1);
    leader.abort(new Error('the leader’s client left'));
    assert.equal(upstream.aborted, false, 'followers still read: the upstream goes on');
    fanout.push(2);
    // A request arriving now still gets the whole stream from its start, and keeps the upstream going too.
    const late = fanout.subscribe()!;
    assert.deepEqual(await late.next(), { value: 1, done: false });
    first.abort(new Error('a follower left'));
    await third.return?.();
    assert.equal(upstream.aborted, false);
    await late.return?.();
    assert.equal(upstream.aborted, true, 'nobody reads any more: the upstream is cancelled');
    assert.match(String((upstream.reason as Error).message), /leader’s client left/);
    await assert.rejects(second.next(), /a follower left/);
    assert.equal(fanout.subscribe(), undefined, 'an abandoned stream cannot be joined');
  });

  it('with nobody following, or on a deadline, the upstream stops with the leader', async () => {
    const alone = new StreamFanout<number>();
    const leader = new AttemptAbort();
    const upstream = alone.upstreamSignal(leader);
    leader.abort(new Error('client left'));
    assert.equal(upstream.aborted, true);
    assert.equal(alone.subscribe(), undefined);

    const followed = new StreamFanout<number>();
    const timed = new AttemptAbort();
    const deadline = followed.upstreamSignal(timed);
    const reader = followed.subscribe()!;
    timed.abort(new NexusError('upstream_timeout', 'The request exceeded its time limit.'));
    assert.equal(deadline.aborted, true, 'a deadline is not a client leaving: it stops the upstream at once');
    followed.fail(deadline.reason);
    await assert.rejects(reader.next(), /time limit/);

    const over = new StreamFanout<number>();
    const finished = new AttemptAbort();
    const signal = over.upstreamSignal(finished);
    over.subscribe();
    over.end();
    finished.abort(new Error('client left after the end'));
    assert.equal(signal.aborted, false, 'an ended stream no longer watches its leader');
  });

  it("a leader's recorder whose client stops reading reads on for its followers, then completes", async () => {
    const fanout = new StreamFanout<number>();
    let sourceReturned = false;
    const source = {
      onEnd: () => {},
      async *[Symbol.asyncIterator]() {
        try {
          for (let index = 0; index < 5; index++) {
            await tick();
            yield index;
          }
        } finally {
          sourceReturned = true;
        }
      },
    };
    const seen: number[] = [];
    const recorder = new RecordingStream<number>(source, fanout, (batch) => seen.push(batch));
    let completed = false;
    recorder.onComplete(() => {
      completed = true;
    });
    const follower = collect(fanout.subscribe()!);
    const leaderGot: number[] = [];
    for await (const batch of recorder) {
      leaderGot.push(batch);
      if (batch === 1) break;
    }
    assert.deepEqual(leaderGot, [0, 1]);
    assert.deepEqual(await follower, [0, 1, 2, 3, 4]);
    assert.deepEqual(seen, [0, 1, 2, 3, 4], 'the cache saw the whole stream');
    assert.ok(completed, 'it ended normally, so it is stored');
    assert.ok(sourceReturned);
  });

  it('a recorder whose client stops reading with no follower cancels its source and never completes', async () => {
    const fanout = new StreamFanout<number>();
    let read = 0;
    const source = {
      onEnd: () => {},
      async *[Symbol.asyncIterator]() {
        for (;;) {
          await tick();
          yield read++;
        }
      },
    };
    const recorder = new RecordingStream<number>(source, fanout, () => {});
    let completed = false;
    recorder.onComplete(() => {
      completed = true;
    });
    for await (const batch of recorder) if (batch === 2) break;
    assert.equal(read, 3, 'nothing more was read');
    assert.equal(completed, false);
    await fanout.done;
    await assert.rejects(collect(fanout.subscribe()!), FanoutAbandonedError);
  });

  it('a slow follower never blocks the leader or others and is cut past its lag bound', async () => {
    const fanout = new StreamFanout<number>({ maxLagChunks: 10 });
    const slow = fanout.subscribe()!;
    const fast = fanout.subscribe()!;
    const fastChunks: number[] = [];
    const fastDone = (async () => {
      for await (const chunk of fast) fastChunks.push(chunk);
    })();
    fanout.push(0);
    assert.deepEqual(await slow.next(), { value: 0, done: false });
    // The leader pushes 100 chunks without ever waiting; the slow follower reads nothing meanwhile.
    for (let index = 1; index < 100; index++) {
      fanout.push(index);
      await tick();
    }
    fanout.end();
    await fastDone;
    assert.deepEqual(
      fastChunks,
      Array.from({ length: 100 }, (_, index) => index),
    );
    await assert.rejects(slow.next(), FanoutOverrunError);
    assert.equal(fanout.subscribers, 0);
  });

  it('a follower that leaves unsubscribes; its signal does the same', async () => {
    const fanout = new StreamFanout<number>();
    const leaving = fanout.subscribe()!;
    const controller = new AbortController();
    const aborted = fanout.subscribe(controller.signal)!;
    assert.equal(fanout.subscribers, 2);
    await leaving.return?.();
    assert.equal(fanout.subscribers, 1);
    const pending = aborted.next();
    controller.abort(new Error('client left'));
    await assert.rejects(pending, /client left/);
    assert.equal(fanout.subscribers, 0);
    fanout.push(1);
    fanout.end();
  });

  it('past maxReplayChunks nobody new can join, and read history is dropped', async () => {
    const fanout = new StreamFanout<number>({ maxReplayChunks: 4, maxLagChunks: 100 });
    const reader = fanout.subscribe()!;
    for (let index = 0; index < 5; index++) fanout.push(index);
    assert.equal(fanout.subscribe(), undefined);
    const read: number[] = [];
    for (let index = 0; index < 4; index++) read.push((await reader.next()).value as number);
    for (let index = 5; index < 10; index++) fanout.push(index);
    // Chunks 0-3, read by every follower, are no longer held.
    assert.ok(fanout.bufferedChunks <= 6, `holds ${fanout.bufferedChunks}`);
    fanout.end();
    assert.deepEqual([...read, ...(await collect(reader))], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
