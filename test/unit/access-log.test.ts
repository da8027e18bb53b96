import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { accessLogWriter, createLogger } from '../../src/observability/logger.ts';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(
        ...String(chunk)
          .split('\n')
          .filter((line) => line !== ''),
      );
      done();
    },
  });
  return { lines, destination };
}

describe('access log lines', () => {
  it("are pino's own lines: level, time, the logger's bindings, the fields and msg, one JSON object per line", () => {
    const { lines, destination } = capture();
    const log = createLogger('info', destination);
    const write = accessLogWriter(log, 'request');
    const before = Date.now();
    write({
      requestId: 'r-1',
      path: '/v1/chat/completions',
      status: 200,
      note: 'a "quoted"\nline \u2028',
      skipped: undefined,
    });
    log.info({ requestId: 'r-2', status: 200 }, 'request');
    assert.equal(lines.length, 2);
    const [ours, pinos] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(Object.keys(ours ?? {}), [
      'level',
      'time',
      'service',
      'requestId',
      'path',
      'status',
      'note',
      'msg',
    ]);
    assert.deepEqual(Object.keys(pinos ?? {}), ['level', 'time', 'service', 'requestId', 'status', 'msg']);
    assert.equal(ours?.level, pinos?.level);
    assert.equal(ours?.service, 'nexus');
    assert.equal(ours?.msg, 'request');
    assert.equal(ours?.note, 'a "quoted"\nline \u2028');
    assert.ok(typeof ours?.time === 'number' && ours.time >= before && ours.time <= Date.now());
  });

  it('follow the logger level: nothing below it is written', () => {
    const { lines, destination } = capture();
    const log = createLogger('warn', destination);
    accessLogWriter(log, 'request')({ requestId: 'r-1' });
    log.level = 'info';
    accessLogWriter(log, 'request')({ requestId: 'r-2' });
    assert.deepEqual(
      lines.map((line) => (JSON.parse(line) as { requestId: string }).requestId),
      ['r-2'],
    );
  });
});
