/**
 * The semantic cache through the gateway (the local model, on its own thread): a paraphrase is answered from
 * the earlier question's stored answer (`HIT-SEMANTIC` with its similarity), never across tenants, never for a
 * near miss (another number, a negation), never for another system prompt or a conversation of several turns.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { startFakeOpenAI } from '../support/fake-openai.ts';
import { type Tenant, TenantFixture } from '../support/tenant-fixture.ts';

// The first lookup loads the model (about a second on this machine, more under load).
const limits = { timeout: 60_000 };

describe('the semantic cache, on one long-lived gateway', () => {
  const fixture = new TenantFixture({ CACHE_ENABLED: 'true', SEMANTIC_CACHE_ENABLED: 'true' });
  let alice: Tenant;
  let bob: Tenant;
  let clientA: OpenAI;
  let clientB: OpenAI;
  const chatCalls = () => fixture.fake.callsTo('/chat/completions').length;
  const semanticSize = () => fixture.gateway.app.gateway.services.current?.cache.semantic?.size ?? 0;
  /** Waits until the matcher holds `count` prompts: a prompt is embedded just after its answer went out. */
  async function remembered(count: number): Promise<void> {
    for (let i = 0; i < 300 && semanticSize() < count; i++) await new Promise((done) => setTimeout(done, 50));
    assert.ok(semanticSize() >= count, `the matcher holds ${semanticSize()} prompts, not ${count}`);
  }

  const ask = (client: OpenAI, content: string, system?: string) =>
    client.chat.completions
      .create({
        model: 'gpt-4o-mini',
        messages: [
          ...(system === undefined ? [] : [{ role: 'system' as const, content: system }]),
          { role: 'user' as const, content },
        ],
      })
      .withResponse();

  before(async () => {
    await fixture.start();
    alice = await fixture.tenant('alice');
    bob = await fixture.tenant('bob');
    clientA = new OpenAI({ apiKey: alice.secret, baseURL: fixture.gateway.baseURL, maxRetries: 0 });
    clientB = new OpenAI({ apiKey: bob.secret, baseURL: fixture.gateway.baseURL, maxRetries: 0 });
  });
  after(() => fixture.close());

  test('a paraphrase gets the stored answer, marked HIT-SEMANTIC with its similarity', limits, async () => {
    fixture.fake.setReply({ text: 'Boil water, steep the leaves for three minutes.' });
    const first = await ask(clientA, 'How do I make tea?');
    fixture.fake.setReply(null);
    assert.equal(first.response.headers.get('x-nexus-cache'), 'MISS');
    await remembered(1);
    const calls = chatCalls();
    const paraphrase = await ask(clientA, 'How can I make tea?');
    assert.equal(paraphrase.response.headers.get('x-nexus-cache'), 'HIT-SEMANTIC');
    const similarity = Number(paraphrase.response.headers.get('x-nexus-cache-similarity'));
    assert.ok(similarity > 0.8 && similarity <= 1, `similarity ${similarity}`);
    assert.equal(
      paraphrase.data.choices[0]?.message.content,
      'Boil water, steep the leaves for three minutes.',
    );
    assert.equal(paraphrase.response.headers.get('x-nexus-cost-usd'), '0');
    assert.equal(chatCalls(), calls, 'the hit made no upstream call');
  });

  test("another tenant's paraphrase is a miss", limits, async () => {
    const calls = chatCalls();
    const forBob = await ask(clientB, 'How can I make tea?');
    assert.equal(forBob.response.headers.get('x-nexus-cache'), 'MISS');
    assert.equal(chatCalls(), calls + 1);
  });

  test('near misses are misses: a negation, another system prompt, a conversation', limits, async () => {
    const negated = await ask(clientA, 'How do I make tea without milk?');
    assert.equal(negated.response.headers.get('x-nexus-cache'), 'MISS');
    const otherSystem = await ask(clientA, 'How can I make tea?', 'Answer in French.');
    assert.equal(otherSystem.response.headers.get('x-nexus-cache'), 'MISS');
    const conversation = await clientA.chat.completions
      .create({
        model: 'gpt-4o-mini',
        messages: [
          { role: 'user', content: 'Hello' },
          { role: 'assistant', content: 'Hi!' },
          { role: 'user', content: 'How can I make tea?' },
        ],
      })
      .withResponse();
    assert.equal(conversation.response.headers.get('x-nexus-cache'), 'MISS');
  });

  test('another number is a miss', limits, async () => {
    const before = semanticSize();
    await ask(clientA, 'How do I boil 2 eggs?');
    await remembered(before + 1);
    const three = await ask(clientA, 'How do I boil 3 eggs?');
    assert.equal(three.response.headers.get('x-nexus-cache'), 'MISS');
  });
});

describe("the semantic cache with a provider's embeddings (cache.semantic.embedder)", () => {
  test(
    'prompts are embedded through the gateway (billed to it in the ledger) and a paraphrase hits',
    limits,
    async () => {
      // The fake's notion of meaning: texts with the same words after dropping a few helper words are one vector.
      const meaning = (text: string) =>
        text
          .toLowerCase()
          .replace(/[^a-z ]/g, '')
          .split(' ')
          .filter((word) => word !== '' && !['do', 'can', 'i'].includes(word))
          .join(' ');
      const fake = await startFakeOpenAI({
        embeddingOf: (text, dimensions) => {
          const vector = new Array<number>(dimensions).fill(0);
          const words = meaning(text);
          for (let index = 0; index < words.length; index++) {
            vector[index % dimensions]! += words.charCodeAt(index);
          }
          return vector;
        },
      });
      const fixture = new TenantFixture({
        CACHE_ENABLED: 'true',
        SEMANTIC_CACHE_ENABLED: 'true',
        SEMANTIC_CACHE_EMBEDDER: 'openai/text-embedding-3-small',
        SEMANTIC_CACHE_DIMENSIONS: '32',
      });
      await fixture.start({ OPENAI_BASE_URL: fake.url });
      try {
        const client = new OpenAI({
          apiKey: fixture.masterKey,
          baseURL: fixture.gateway.baseURL,
          maxRetries: 0,
        });
        const ask = (content: string) =>
          client.chat.completions
            .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] })
            .withResponse();
        const first = await ask('How do I make tea?');
        assert.equal(first.response.headers.get('x-nexus-cache'), 'MISS');
        const remembered = () => fixture.gateway.app.gateway.services.current?.cache.semantic?.size ?? 0;
        for (let i = 0; i < 100 && remembered() < 1; i++) await new Promise((done) => setTimeout(done, 20));
        const second = await ask('How can I make tea?');
        assert.equal(second.response.headers.get('x-nexus-cache'), 'HIT-SEMANTIC');
        assert.equal(second.data.choices[0]?.message.content, first.data.choices[0]?.message.content);
        const embeddingCalls = fake.callsTo('/embeddings');
        assert.ok(embeddingCalls.length >= 2, 'both prompts were embedded by the provider');
        assert.equal((embeddingCalls[0]?.body as { dimensions?: number } | undefined)?.dimensions, 32);
        await fixture.flush();
        const logs = await fixture.as(fixture.masterKey, 'GET', '/v1/admin/logs?limit=1000');
        const records = (JSON.parse(logs.text) as { data: Array<{ route: string; cost_usd: number }> }).data;
        const embedding = records.filter((record) => record.route === 'semantic-cache');
        assert.ok(embedding.length >= 2, 'each embedding call has its usage record');
        assert.ok(embedding.every((record) => record.cost_usd > 0));
      } finally {
        await fixture.close();
        await fake.close();
      }
    },
  );
});
