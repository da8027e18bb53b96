import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type LedgerSink, UsageLedger } from '../../src/ledger/usage-ledger.ts';

/** A sink that stores what it is given and can be made to fail, like a database that goes away. */
function recordingSink() {
  const written: number[][] = [];
  let failing = false;
  const sink: LedgerSink<number> = {
    async write(records) {
      if (failing) throw new Error('database unreachable');
      written.push([...records]);
    },
  };
  return {
    sink,
    written,
    all: () => written.flat(),
    fail(value: boolean) {
      failing = value;
    },
  };
}

describe('usage ledger', () => {
  it('writes a full batch at once and the rest after the flush interval, in order', async () => {
    const target = recordingSink();
    const ledger = new UsageLedger(target.sink, { batchSize: 3, flushIntervalMs: 20 });
    ledger.append([1, 2, 3, 4]);
    await ledger.close(1000);
    assert.deepEqual(target.all(), [1, 2, 3, 4]);
    assert.ok(
      target.written.every((batch) => batch.length <= 3),
      'no batch is larger than batchSize',
    );
  });

  it('keeps every record while the sink fails and writes them once it is back', async () => {
    const target = recordingSink();
    const errors: number[] = [];
    const ledger = new UsageLedger(target.sink, {
      batchSize: 2,
      flushIntervalMs: 5,
      maxRetryDelayMs: 20,
      onError: (_error, buffered) => errors.push(buffered),
    });
    target.fail(true);
    ledger.append([1, 2, 3]);
    await ledger.flush();
    assert.equal(ledger.pending, 3, 'nothing is dropped on a failed write');
    assert.ok(errors.length > 0, 'the failure is reported');
    ledger.append([4]);
    target.fail(false);
    const left = await ledger.close(2000);
    assert.equal(left, 0);
    assert.deepEqual(target.all(), [1, 2, 3, 4]);
  });

  it('close reports what could not be written before its deadline', async () => {
    const target = recordingSink();
    const ledger = new UsageLedger(target.sink, { batchSize: 10, flushIntervalMs: 5, maxRetryDelayMs: 10 });
    target.fail(true);
    ledger.append([1, 2]);
    assert.equal(await ledger.close(50), 2);
  });
});
