/**
 * `WORKERS=2`: `npm start` runs a primary and two gateway workers on one port (node:cluster). Requests on new
 * connections are spread over both; `/metrics`, whichever worker answers it, shows both workers' counts added
 * up; a SIGTERM to the primary drains both workers and the whole group exits 0.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { logLines, type NexusProcess, startNexus } from '../support/nexus-process.ts';

const masterKey = 'nexus-master-workers-test';
const limits = { timeout: 120_000 };

/** One request on a connection of its own (no keep-alive), so the cluster may hand it to either worker. */
function once(
  origin: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      `${origin}${path}`,
      {
        method,
        agent: false,
        headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' },
      },
      (incoming) => {
        let text = '';
        incoming.setEncoding('utf8');
        incoming.on('data', (chunk: string) => {
          text += chunk;
        });
        incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, text }));
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** A counter's or gauge's value summed over the samples whose labels include `match`. */
function metricValue(text: string, name: string, match: Record<string, string> = {}): number {
  const family = parsePrometheusTextFormat(text).find((candidate) => candidate.name === name);
  assert.ok(family, `${name} is exposed`);
  return family.metrics
    .filter((sample) => Object.entries(match).every(([label, value]) => sample.labels?.[label] === value))
    .reduce((sum, sample) => sum + Number(sample.value), 0);
}

describe('WORKERS=2: one port, two workers, one set of metrics', () => {
  let fake: FakeOpenAI;
  let nexus: NexusProcess;
  let dataDir: string;

  before(async () => {
    fake = await startFakeOpenAI();
    dataDir = mkdtempSync(join(tmpdir(), 'nexus-workers-'));
    nexus = await startNexus({
      WORKERS: '2',
      HOST: '127.0.0.1',
      NEXUS_MASTER_KEY: masterKey,
      NEXUS_DATA_DIR: dataDir,
      OPENAI_API_KEY: 'sk-upstream-workers',
      OPENAI_BASE_URL: fake.url,
    });
    // Both workers are up once both said where they listen.
    for (let waited = 0; logLines(nexus, 'Nexus listening').length < 2 && waited < 60_000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
  after(async () => {
    nexus.kill();
    await fake.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('both workers listen on the one port', limits, () => {
    const urls = logLines(nexus, 'Nexus listening').map((line) => line.url);
    assert.equal(urls.length, 2);
    assert.equal(urls[0], urls[1]);
  });

  test('every scrape shows both workers and every request, whichever worker answers', limits, async () => {
    const sent = 40;
    for (let index = 0; index < sent; index++) {
      const reply = await once(nexus.origin, 'POST', '/v1/chat/completions', {
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: `request ${index}` }],
      });
      assert.equal(reply.status, 200, reply.text);
    }
    for (let scrape = 0; scrape < 4; scrape++) {
      const reply = await once(nexus.origin, 'GET', '/metrics');
      assert.equal(reply.status, 200, reply.text);
      assert.equal(metricValue(reply.text, 'nexus_workers'), 2, 'both workers reported');
      assert.equal(
        metricValue(reply.text, 'http_requests_total', {
          route: '/v1/chat/completions',
          status_class: '2xx',
        }),
        sent,
      );
      assert.equal(metricValue(reply.text, 'llm_upstream_attempts_total', { verdict: 'ok' }), sent);
    }
    assert.equal(fake.callsTo('/chat/completions').length, sent);
  });

  test('SIGTERM to the primary drains both workers and the group exits 0', limits, async () => {
    assert.equal(await nexus.stop('SIGTERM'), 0);
    assert.equal(logLines(nexus, 'shutting down').length, 2, 'each worker drained');
  });
});
