// Budgets that hold across a restart: the embedded store on disk, one gateway stopped and started again on it.
// The limit counters live in memory (or on Redis); what a tenant already spent is in the usage ledger, and a
// gateway that starts counts from it, so a deploy never hands a tenant its daily, monthly or lifetime budget
// a second time.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, haveRedisServer, PrivateRedis } from '../support/redis-server.ts';
import { TenantFixture } from '../support/tenant-fixture.ts';

describe('limits and budgets across a restart of the gateway (embedded store on disk)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nexus-limits-restart-'));
  const fixture = new TenantFixture({ NEXUS_DATA_DIR: dataDir });

  before(() => fixture.start());
  after(async () => {
    await fixture.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Sends requests with `secret` until one is refused; how many were answered, and the refusal's body. */
  async function spendAll(secret: string): Promise<{ answered: number; refusal: string }> {
    for (let answered = 0; answered < 50; answered++) {
      const reply = await fixture.as(secret, 'POST', '/v1/chat/completions', {
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'what does this cost?' }],
        max_tokens: 16,
      });
      if (reply.status !== 200) {
        assert.equal(reply.status, 429, reply.text);
        return { answered, refusal: reply.text };
      }
    }
    throw new Error('the limit never refused a request');
  }

  async function restart(): Promise<void> {
    await fixture.close();
    await fixture.start();
  }

  it('a key that spent its daily USD budget is still refused after a restart; a key that did not is served', async () => {
    const probe = await fixture.tenant('probe');
    const first = await fixture.chat(probe.secret);
    assert.equal(first.status, 200);
    assert.ok(first.costUsd > 0, 'the fake upstream reports usage the catalogue prices');

    const spender = await fixture.tenant('spender', { budget: { daily_usd: first.costUsd * 20 } });
    const before = await spendAll(spender.secret);
    assert.ok(before.answered >= 1, 'the budget admits at least one request');
    assert.match(before.refusal, /insufficient_quota/);

    await restart();
    const again = await fixture.chat(spender.secret);
    assert.equal(again.status, 429, 'the restarted gateway counted what the key had spent today');
    assert.equal((await fixture.chat(probe.secret)).status, 200, 'a key with no budget is untouched');
  });

  it("a project's monthly budget and a key's lifetime token budget hold across a restart too", async () => {
    const probe = await fixture.tenant('probe 2');
    const { costUsd } = await fixture.chat(probe.secret);
    // The project's budget is what runs out: the key's own has room for far more.
    const monthly = await fixture.tenant('monthly spender', { budget: { monthly_usd: 1 } });
    const project = await fixture.as(fixture.masterKey, 'PATCH', `/v1/admin/projects/${monthly.project.id}`, {
      budget: { monthly_usd: costUsd * 20 },
    });
    assert.equal(project.status, 200, project.text);
    await fixture.gateway.app.gateway.services.current!.keys.refresh();
    const spentMonthly = await spendAll(monthly.secret);
    assert.ok(spentMonthly.answered >= 1);

    const tokens = await fixture.tenant('token spender', { limits: { token_budget: 200 } });
    const spentTokens = await spendAll(tokens.secret);
    assert.ok(spentTokens.answered >= 1);

    await restart();
    assert.equal((await fixture.chat(monthly.secret)).status, 429, "the project's month is still spent");
    assert.equal((await fixture.chat(tokens.secret)).status, 429, "the key's lifetime tokens are still used");
    // A new key of the spent project is refused by the project's budget; one of another project is not.
    const sibling = await fixture.as(fixture.masterKey, 'POST', '/v1/admin/api-keys', {
      project_id: monthly.project.id,
    });
    assert.equal(sibling.status, 201, sibling.text);
    const siblingSecret = fixture.keep((JSON.parse(sibling.text) as { key: string }).key);
    await fixture.gateway.app.gateway.services.current!.keys.refresh();
    assert.equal((await fixture.chat(siblingSecret)).status, 429);
    assert.equal((await fixture.chat(probe.secret)).status, 200);
  });
});

describe('a budget set on a scope that already spent', () => {
  const fixture = new TenantFixture();
  before(() => fixture.start());
  after(() => fixture.close());

  it("counts the month's spend so far at once, without a restart", async () => {
    const tenant = await fixture.tenant('late budget');
    let spentUsd = 0;
    for (let i = 0; i < 3; i++) {
      const { status, costUsd } = await fixture.chat(tenant.secret);
      assert.equal(status, 200);
      spentUsd += costUsd;
    }
    await fixture.flush();
    // The project's new monthly budget leaves less than one request's cost: the month's spend counts in it.
    const patched = await fixture.as(fixture.masterKey, 'PATCH', `/v1/admin/projects/${tenant.project.id}`, {
      budget: { monthly_usd: spentUsd * 1.2 },
    });
    assert.equal(patched.status, 200, patched.text);
    await fixture.gateway.app.gateway.services.current!.keys.refresh();
    const seeded = () => fixture.gateway.logs.some((line) => line.includes('"trigger":"limits changed"'));
    for (let i = 0; i < 100 && !seeded(); i++) await sleep(20);
    assert.ok(seeded(), 'the changed scope was seeded from the ledger');
    assert.equal((await fixture.chat(tenant.secret)).status, 429);
  });
});

describe('budgets on a Redis that restarts empty under a running gateway', () => {
  it('puts the spent budget back from the ledger once the gateway reconnects', {
    timeout: 60_000,
  }, async (t) => {
    if (!haveRedisServer()) {
      const message = 'redis-server is not on PATH: this test starts and kills a private one';
      if (process.env.CI !== undefined && process.env.CI !== '') throw new Error(message);
      t.skip(message);
      return;
    }
    const server = new PrivateRedis(await freePort());
    await server.start();
    const fixture = new TenantFixture({ REDIS_URL: server.url });
    try {
      await fixture.start();
      const probe = await fixture.tenant('probe');
      const { costUsd } = await fixture.chat(probe.secret);
      const spender = await fixture.tenant('spender', { budget: { daily_usd: costUsd * 20 } });
      const spent = await spendAllWith(fixture, spender.secret);
      assert.ok(spent >= 1);
      await fixture.flush();

      // Redis crashes and comes back with nothing (no persistence, as docker-compose.yml runs it).
      await server.kill();
      await server.start();
      const reseeded = () =>
        fixture.gateway.logs.some((line) => line.includes('"trigger":"redis reconnected"'));
      for (let i = 0; i < 200 && !reseeded(); i++) await sleep(50);
      assert.ok(reseeded(), 'the gateway seeded the limit counters again once Redis was back');
      const after = await fixture.chat(spender.secret);
      assert.equal(after.status, 429, 'the day is still spent');
      // A budget with room is served again (on Redis: budgets fail closed while it is away).
      const roomy = await fixture.tenant('roomy', { budget: { daily_usd: 100 } });
      assert.equal((await fixture.chat(roomy.secret)).status, 200);
    } finally {
      await fixture.close();
      await server.kill();
    }
  });
});

async function spendAllWith(fixture: TenantFixture, secret: string): Promise<number> {
  for (let answered = 0; answered < 50; answered++) {
    const { status } = await fixture.chat(secret);
    if (status !== 200) {
      assert.equal(status, 429);
      return answered;
    }
  }
  throw new Error('the budget never refused a request');
}
