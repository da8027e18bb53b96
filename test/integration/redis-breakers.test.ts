import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFakeOpenAI } from '../support/fake-openai.ts';
import { postJson, startGateway } from '../support/gateway.ts';
import { redisUrl, requireService } from '../support/services.ts';

interface Health {
  providers: Array<{ name: string; circuitState: string }>;
}

async function circuitOf(origin: string): Promise<string | undefined> {
  const response = await fetch(`${origin}/health`);
  const body = (await response.json()) as Health;
  return body.providers.find((provider) => provider.name === 'OpenAI (Key #1)')?.circuitState;
}

it('two replicas sharing Redis see the same circuit-breaker state', async (context) => {
  if (!(await requireService(context, 'Redis', redisUrl, 'redis-server --daemonize yes --port 6379'))) return;
  const upstream = await startFakeOpenAI();
  const fallback = await startFakeOpenAI();
  // A fresh key prefix per run: no state from an earlier run or another suite can leak in.
  const env = {
    OPENAI_API_KEY: 'sk-upstream',
    OPENAI_BASE_URL: upstream.url,
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: `nexus-test-${randomUUID()}:`,
    GROQ_API_KEY: 'gsk-fallback',
    GROQ_BASE_URL: fallback.url,
    CIRCUIT_BREAKER_RESET_MS: '60000',
  };
  const replicaA = await startGateway(env);
  const replicaB = await startGateway(env);
  try {
    assert.equal(await circuitOf(replicaB.origin), 'CLOSED');
    upstream.setPersistentFault({ kind: 'status', status: 500 });
    // Each request makes two attempts (one retry on the same instance); three counted failures open the circuit.
    for (let i = 0; i < 2; i++) {
      const reply = await postJson(`${replicaA.baseURL}/chat/completions`, {
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'hi' }],
      });
      assert.ok(reply.status >= 500, `replica A answered ${reply.status}`);
    }
    assert.equal(await circuitOf(replicaA.origin), 'OPEN');
    // Replica B never sent a request, yet learns of the open circuit through Redis.
    let seen: string | undefined;
    for (let i = 0; i < 100 && seen !== 'OPEN'; i++) {
      seen = await circuitOf(replicaB.origin);
      if (seen !== 'OPEN') await sleep(20);
    }
    assert.equal(seen, 'OPEN');
    // A request that has a fallback goes straight to it on replica B: the failing upstream is not called.
    const callsBefore = upstream.calls.length;
    const routedAround = await postJson(`${replicaB.baseURL}/chat/completions`, {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      fallbacks: ['groq/llama-3.1-8b-instant'],
    });
    assert.equal(routedAround.status, 200, 'replica B serves from the fallback');
    assert.equal(upstream.calls.length, callsBefore, 'replica B did not call the open deployment');
    assert.equal(fallback.callsTo('/chat/completions').length, 1);

    // With no other route left, replica B sends the request as the one probe (never a blanket 503 for the
    // reset period): exactly one call, not retried in place, and the circuit stays open after it fails.
    const probed = await postJson(`${replicaB.baseURL}/chat/completions`, {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.ok(probed.status >= 500, `the failed probe answers ${probed.status}`);
    assert.equal(upstream.calls.length, callsBefore + 1, 'one probe call');
    assert.equal(await circuitOf(replicaB.origin), 'OPEN');

    // A replica that starts later loads the shared state at boot.
    const replicaC = await startGateway(env);
    try {
      assert.equal(await circuitOf(replicaC.origin), 'OPEN');
    } finally {
      await replicaC.close();
    }
  } finally {
    await Promise.all([replicaA.close(), replicaB.close()]);
    await Promise.all([upstream.close(), fallback.close()]);
  }
});
