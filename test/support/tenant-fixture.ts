import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  type ApiReply,
  type CallOptions,
  call,
  type Envelope,
  json,
  type KeyWire,
  type OrgWire,
  type ProjectWire,
} from './admin-client.ts';
import { type FakeOpenAI, type FakeOpenAIOptions, startFakeOpenAI } from './fake-openai.ts';
import { startGateway, type TestGateway } from './gateway.ts';

/** An organization, its project and a key of that project, made through the admin API. */
export interface Tenant {
  org: OrgWire;
  project: ProjectWire;
  key: KeyWire;
  secret: string;
}

/** Seed 004's project as `POST /api/v1/projects` answers it. */
export interface SeedProject {
  id: string;
  orgId: string;
  hasProviderKeys: boolean;
  apiKey: string;
}

/** Seed 004's key as `/api/v1/projects/api-keys` shows it. */
export interface SeedKey {
  id: string;
  apiKey?: string;
  dailyBudget: number | null;
  models: string[] | null;
}

/** USD to integer nano-USD, the unit the ledger counts in, so sums compare exactly. */
export const nanos = (usd: number): number => Math.round(usd * 1e9);

const messages = [{ role: 'user' as const, content: 'what does this cost?' }];

/**
 * A gateway on the embedded store with the fake OpenAI as its upstream, a master key and an encryption key,
 * and the calls the tenancy tests make. Every key secret it hands out is kept, so a suite can check at the end
 * that none ever shows up again (`leaks`).
 */
export class TenantFixture {
  readonly masterKey = 'nexus-master-tenant-fixture';
  readonly upstreamKey = 'sk-upstream-tenant-fixture';
  readonly encryptionKey = randomBytes(32).toString('base64');
  readonly secrets: string[] = [];
  readonly #env: Record<string, string>;
  readonly #fakeOptions: FakeOpenAIOptions;
  #gateway: TestGateway | undefined;
  #fake: FakeOpenAI | undefined;

  /**
   * `env`: settings of the gateway beyond the fixture's own (e.g. `CACHE_ENABLED`); `fake`: how the fake
   * OpenAI behaves (e.g. `chunkDelayMs`).
   */
  constructor(env: Record<string, string> = {}, fake: FakeOpenAIOptions = {}) {
    this.#env = env;
    this.#fakeOptions = fake;
  }

  get gateway(): TestGateway {
    return this.#gateway!;
  }

  /** The fake OpenAI upstream. */
  get fake(): FakeOpenAI {
    return this.#fake!;
  }

  /** `env`: more settings for this start (another provider's fake, say). */
  async start(env: Record<string, string> = {}): Promise<void> {
    this.#fake = await startFakeOpenAI(this.#fakeOptions);
    this.#gateway = await startGateway({
      NEXUS_MASTER_KEY: this.masterKey,
      HOST: '127.0.0.1',
      OPENAI_API_KEY: this.upstreamKey,
      OPENAI_BASE_URL: this.#fake.url,
      NEXUS_ENCRYPTION_KEY: this.encryptionKey,
      ...this.#env,
      ...env,
    });
  }

  async close(): Promise<void> {
    await this.#gateway?.close();
    await this.#fake?.close();
  }

  /** A call with this bearer key (none when undefined). */
  as(key: string | undefined, method: string, path: string, body?: unknown): Promise<ApiReply> {
    const options: CallOptions = { key };
    if (body !== undefined) options.body = body;
    return call(this.gateway, method, path, options);
  }

  /** Records a secret that was just handed out, after checking it looks like one. */
  keep(secret: string | undefined): string {
    assert.match(secret ?? '', /^nk-/);
    this.secrets.push(secret!);
    return secret!;
  }

  async tenant(name: string, keyBody: Record<string, unknown> = {}): Promise<Tenant> {
    const org = json<OrgWire>(await this.as(this.masterKey, 'POST', '/v1/admin/orgs', { name }));
    const project = json<ProjectWire>(
      await this.as(this.masterKey, 'POST', '/v1/admin/projects', {
        name: `${name} project`,
        org_id: org.id,
      }),
    );
    const reply = await this.as(this.masterKey, 'POST', '/v1/admin/api-keys', {
      project_id: project.id,
      ...keyBody,
    });
    assert.equal(reply.status, 201, reply.text);
    const key = json<KeyWire>(reply);
    return { org, project, key, secret: this.keep(key.key) };
  }

  async seedProject(name: string, extra: Record<string, unknown> = {}): Promise<SeedProject> {
    const reply = await this.as(this.masterKey, 'POST', '/api/v1/projects', { name, ...extra });
    assert.equal(reply.status, 201, reply.text);
    const project = json<Envelope<SeedProject>>(reply).data;
    this.keep(project.apiKey);
    return project;
  }

  /** One small chat completion: its status and the cost Nexus reported for it. */
  async chat(secret: string): Promise<{ status: number; costUsd: number }> {
    const reply = await this.as(secret, 'POST', '/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages,
      max_tokens: 16,
    });
    return { status: reply.status, costUsd: Number(reply.headers.get('x-nexus-cost-usd')) };
  }

  /** Writes the buffered usage records, so reads see every request so far. */
  flush(): Promise<void> {
    return this.gateway.app.gateway.services.current!.ledger.flush();
  }

  /** The request log's records of one tenant's key (up to 100, newest first), after a flush. */
  async ledgerOf(tenant: Tenant): Promise<Array<Record<string, unknown>>> {
    await this.flush();
    const logs = await this.as(this.masterKey, 'GET', `/v1/admin/logs?key_id=${tenant.key.id}&limit=100`);
    assert.equal(logs.status, 200, logs.text);
    return (JSON.parse(logs.text) as { data: Array<Record<string, unknown>> }).data;
  }

  /** The gateway's access-log line of one request, once it has been written (the log stage is last). */
  async accessLine(requestId: string): Promise<Record<string, unknown>> {
    for (let waited = 0; waited < 5_000; waited += 20) {
      for (const line of this.gateway.logs) {
        if (!line.includes(requestId)) continue;
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (parsed.requestId === requestId && parsed.status !== undefined) return parsed;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`no access-log line for ${requestId}`);
  }

  /** Listings, the request log and the gateway's log lines, none of which may contain a key or a hash. */
  async assertNoLeaks(): Promise<void> {
    const texts = [
      (await this.as(this.masterKey, 'GET', '/v1/admin/api-keys')).text,
      (await this.as(this.masterKey, 'GET', '/v1/admin/logs?limit=1000')).text,
      (await this.as(this.masterKey, 'GET', '/v1/admin/metrics')).text,
      (await this.as(this.masterKey, 'GET', '/v1/admin/projects')).text,
      this.gateway.logs.join('\n'),
    ];
    assert.ok(
      this.gateway.logs.some((line) => line.includes('admin change')),
      'changes are in the audit log',
    );
    for (const text of texts) {
      for (const secret of [...this.secrets, this.upstreamKey, this.encryptionKey]) {
        assert.ok(!text.includes(secret), 'a secret leaked');
      }
      assert.ok(!text.includes('key_hash'));
    }
  }
}
