import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { timeOrderedId } from '../../src/ledger/time-ordered-id.ts';
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

describe('ledger record ids', () => {
  it('are RFC 9562 version 7 UUIDs whose first 48 bits are the time, so they sort by time', () => {
    const at = Date.UTC(2026, 11, 7, 3, 0, 0, 123);
    const id = timeOrderedId(at);
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16), at);
    const later = [at + 1, at + 1000, at + 86_400_000].map((time) => timeOrderedId(time));
    assert.deepEqual([...later].sort(), later, 'later ids sort after earlier ones');
    assert.ok(later.every((next) => next > id));
    const same = new Set(Array.from({ length: 1000 }, () => timeOrderedId(at)));
    assert.equal(same.size, 1000, 'ids of one millisecond still differ');
  });
});
